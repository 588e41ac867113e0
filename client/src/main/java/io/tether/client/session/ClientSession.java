package io.tether.client.session;

import io.tether.client.files.FileServer;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.posix.Signals;
import io.tether.posix.Terminal;
import io.tether.protocol.files.ChunkCompression;
import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.mux.StreamResetException;
import io.tether.protocol.proto.Direction;
import io.tether.protocol.proto.ExitStatus;
import io.tether.protocol.proto.Failure;
import io.tether.protocol.proto.FdSpec;
import io.tether.protocol.proto.FdStream;
import io.tether.protocol.proto.FilesData;
import io.tether.protocol.proto.GuestSpec;
import io.tether.protocol.proto.PtySpec;
import io.tether.protocol.proto.ResetCode;
import io.tether.protocol.proto.RunRequest;
import io.tether.protocol.proto.SessionMessage;
import io.tether.protocol.proto.Signal;
import io.tether.protocol.proto.StreamOpen;
import io.tether.protocol.proto.WindowSize;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * One remote process, seen from the host: our stdio (or our terminal, through a remote
 * pty) and inherited descriptors relayed over the mux, signals forwarded, and the remote
 * exit turned into ours.
 *
 * <p>Wire order (see tether.proto): one FdStream per relayed descriptor (two for a pty),
 * then the run stream naming them. The daemon answers Started, then ExitStatus (or
 * Failure). Its exit message travels ahead of bulk data, so we also wait for every output
 * stream to reach its end before returning.
 *
 * <p>Threads: the caller's thread waits on the run stream; one platform thread per pump
 * direction; the JDK's signal threads call {@code onSignal}.
 */
public final class ClientSession {
    private static final Logger log = LoggerFactory.getLogger(ClientSession.class);

    /** Exit status for Tether's own failures, as ssh. */
    public static final int OWN_FAILURE = 255;

    /**
     * Our side of the stdio: fds 0-2 from the CLI, pipes in tests; {@code signals}: relay this
     * process's own. {@code fdMap}: where each forwarded target fd is held here (absent: the
     * same number); {@code source}: signals that come from elsewhere; {@code threads}: makes
     * the pump threads (null: plain daemon threads).
     */
    record LocalIo(int stdin, int stdout, int stderr, boolean signals, Map<Integer, Integer> fdMap, SignalSource source,
                   ThreadFactory threads) {
        static final LocalIo STANDARD = new LocalIo(0, 1, 2, true);

        LocalIo {
            fdMap = fdMap == null ? Map.of() : Map.copyOf(fdMap);
        }

        LocalIo(int stdin, int stdout, int stderr, boolean signals) {
            this(stdin, stdout, stderr, signals, Map.of(), null, null);
        }
    }

    /**
     * Descriptors and signals borrowed from another process (the front door serving a front
     * end): its stdio as descriptors held here, each forwarded target fd mapped to the one
     * held here, its signals from {@code signals}. {@code threads} makes the pump threads, so
     * the caller can wait for them before it closes the descriptors (null: daemon threads).
     */
    public record BorrowedIo(int stdin, int stdout, int stderr, Map<Integer, Integer> fdMap, SignalSource signals,
                             ThreadFactory threads) {
        public BorrowedIo {
            fdMap = Map.copyOf(fdMap);
            java.util.Objects.requireNonNull(signals, "signals");
        }
    }

    /** How the session ended: the status to exit with and an optional line for stderr. */
    record Outcome(int status, String message) {}

    /** Tether's own failure: the message becomes the one "tether: ..." line. */
    private static final class SessionException extends Exception {
        SessionException(String message) {
            super(message);
        }
    }

    private final Mux mux;
    private final RunSpec spec;
    private final String targetName;
    private final LocalIo io;
    /** "No NFS": serves the guest tree from this host over a stream of its own, or null. */
    private final FileServer files;
    /** --host-exec with a file server: runs the daemon's host execs here; closed with the session. */
    private volatile io.tether.client.hostexec.HostExecServer hostExecs;
    private final List<MuxStream> inputs = new ArrayList<>();
    private final List<MuxStream> outputs = new ArrayList<>();
    private final List<CompletableFuture<Boolean>> drains = new ArrayList<>();
    private final List<Runnable> pumps = new ArrayList<>();
    private final Map<MuxStream, FdPump.Gate> gates = new java.util.LinkedHashMap<>();
    private final SignalRelay.Listener signals = this::onSignal;
    private volatile MuxStream run;
    private volatile RawTerminal terminal;
    private boolean pty;

