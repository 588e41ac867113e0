package io.tether.daemon.session;

import io.tether.daemon.files.HostFiles;
import io.tether.daemon.mirror.MirrorCache;
import io.tether.daemon.process.ChildProcess;
import io.tether.daemon.process.ProgramPath;
import io.tether.daemon.process.Pty;
import io.tether.daemon.process.SpawnSpec;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.posix.LibC;
import io.tether.posix.Signals;
import io.tether.posix.WaitStatus;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.mux.StreamResetException;
import io.tether.protocol.proto.ExitStatus;
import io.tether.protocol.proto.Failure;
import io.tether.protocol.proto.FdSpec;
import io.tether.protocol.proto.GuestSpec;
import io.tether.protocol.proto.ResetCode;
import io.tether.protocol.proto.RunRequest;
import io.tether.protocol.proto.SessionMessage;
import io.tether.protocol.proto.Started;
import io.tether.protocol.transport.ReusedThreads;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * One remote process session (a run stream): sets up fds and pty, spawns, pumps bytes,
 * relays signals and window sizes, and reports the exit once the process is gone AND every
 * FROM_PROCESS stream reached end of file. If the run stream is reset or the connection
 * drops first, the whole session is killed: SIGHUP, then SIGKILL after the grace period.
 *
 * <p>A guest session whose files live on the client's host ("No NFS") flushes its writes to the host
 * before the exit status goes out; if that fails, the client gets a {@link Failure} naming the lost
 * write-back instead of the exit status (its exit code would claim a success the host does not hold).
 */
final class Session {
    private static final Logger log = LoggerFactory.getLogger(Session.class);
    /** The end of a guest session may wait on the network (write-back): never on a tracer or reaper thread. */
    private static final Executor GUEST_FINISHER = ReusedThreads.named("session-finish");

    /** Why a request could not start: becomes a Failure message. */
    private static final class Refused extends Exception {
        final int errno;
        final boolean exec;

        Refused(int errno, String message, boolean exec) {
            super(message);
            this.errno = errno;
            this.exec = exec;
        }
    }

    private final Connection conn;
    private final MuxStream run;
    private final RunRequest req;
    private final DaemonOptions options;

    private final Map<Integer, Integer> childFds = new TreeMap<>(); // child fd -> daemon fd (child's end)
    private final Set<Integer> ownFds = new HashSet<>();             // daemon ends, closed when their pumps end
    private final List<MuxStream> streams = new ArrayList<>();
    private final List<MuxStream> inbound = new ArrayList<>();       // TO_PROCESS only: reset when the session ends
    private final List<MuxStream> sockets = new ArrayList<>();       // BOTH: their output must drain, so never reset at exit
    private final List<InboundPipe> pipes = new ArrayList<>();        // TO_PROCESS pipes: unread bytes return at exit
    private final List<Runnable> pumpStarters = new ArrayList<>();
    private final List<CompletableFuture<Void>> outPumps = new ArrayList<>();
    private Pty pty;
    private GuestRun guest;                                          // set for a RunRequest with a guest
    private ChildProcess child;
    private boolean terminated;
    private boolean finished;
    private boolean ending; // the client forwarded SIGTERM: what outlives the root is killed

    Session(Connection conn, MuxStream run, RunRequest req) {
        this.conn = conn;
        this.run = run;
        this.req = req;
        this.options = conn.core.options();
    }

    void run() {
        try {
            start();
        } catch (Refused r) {
            log.info("session on stream {} refused: {}", run.id(), r.getMessage());
            sendQuietly(SessionMessage.newBuilder().setFailure(Failure.newBuilder()
                    .setErrno(r.errno).setMessage(r.getMessage()).setExec(r.exec)).build(), true);
            abandonSetup();
            conn.finished(this);
            return;
        } catch (Exception e) {
            log.warn("session on stream {} failed to start", run.id(), e);
            sendQuietly(SessionMessage.newBuilder().setFailure(Failure.newBuilder()
                    .setErrno(Errno.EIO).setMessage("tetherd: " + e)).build(), true);
            abandonSetup();
            conn.finished(this);
            return;
        }
        controlLoop();
    }

    // ---- start-up ----