    private ClientSession(Mux mux, RunSpec spec, String targetName, LocalIo io, FileServer files) {
        this.mux = mux;
        this.spec = spec;
        this.targetName = targetName;
        this.io = io;
        this.files = files;
    }

    /**
     * Runs {@code spec} over {@code mux} (a ready CLIENT-role mux) with this process's fds
     * 0-2 and signals, and returns the status to exit with: the command's own; 128+N when
     * a signal killed it (N: our number for that signal's name); 127 (not found) or 126 when
     * it could not be executed, and 255 for Tether's own failures, each with one
     * {@code tether: ...} line on stderr. {@code targetName} names the target in messages.
     */
    public static int run(Mux mux, RunSpec spec, String targetName) {
        return run(mux, spec, targetName, LocalIo.STANDARD, null);
    }

    /**
     * As {@link #run(Mux, RunSpec, String)} with the guest tree ({@code spec.guest()}) on this host
     * ("No NFS"): {@code files} serves it over a stream opened before the run; the caller opened
     * {@code files} and closes it after.
     */
    public static int run(Mux mux, RunSpec spec, String targetName, FileServer files) {
        if (spec.guest() == null) throw new IllegalArgumentException("a file server serves a guest: the spec has none");
        return run(mux, spec, targetName, LocalIo.STANDARD, files);
    }

    /**
     * As {@link #run(Mux, RunSpec, String)} with another process's descriptors and signals: the
     * forwarded fds are {@code spec.extraFds()}, found here through {@code io.fdMap()}, and a
     * TSTP ends in {@link SignalSource#stopRequested()} instead of stopping this process.
     */
    public static int run(Mux mux, RunSpec spec, String targetName, BorrowedIo io) {
        return run(mux, spec, targetName, io, null);
    }

    /** As {@link #run(Mux, RunSpec, String, BorrowedIo)}, with the guest tree on this host served by {@code files} (or null). */
    public static int run(Mux mux, RunSpec spec, String targetName, BorrowedIo io, FileServer files) {
        if (files != null && spec.guest() == null) throw new IllegalArgumentException("a file server serves a guest: the spec has none");
        return run(mux, spec, targetName, new LocalIo(io.stdin(), io.stdout(), io.stderr(), false, io.fdMap(), io.signals(),
                io.threads()), files);
    }

    static int run(Mux mux, RunSpec spec, String targetName, LocalIo io) {
        return run(mux, spec, targetName, io, null);
    }

    static int run(Mux mux, RunSpec spec, String targetName, LocalIo io, FileServer files) {
        ClientSession session = new ClientSession(mux, spec, targetName, io, files);
        Outcome outcome;
        try {
            outcome = session.execute();
        } catch (SessionException e) {
            outcome = new Outcome(OWN_FAILURE, "tether: " + e.getMessage());
        } catch (RuntimeException e) {
            log.debug("session failed", e);
            outcome = new Outcome(OWN_FAILURE, "tether: internal error: " + e);
        } finally {
            session.cleanup();
        }
        if (outcome.message() != null) {
            try {
                Terminal.writeFully(io.stderr(), (outcome.message() + "\n").getBytes(StandardCharsets.UTF_8));
            } catch (ErrnoException e) {
                log.debug("stderr: {}", e.getMessage());
            }
        }
        return outcome.status();
    }

    private Outcome execute() throws SessionException {
        // First: installing the QUIT relay may move the caller's fd 3 (see QuitRelay).
        if (io.signals()) SignalRelay.add(signals);
        if (io.source() != null) io.source().subscribe(this::onSignal);
        pty = switch (spec.tty()) {
            case AUTO -> Terminal.isTerminal(io.stdin());
            case FORCE -> true;
            case NEVER -> false;
        };
        RunRequest.Builder request = RunRequest.newBuilder()
                .addAllArgv(spec.argv())
                .addAllEnv(spec.env())
                .setCwd(spec.cwd() == null ? "" : spec.cwd())
                .setCwdRequired(spec.cwdRequired())
                .setUmask(spec.umask());
        if (spec.guest() != null) request.setGuest(guestSpec());
        if (spec.program() != null) request.setProgram(spec.program());
        List<ForwardedFd> fds = new ArrayList<>();
        if (pty) {
            MuxStream keys = openFdStream(inputs);
            MuxStream screen = openFdStream(outputs);
            int[] size = windowSize();
            request.setPty(PtySpec.newBuilder().setTerm(term()).setRows(size[0]).setCols(size[1])
                    .setInStream(keys.id()).setOutStream(screen.id()));
            pumps.add(thread("pty-in", () -> FdPump.toStream(io.stdin(), keys)));
            drain("pty-out", () -> FdPump.fromStream(screen, io.stdout(), false));
        } else {
            fds.add(new ForwardedFd(io.stdin(), 0, Direction.TO_PROCESS));
            fds.add(new ForwardedFd(io.stdout(), 1, Direction.FROM_PROCESS));
            fds.add(new ForwardedFd(io.stderr(), 2, Direction.FROM_PROCESS));
        }
        for (int fd : new TreeSet<>(spec.extraFds())) {
            if (fd <= 2) continue;
            try {
                int localFd = io.signals() ? QuitRelay.localFd(fd) : io.fdMap().getOrDefault(fd, fd);
                fds.add(new ForwardedFd(localFd, fd, ForwardedFd.directionOf(localFd)));
            } catch (ErrnoException e) {
                log.debug("not forwarding fd {}: {}", fd, e.getMessage());
            }
        }
        for (ForwardedFd f : fds) {
            MuxStream s = openFdStream(f.fromProcess() ? outputs : inputs);
            request.addFds(FdSpec.newBuilder().setTargetFd(f.targetFd()).setDirection(f.direction()).setStreamId(s.id()));
            if (f.direction() == Direction.TO_PROCESS) {
                // The daemon returns what the process left unread (jobserver tokens): see FdPump.Gate.
                FdPump.Gate gate = new FdPump.Gate();
                gates.put(s, gate);
                pumps.add(thread("fd" + f.targetFd() + "-in", () -> FdPump.toStream(f.localFd(), s, gate)));
                drain("fd" + f.targetFd() + "-return", () -> FdPump.returnToPipe(s, f.localFd()));
            } else if (f.toProcess()) {
                pumps.add(thread("fd" + f.targetFd() + "-in", () -> FdPump.toStream(f.localFd(), s)));
            }
            if (f.fromProcess()) {
                boolean socketLike = f.direction() == Direction.BOTH;
                drain("fd" + f.targetFd() + "-out", () -> FdPump.fromStream(s, f.localFd(), socketLike));
            }
        }

        if (pty && Terminal.isTerminal(io.stdin())) {
            try {
                terminal = RawTerminal.enter(io.stdin());
            } catch (ErrnoException e) {
                log.debug("raw mode: {}", e.getMessage());
            }
        }
        try {
            run = mux.open(StreamOpen.newBuilder().setRun(request).build());
        } catch (IOException e) {
            throw lost(e);
        }
        pumps.forEach(Runnable::run);
        return await();
    }