    private void start() throws Refused, IOException {
        if (req.getArgvCount() == 0) throw new Refused(Errno.EINVAL, "empty command", false);
        if (req.hasGuest()) {
            // Before anything is set up: a missing or unreadable rootfs fails the request here.
            try {
                GuestSpec spec = req.getGuest();
                guest = spec.getFilesStream() != 0 ? prepareRemoteGuest(spec) : GuestRun.prepare(spec, options.runDir());
            } catch (ErrnoException e) {
                throw new Refused(e.errno(), e.getMessage(), false);
            }
        }
        String cwd = guest == null ? chooseCwd() : chooseGuestCwd();
        for (FdSpec fd : req.getFdsList()) plumb(fd);
        List<String> env = new ArrayList<>(req.getEnvList());
        if (req.hasPty()) setUpPty(env);
        if (guest != null && !cwd.equals(req.getCwd())) {
            env.removeIf(e -> e.startsWith("PWD="));
            env.add("PWD=" + cwd);
        }

        started(guest == null ? spawn(env, cwd) : spawnInGuest(env, cwd));
    }

    /** "No NFS": the guest tree is the client's exports, served through the files stream the request names. */
    private GuestRun prepareRemoteGuest(GuestSpec spec) throws Refused, IOException {
        Connection.Opened files = conn.claimFiles(spec.getFilesStream(), options.fdStreamWait());
        if (files == null) throw new Refused(Errno.EINVAL, "files stream " + spec.getFilesStream() + " was never opened", false);
        MuxStream data = null;
        if (spec.getFilesDataStream() != 0) {
            data = conn.claimFilesData(spec.getFilesDataStream(), options.fdStreamWait());
            if (data == null) {
                files.stream().reset(ResetCode.RESET_CANCEL, "the process did not start");
                throw new Refused(Errno.EINVAL, "files data stream " + spec.getFilesDataStream() + " was never opened", false);
            }
        }
        HostFiles host;
        MirrorCache cache;
        try {
            cache = conn.core.mirrorCache();
            host = conn.core.hostFiles().connect(files.stream(), files.open().getFiles(), data);
        } catch (ErrnoException | RuntimeException e) {
            files.stream().reset(ResetCode.RESET_CANCEL, "the process did not start");
            if (data != null) data.reset(ResetCode.RESET_CANCEL, "the process did not start");
            throw e;
        }
        return GuestRun.prepareRemote(spec, cache, host, files.stream(), options.runDir()); // owns host from here on
    }

    private ChildProcess spawn(List<String> env, String cwd) throws Refused, IOException {
        String argv0 = executable();
        String program;
        try {
            program = ProgramPath.resolve(argv0, env, cwd);
        } catch (ErrnoException e) {
            throw new Refused(e.errno(), argv0 + ": " + Errno.describe(e.errno()), true);
        }
        SpawnSpec spec = new SpawnSpec(program, req.getArgvList(), env, cwd, req.getUmask() & 0777, childFds, pty);
        try {
            return conn.core.spawner().spawn(spec);
        } catch (ErrnoException e) {
            boolean exec = "posix_spawn".equals(e.op());
            throw new Refused(e.errno(), argv0 + ": " + Errno.describe(e.errno()), exec);
        } finally {
            childFds.values().forEach(LibC::closeQuietly);
            childFds.clear();
        }
    }

    /** Starts the command under the tracer, {@code cwd} a guest path; the program is looked up in the guest. */
    private ChildProcess spawnInGuest(List<String> env, String cwd) throws Refused, IOException {
        String argv0 = executable();
        try {
            return guest.start(argv0, req.getArgvList(), env, cwd, childFds, pty, req.getUmask() & 0777, options.runDir());
        } catch (ErrnoException e) {
            if ("chdir".equals(e.op())) throw new Refused(e.errno(), "guest working directory " + cwd + ": " + Errno.describe(e.errno()), false);
            throw new Refused(e.errno(), argv0 + ": " + Errno.describe(e.errno()), true);
        } finally {
            childFds.values().forEach(LibC::closeQuietly);
            childFds.clear();
        }
    }

    /** The program to execute: RunRequest.program when set (--argv0), else argv[0]. */
    private String executable() {
        return req.getProgram().isEmpty() ? req.getArgv(0) : req.getProgram();
    }