    /** The guest of the run; with a file server, its stream is opened (and served) first and named instead of target paths. */
    private GuestSpec guestSpec() throws SessionException {
        GuestSpec guest = spec.guest().toProto();
        if (files == null) return guest;
        MuxStream s;
        MuxStream data = null;
        try {
            // Bulk replies on a stream of their own, so file contents never hold up listings (tether.proto FilesData).
            if (mux.features().contains(FileServer.DATA_FEATURE)) {
                data = mux.open(StreamOpen.newBuilder().setFilesData(FilesData.getDefaultInstance()).build());
            }
            s = mux.open(StreamOpen.newBuilder().setFiles(files.filesOpen()).build());
        } catch (IOException e) {
            if (data != null) data.reset(ResetCode.RESET_CANCEL, "run not started");
            throw lost(e);
        }
        files.serve(s, data, mux.features().contains(ChunkCompression.FEATURE));
        if (!spec.guest().hostExec().isEmpty()) {
            // --host-exec: the daemon opens a stream per exec that runs here (issue 5).
            io.tether.protocol.proto.Hello daemon = mux.ready().getNow(null);
            // Under -q the run's machine is qemu's, foreign to this host whatever the daemon's (null: differs).
            hostExecs = new io.tether.client.hostexec.HostExecServer(s.id(), files.exports(), spec.guest().hostExec(),
                    daemon == null || !spec.guest().qemu().isEmpty() ? null : daemon.getArch());
            mux.acceptWith(hostExecs);
        }
        return guest.toBuilder().clearRoot().clearBinds().setFilesStream(s.id()).setFilesDataStream(data == null ? 0 : data.id()).build();
    }

    private Outcome await() throws SessionException {
        ExitStatus exit = null;
        while (exit == null) {
            SessionMessage m;
            try {
                m = run.receive(SessionMessage.parser());
            } catch (StreamResetException e) {
                throw lost(e);
            } catch (IOException e) {
                throw new SessionException("protocol error from " + targetName + ": " + e.getMessage());
            }
            if (m == null) throw new SessionException("protocol error: " + targetName + " ended the session without an exit status");
            switch (m.getKindCase()) {
                case STARTED -> log.debug("{} runs as pid {} on {}", spec.argv().get(0), m.getStarted().getPid(), targetName);
                case EXIT -> exit = m.getExit();
                case FAILURE -> {
                    return failure(m.getFailure());
                }
                default -> log.debug("ignoring {} on the run stream", m.getKindCase());
            }
        }
        run.closeWrite();
        // Read no more input: the daemon returns what the process left unread, and what is in
        // flight, until we end our direction; those returns are among the drains below.
        gates.forEach((s, gate) -> gate.end(s));
        // The exit message overtakes bulk data: the output is complete only at each stream's end.
        for (CompletableFuture<Boolean> drained : drains) {
            boolean complete;
            try {
                complete = drained.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new SessionException("interrupted");
            } catch (ExecutionException e) {
                complete = false;
            }
            if (!complete) throw lost(new IOException("output stream reset"));
        }
        return new Outcome(exitCode(exit), null);
    }

    /** Our exit status for the remote one: its code, or 128 + our number of the signal that killed it. */
    static int exitCode(ExitStatus exit) {
        return switch (exit.getHowCase()) {
            case CODE -> exit.getCode() & 0xff;
            case SIGNAL -> {
                int n = Signals.number(exit.getSignal());
                if (n <= 0) n = exit.getSignalNumber();
                yield n > 0 && n < 128 ? 128 + n : OWN_FAILURE;
            }
            case HOW_NOT_SET -> OWN_FAILURE;
        };
    }

    private Outcome failure(Failure f) {
        String why = Terminal.describe(f.getErrno());
        if (f.getExec()) {
            return new Outcome(f.getErrno() == Errno.ENOENT ? 127 : 126, "tether: " + spec.argv().get(0) + ": " + why);
        }
        String message = f.getMessage().isEmpty() ? why : f.getMessage();
        return new Outcome(OWN_FAILURE, "tether: " + targetName + ": " + message);
    }

    /** The session ended without an exit status: the connection dropped or the daemon said no. */
    private SessionException lost(IOException e) {
        String connection = connectionFailure();
        if (connection != null) return new SessionException("lost the connection to " + targetName + ": " + connection);
        if (e instanceof StreamResetException r && r.byPeer()) {
            return new SessionException(targetName + " refused the session: " + r.getMessage().replaceFirst("^reset by peer: ", ""));
        }
        return new SessionException(targetName + ": " + e.getMessage());
    }

    /** Why the mux ended, or null while it is open. */
    private String connectionFailure() {
        if (mux.isOpen()) return null;
        try {
            // Streams learn of the end a moment before terminated() completes with the cause.
            mux.terminated().get(1, TimeUnit.SECONDS);
            return "connection closed";
        } catch (ExecutionException e) {
            return e.getCause().getMessage();
        } catch (Exception e) {
            return "connection closed";
        }
    }