    private void started(ChildProcess c) {
        boolean killNow;
        synchronized (this) {
            child = c;
            killNow = terminated;
        }
        log.debug("session on stream {}: pid {} {}", run.id(), c.pid(), req.getArgvList());
        sendQuietly(SessionMessage.newBuilder().setStarted(Started.newBuilder().setPid(c.pid())).build(), false);
        pumpStarters.forEach(Runnable::run);
        List<CompletableFuture<?>> all = new ArrayList<>(outPumps);
        all.add(c.exit());
        CompletableFuture<Void> ended = CompletableFuture.allOf(all.toArray(new CompletableFuture[0]));
        if (guest != null && guest.remote()) ended.whenCompleteAsync((v, e) -> finish(), GUEST_FINISHER);
        else ended.whenComplete((v, e) -> finish());
        if (killNow) kill("connection ended during start-up");
    }

    private String chooseGuestCwd() throws Refused {
        try {
            return guest.chooseCwd(req.getCwd(), req.getCwdRequired());
        } catch (ErrnoException e) {
            throw new Refused(e.errno(), e.getMessage(), false);
        }
    }

    private String chooseCwd() throws Refused {
        String home = options.home().toString();
        String cwd = req.getCwd();
        if (cwd.isEmpty()) return home;
        if (Files.isDirectory(Path.of(cwd))) return cwd;
        if (req.getCwdRequired()) throw new Refused(Errno.ENOENT, "no such directory on the target: " + cwd, false);
        log.info("session on stream {}: no directory {} on the target, starting in {}", run.id(), cwd, home);
        return home;
    }

    private MuxStream claim(int streamId) throws Refused, IOException {
        MuxStream s = conn.claimFd(streamId, options.fdStreamWait());
        if (s == null) throw new Refused(Errno.EINVAL, "fd stream " + streamId + " was never opened", false);
        streams.add(s);
        return s;
    }

    private void plumb(FdSpec fd) throws Refused, IOException {
        int target = fd.getTargetFd();
        if (target > 65535 || childFds.containsKey(target)) throw new Refused(Errno.EBADF, "bad or repeated target fd " + target, false);
        MuxStream s = claim(fd.getStreamId());
        String name = "pump-" + run.id() + "-fd" + target;
        switch (fd.getDirection()) {
            case TO_PROCESS -> {
                int[] p = LibC.pipe(LibC.O_CLOEXEC);
                childFds.put(target, p[0]);
                ownFds.add(p[1]);
                // This direction stays open: unread bytes go back to the client at exit (InboundPipe).
                InboundPipe pipe = new InboundPipe(name + "-in", s, p[1], () -> closeOwn(p[1]));
                pipes.add(pipe);
                pumpStarters.add(pipe::start);
            }
            case FROM_PROCESS -> {
                int[] p = LibC.pipe(LibC.O_CLOEXEC);
                childFds.put(target, p[1]);
                ownFds.add(p[0]);
                pumpStarters.add(() -> outPumps.add(Pumps.fromProcess(name + "-out", p[0], s).whenComplete((v, e) -> closeOwn(p[0]))));
            }
            case BOTH -> {
                int[] sp = LibC.socketpair(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0);
                childFds.put(target, sp[1]);
                ownFds.add(sp[0]);
                sockets.add(s);
                pumpStarters.add(() -> {
                    CompletableFuture<Void> out = Pumps.fromProcess(name + "-out", sp[0], s);
                    outPumps.add(out);
                    CompletableFuture<Void> in = Pumps.toProcess(name + "-in", s, sp[0], () -> {
                        try {
                            LibC.shutdown(sp[0], LibC.SHUT_WR);
                        } catch (ErrnoException ignored) {
                            // peer already gone
                        }
                    });
                    CompletableFuture.allOf(out, in).whenComplete((v, e) -> closeOwn(sp[0]));
                });
            }
            default -> throw new Refused(Errno.EINVAL, "fd " + target + " has no direction", false);
        }
    }

    private void setUpPty(List<String> env) throws Refused, IOException {
        var spec = req.getPty();
        MuxStream in = claim(spec.getInStream());
        MuxStream out = claim(spec.getOutStream());
        pty = Pty.open(spec.getRows(), spec.getCols());
        if (!spec.getTerm().isEmpty() && env.stream().noneMatch(e -> e.startsWith("TERM="))) env.add("TERM=" + spec.getTerm());
        in.closeWrite();
        inbound.add(in);
        Pty p = pty;
        pumpStarters.add(() -> {
            CompletableFuture<Void> o = Pumps.fromProcess("pump-" + run.id() + "-pty-out", p.masterFd(), out);
            outPumps.add(o);
            CompletableFuture<Void> i = Pumps.toProcess("pump-" + run.id() + "-pty-in", in, p.masterFd(), () -> { });
            CompletableFuture.allOf(o, i).whenComplete((v, e) -> p.close());
        });
    }

    private void closeOwn(int fd) {
        synchronized (ownFds) {
            if (ownFds.remove(fd)) LibC.closeQuietly(fd);
        }
    }

    /** Start-up failed: release everything and tell the client its streams will carry nothing. */
    private void abandonSetup() {
        childFds.values().forEach(LibC::closeQuietly);
        childFds.clear();
        synchronized (ownFds) {
            ownFds.forEach(LibC::closeQuietly);
            ownFds.clear();
        }
        if (pty != null) pty.close();
        if (guest != null) guest.close();
        for (MuxStream s : streams) {
            if (inbound.contains(s) || sockets.contains(s) || pipes.stream().anyMatch(p -> p.stream() == s)) s.reset(ResetCode.RESET_CANCEL, "the process did not start");
            else s.closeWrite();
        }
    }

    // ---- running ----

    private void controlLoop() {
        try {
            SessionMessage m;
            while ((m = run.receive(SessionMessage.parser())) != null) {
                switch (m.getKindCase()) {
                    case SIGNAL -> deliver(m.getSignal().getName());
                    case WINDOW_SIZE -> resize(m.getWindowSize().getRows(), m.getWindowSize().getCols());
                    default -> log.debug("session on stream {}: ignoring {}", run.id(), m.getKindCase());
                }
            }
        } catch (StreamResetException e) {
            terminate("run stream " + e.getMessage());
        } catch (IOException e) {
            terminate("run stream failed: " + e.getMessage());
        }
    }

    private void deliver(String name) {
        int signo = Signals.number(name);
        if (signo <= 0) {
            log.warn("session on stream {}: unknown signal {}", run.id(), name);
            return;
        }
        if (signo == Signals.SIGTERM) {
            endTree();
            return;
        }
        try {
            child.signalGroup(signo);
            if (isJobStop(signo) && !catches(child.pid(), signo)) {
                // Our child leads its own session, so its process group is orphaned and the
                // kernel discards TSTP/TTIN/TTOU with the default action. Do what that action
                // would have done; a program that catches TSTP has just been told above.
                child.signalGroup(Signals.SIGSTOP);
            }
        } catch (ErrnoException e) {
            log.debug("session on stream {}: SIG{}: {}", run.id(), name, e.getMessage());
        }
    }

    /**
     * SIGTERM to tether ends the whole tree, not only the root's group: members in other groups or
     * sessions (a shell's jobs, a traced setsid) get it too, and once the root is gone whatever outlived
     * it (a process that ignores TERM, which would also hold the session open through its stdout) is
     * killed as when the client goes away. The root's own status is what the client sees.
     */
    private void endTree() {
        signalTree(Signals.SIGTERM);
        synchronized (this) {
            if (ending) return;
            ending = true;
        }
        child.exit().whenComplete((st, e) -> killTree("SIGTERM ended the root"));
    }

    private void signalTree(int signo) {
        child.signalSession(signo);
        if (guest != null) guest.signalTree(signo);
    }

    private static boolean isJobStop(int signo) {
        return signo == Signals.SIGTSTP || signo == 21 /* TTIN */ || signo == 22 /* TTOU */;
    }