    private MuxStream openFdStream(List<MuxStream> into) throws SessionException {
        try {
            MuxStream s = mux.open(StreamOpen.newBuilder().setFd(FdStream.getDefaultInstance()).build());
            into.add(s);
            return s;
        } catch (IOException e) {
            throw lost(e);
        }
    }

    private Runnable thread(String name, Runnable body) {
        Thread t = io.threads() != null ? io.threads().newThread(body) : new Thread(body, "tether-" + name);
        if (io.threads() == null) t.setDaemon(true);
        return t::start;
    }

    private void drain(String name, Supplier<Boolean> body) {
        CompletableFuture<Boolean> done = new CompletableFuture<>();
        drains.add(done);
        pumps.add(thread(name, () -> {
            try {
                done.complete(body.get());
            } catch (Throwable e) {
                done.completeExceptionally(e);
            }
        }));
    }

    private int[] windowSize() {
        for (int fd : new int[] {io.stdin(), io.stdout()}) {
            int[] size = Terminal.windowSize(fd);
            if (size != null && size[0] > 0 && size[1] > 0) return size;
        }
        return new int[] {24, 80};
    }

    private String term() {
        for (String e : spec.env()) {
            if (e.startsWith("TERM=")) return e.substring(5);
        }
        String local = io.source() == null ? System.getenv("TERM") : null; // a borrowed session: only its own env counts
        return local == null || local.isEmpty() ? "dumb" : local;
    }

    private void onSignal(String name) {
        MuxStream r = run;
        if (r == null) return;
        switch (name) {
            case "WINCH" -> {
                if (pty) {
                    int[] size = windowSize();
                    send(r, SessionMessage.newBuilder().setWindowSize(WindowSize.newBuilder().setRows(size[0]).setCols(size[1])).build());
                }
            }
            case "TSTP" -> {
                send(r, signal("TSTP"));
                flush();
                RawTerminal t = terminal;
                if (t != null) t.restore();
                if (io.source() != null) {
                    io.source().stopRequested();
                    return;
                }
                try {
                    Terminal.kill(Terminal.pid(), Signals.SIGSTOP);
                } catch (ErrnoException e) {
                    log.debug("stopping ourselves: {}", e.getMessage());
                }
            }
            case "CONT" -> {
                RawTerminal t = terminal;
                if (t != null) t.reenter();
                send(r, signal("CONT"));
                if (pty) onSignal("WINCH");
            }
            default -> send(r, signal(name));
        }
    }

    private static SessionMessage signal(String name) {
        return SessionMessage.newBuilder().setSignal(Signal.newBuilder().setName(name)).build();
    }

    private void send(MuxStream r, SessionMessage m) {
        try {
            r.send(m);
        } catch (IOException e) {
            log.debug("not forwarded ({}): {}", m.getKindCase(), e.getMessage());
        }
    }

    /** Waits until what we queued has left: a ping's answer comes after it (one control queue). */
    private void flush() {
        try {
            mux.ping().get(1, TimeUnit.SECONDS);
        } catch (Exception e) {
            log.debug("flush before stopping: {}", e.toString());
        }
    }

    /** Whoever opened a stream ends it: finished ones close, unfinished ones are cancelled. */
    private void cleanup() {
        io.tether.client.hostexec.HostExecServer h = hostExecs;
        if (h != null) h.close();
        if (io.signals()) SignalRelay.remove(signals);
        if (io.source() != null) io.source().unsubscribe();
        RawTerminal t = terminal;
        if (t != null) t.close();
        MuxStream r = run;
        if (r != null) r.closeWrite();
        for (MuxStream s : outputs) s.closeWrite();
        List<MuxStream> all = new ArrayList<>(inputs);
        all.addAll(outputs);
        if (r != null) all.add(r);
        for (MuxStream s : all) {
            if (!s.onClosed().isDone()) s.reset(ResetCode.RESET_CANCEL, "session over");
        }
    }
}