    /** Whether {@code pid} has a handler for {@code signo} or ignores it (from /proc/PID/status). */
    static boolean catches(int pid, int signo) {
        try {
            long mask = 0;
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc", Integer.toString(pid), "status"))) {
                if (line.startsWith("SigCgt:") || line.startsWith("SigIgn:")) {
                    mask |= Long.parseUnsignedLong(line.substring(7).trim(), 16);
                }
            }
            return (mask & (1L << (signo - 1))) != 0;
        } catch (IOException | RuntimeException e) {
            return true; // gone or unreadable: send nothing more
        }
    }

    private void resize(int rows, int cols) {
        if (pty == null) return;
        try {
            pty.resize(rows, cols);
        } catch (ErrnoException e) {
            log.debug("session on stream {}: resize: {}", run.id(), e.getMessage());
        }
    }

    /** The client is gone or gave up: kill the session unless it already finished. */
    void terminate(String why) {
        synchronized (this) {
            if (terminated || finished) return;
            terminated = true;
            if (child == null) return; // start() kills it once spawned
        }
        kill(why);
    }

    private void kill(String why) {
        killTree(why);
        for (MuxStream s : inbound) s.reset(ResetCode.RESET_CANCEL, "session killed");
        for (MuxStream s : sockets) s.reset(ResetCode.RESET_CANCEL, "session killed");
        for (InboundPipe p : pipes) p.stream().reset(ResetCode.RESET_CANCEL, "session killed");
    }

    /** SIGHUP to the session and the traced tree, SIGKILL after the grace period. */
    private void killTree(String why) {
        log.info("session on stream {} (pid {}): {}; sending SIGHUP", run.id(), child.pid(), why);
        signalTree(Signals.SIGHUP);
        signalTree(Signals.SIGCONT); // stopped jobs act on SIGHUP only once continued
        Runnable hardKill = () -> {
            if (child.isAlive()) log.info("pid {} outlived SIGHUP; sending SIGKILL", child.pid());
            signalTree(Signals.SIGKILL);
        };
        try {
            conn.core.timer().schedule(hardKill, options.killGrace().toMillis(), TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            hardKill.run(); // the daemon is shutting down: no grace
        }
    }

    private void finish() {
        synchronized (this) {
            finished = true;
        }
        Failure lostWrites = flushGuest();
        try {
            sendExit(lostWrites);
        } finally {
            // After the exit status: closing a mirror session waits for its read-ahead and writes the
            // cache's index, none of which the client needs to wait for.
            if (guest != null) guest.closeWhenDone();
        }
    }

    private void sendExit(Failure lostWrites) {
        if (guest != null) guest.settleIfDone();
        WaitStatus st;
        try {
            st = child.exit().join();
        } catch (RuntimeException e) {
            // The reaper failed (ECHILD: someone else reaped it): say so rather than leave the client waiting.
            log.warn("session on stream {}: lost pid {}: {}", run.id(), child.pid(), e.toString());
            sendQuietly(SessionMessage.newBuilder().setFailure(Failure.newBuilder().setErrno(Errno.ECHILD)
                    .setMessage("tetherd lost track of pid " + child.pid())).build(), true);
            inbound.forEach(s -> s.reset(ResetCode.RESET_CANCEL, "process lost"));
            pipes.forEach(p -> p.stream().reset(ResetCode.RESET_CANCEL, "process lost"));
            conn.finished(this);
            return;
        }
        ExitStatus.Builder exit = ExitStatus.newBuilder();
        if (st.signaled()) {
            exit.setSignal(Signals.name(st.termSignal())).setSignalNumber(st.termSignal()).setCoreDumped(st.coreDumped());
        } else {
            exit.setCode(st.exitCode());
        }
        log.debug("session on stream {}: {}", run.id(), st);
        // Before the exit goes out: what the process left unread in its input pipes (jobserver
        // tokens) is sent back, so the client has it before it sees the exit.
        for (InboundPipe p : pipes) p.giveBack();
        if (lostWrites != null) {
            sendQuietly(SessionMessage.newBuilder().setFailure(lostWrites.toBuilder().setMessage(lostWrites.getMessage()
                    + " (the program " + (st.signaled() ? "was killed by SIG" + exit.getSignal() : "exited with " + st.exitCode())
                    + ")")).build(), true);
        } else {
            sendQuietly(SessionMessage.newBuilder().setExit(exit).build(), true);
        }
        // A reset would overtake output still queued, so only streams that carry nothing back
        // are reset; a socket's inbound half ends when the client ends it or the connection ends.
        for (MuxStream s : inbound) {
            if (!s.onClosed().isDone()) s.reset(ResetCode.RESET_CANCEL, "process exited");
        }
        conn.finished(this);
    }

    /**
     * "No NFS": makes every write of the run reach the host before the exit is reported. Null when done
     * (or nothing to do); otherwise the Failure to send instead of the exit status.
     */
    private Failure flushGuest() {
        if (guest == null || !guest.remote()) return null;
        try {
            guest.flush();
            return null;
        } catch (ErrnoException e) {
            log.warn("session on stream {}: writing back to the host failed: {}", run.id(), e.getMessage());
            return Failure.newBuilder().setErrno(e.errno())
                    .setMessage("files written on the target did not all reach the host: " + e.getMessage()).build();
        }
    }

    private void sendQuietly(SessionMessage m, boolean end) {
        try {
            run.send(m, end);
        } catch (IOException e) {
            log.debug("session on stream {}: cannot send {}: {}", run.id(), m.getKindCase(), e.getMessage());
        }
    }
}
