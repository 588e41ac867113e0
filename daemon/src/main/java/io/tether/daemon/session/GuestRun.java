package io.tether.daemon.session;

import io.tether.daemon.files.HostFiles;
import io.tether.daemon.guest.Bind;
import io.tether.daemon.guest.FileKind;
import io.tether.daemon.guest.GuestView;
import io.tether.daemon.guest.ProcessIds;
import io.tether.daemon.guest.Resolved;
import io.tether.daemon.mirror.MirrorCache;
import io.tether.daemon.mirror.MirrorSession;
import io.tether.daemon.process.ChildProcess;
import io.tether.daemon.process.Pty;
import io.tether.daemon.tracer.TracedProcess;
import io.tether.daemon.tracer.arch.Arch;
import io.tether.daemon.tracer.arch.Arches;
import io.tether.daemon.tracer.arch.Sys;
import io.tether.daemon.tracer.handler.Handlers;
import io.tether.daemon.tracer.hostexec.ElfMachine;
import io.tether.daemon.tracer.hostexec.HostExec;
import io.tether.daemon.tracer.hostexec.HostExecHandler;
import io.tether.daemon.tracer.hostexec.HostExecPolicy;
import io.tether.daemon.tracer.hostexec.HostExecutor;
import io.tether.daemon.tracer.hostexec.LocalHostExecutor;
import io.tether.daemon.tracer.hostexec.RemoteHostExecutor;
import io.tether.protocol.mux.MuxStream;
import io.tether.daemon.tracer.hostexec.ParkingProgram;
import io.tether.daemon.tracer.handler.Qemu;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.posix.LibC;
import io.tether.protocol.proto.GuestSpec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The guest side of one session ({@code RunRequest.guest}, {@code tether run -r ROOT}): the
 * {@link GuestView} checked before anything runs, the guest cwd, and the command started under a
 * {@link TracedProcess} of its own.
 *
 * <p>One tracer per session rather than one per daemon: a tracer thread serialises every stop of
 * its tracees, so sessions (a parallel build's jobs) must not queue behind each other; a fault in
 * one tree cannot stall another; and a session's tracees, spawner and glue directory all end with
 * it. The cost is one platform thread and one spawner per guest session.
 *
 * <p>"No NFS" ({@code GuestSpec.files_stream}, {@link #prepareRemote}): the guest tree is the client's
 * host files behind the daemon's mirror cache, a {@link MirrorSession} over the run's {@link HostFiles};
 * the tracer translates into the mirror and calls its hooks. Writes reach the host by {@link #flush()}
 * at the latest (the session calls it before the exit status goes out, {@link #close()} once more when
 * the whole tree is gone), then the mirror session and the host file stub are closed.
 */
final class GuestRun implements AutoCloseable {
    /**
     * Debugging knob: comma-separated kernel names of path syscalls to leave untranslated, so they are
     * refused with ENOSYS and named in the log, as any trapped syscall without a handler would be
     * (shows how a program copes; the end-to-end tests use it).
     */
    static final String REFUSE_PROPERTY = "tetherd.tracer.refuse";

    private static final Logger log = LoggerFactory.getLogger(GuestRun.class);
    /** Hello feature of a client that runs host execs (StreamOpen{host_exec}). */
    static final String HOST_EXEC_FEATURE = "host-exec";
    private static final AtomicInteger GLUE = new AtomicInteger();

    private final GuestView view;
    private final Path glueDir;
    private final MirrorSession mirror;   // No NFS: the host's files behind the mirror, or null
    private final HostFiles hostFiles;    // No NFS: the client's file server, closed with the run
    private TracedProcess traced;
    private Qemu qemu; // -q: runs the guest's programs of another machine, or null
    private HostExec hostExec; // --host-exec: which execs run on the host and how, or null

    private GuestRun(GuestView view, Path glueDir) {
        this(view, glueDir, null, null);
    }

    private GuestRun(GuestView view, Path glueDir, MirrorSession mirror, HostFiles hostFiles) {
        this.view = view;
        this.glueDir = glueDir;
        this.mirror = mirror;
        this.hostFiles = hostFiles;
    }

    /**
     * "No NFS": the guest tree is {@code files}, the client's exports, served from {@code cache}'s
     * mirror of them (export 0 the root, the others binds at their guest paths, plus the target's
     * /dev, /proc and /sys unless {@code no_default_binds}); {@code spec.root} and {@code spec.binds}
     * are not used. The run owns {@code files} from here on, and closes it even if this fails.
     *
     * {@code filesStream} (the client's files stream) is also the way to the client's host for
     * {@code --host-exec}: a {@link RemoteHostExecutor} on its connection.
     *
     * @throws ErrnoException if the mirror cannot serve the exports (what the host said, or EIO)
     */
    static GuestRun prepareRemote(GuestSpec spec, MirrorCache cache, HostFiles files, MuxStream filesStream, Path runDir)
            throws ErrnoException {
        MirrorSession session = null;
        try {
            session = cache.session(files);
            GuestView.Builder b = GuestView.builder(session.rootHostPath()).fileAccess(session)
                    .defaultBinds(!spec.getNoDefaultBinds());
            for (Bind bind : session.binds()) b.bind(bind);
            Path glue = runDir.resolve(LibC.getpid() + "-glue-" + GLUE.incrementAndGet());
            GuestRun run = new GuestRun(b.glueDir(glue.toString()).build(), glue, session, files);
            run.hostExec = hostExecOf(spec, run.view, true, filesStream, runDir);
            run.qemu = qemuOf(spec);
            return run;
        } catch (ErrnoException | RuntimeException e) {
            if (session != null) session.close();
            closeQuietly(files);
            throw e;
        }
    }

    /** Whether the guest tree lives on the client's host ("No NFS"). */
    boolean remote() {
        return mirror != null;
    }

    /**
     * Before the exit status goes out: if the whole traced tree is gone, the mirror session settles
     * (MirrorSession.settle), so a run started at once sees the host as it is. Its slow part, the
     * close, comes after the exit status ({@link #closeWhenDone}).
     */
    void settleIfDone() {
        if (mirror != null && (traced == null || traced.finished().isDone())) mirror.settle();
    }

    /** Every write of the run so far reaches the host (No NFS); nothing to do for a local rootfs. */
    void flush() throws ErrnoException {
        if (mirror != null) mirror.flush();
    }

    /**
     * Checks the root and the binds' host sides on this machine and builds the view.
     *
     * @param runDir the daemon's private run directory: glue directories for binds onto missing
     *               guest locations go below it, named so a dead daemon's are cleaned at start-up
     * @throws ErrnoException with a message naming what is wrong (a missing or unreadable root)
     */
    static GuestRun prepare(GuestSpec spec, Path runDir) throws ErrnoException {
        String root = spec.getRoot();
        if (root.isEmpty() || !root.startsWith("/")) throw new ErrnoException(Errno.EINVAL, "rootfs", "'" + root + "' (must be absolute)");
        checkDirectory("rootfs", root);
        GuestView.Builder b = GuestView.builder(root).defaultBinds(!spec.getNoDefaultBinds());
        for (String s : spec.getBindsList()) {
            Bind bind = Bind.parse(s);
            if (!Files.exists(Path.of(bind.hostPath()))) throw new ErrnoException(Errno.ENOENT, "bind", bind.hostPath());
            b.bind(bind);
        }
        Qemu qemu = qemuOf(spec);
        Path glue = runDir.resolve(LibC.getpid() + "-glue-" + GLUE.incrementAndGet());
        GuestRun run = new GuestRun(b.glueDir(glue.toString()).build(), glue);
        run.qemu = qemu;
        run.hostExec = hostExecOf(spec, run.view, false, null, runDir);
        return run;
    }

    /**
     * {@code --host-exec} (null: off). Where the rootfs is on this machine (target {@code local}) the host
     * is this machine: {@link LocalHostExecutor}. For a guest tree on the client's host ({@code remote}
     * true) the client runs the programs over the connection of {@code filesStream}
     * ({@link RemoteHostExecutor}), and an ELF of the client's machine (its hello's arch) goes there too
     * when it differs from the run's (this machine's, or with -q qemu's, taken as foreign to every host); a client without the "host-exec" feature makes matching execs fail
     * with EACCES and a log line.
     */
    private static HostExec hostExecOf(GuestSpec spec, GuestView view, boolean remote, MuxStream filesStream, Path runDir)
            throws ErrnoException {
        if (spec.getHostExecCount() == 0) return null;
        int machine = Arches.host().map(Arch::elfMachine).orElse(ElfMachine.NONE);
        int clientMachine = machine;
        HostExecutor executor;
        if (!remote) {
            executor = new LocalHostExecutor(view, runDir);
        } else if (filesStream == null || !filesStream.mux().features().contains(HOST_EXEC_FEATURE)) {
            clientMachine = ElfMachine.NONE;
            executor = HostExecutor.unavailable("the client does not run host execs (no \"" + HOST_EXEC_FEATURE + "\" feature)");
        } else {
            io.tether.protocol.proto.Hello hello = filesStream.mux().ready().getNow(null);
            clientMachine = hello == null ? ElfMachine.NONE : ElfMachine.ofArchName(hello.getArch());
            executor = new RemoteHostExecutor(filesStream.mux(), filesStream.id());
        }
        HostExecPolicy policy;
        try {
            // Under -q the run's programs are of qemu's machine, not this one's: an ELF of the host's machine is
            // foreign to the run (a static x86_64 tool in an arm64 rootfs on an x86_64 target goes to the host).
            policy = HostExecPolicy.of(spec.getHostExecList(), clientMachine, spec.getQemuCount() > 0 ? ElfMachine.NONE : machine);
        } catch (IllegalArgumentException e) {
            executor.close();
            throw new ErrnoException(Errno.EINVAL, "host exec", e.getMessage());
        }
        return new HostExec(policy, executor, Arches.host().map(a -> ParkingProgram.install(runDir, a)).orElse(null));
    }

    /** {@code -q}: the target's qemu-user for programs of another machine, or null; a missing one fails before anything runs. */
    private static Qemu qemuOf(GuestSpec spec) throws ErrnoException {
        return spec.getQemuCount() == 0 ? null
                : Qemu.locate(spec.getQemuList(), System.getenv("PATH"), Arches.host().map(Arch::elfMachine).orElse(-1));
    }

    private static void checkDirectory(String what, String targetPath) throws ErrnoException {
        Path p = Path.of(targetPath);
        if (!Files.exists(p)) throw new ErrnoException(Errno.ENOENT, what, targetPath);
        if (!Files.isDirectory(p)) throw new ErrnoException(Errno.ENOTDIR, what, targetPath);
        if (!Files.isReadable(p) || !Files.isExecutable(p)) throw new ErrnoException(Errno.EACCES, what, targetPath);
    }

    /**
     * The guest cwd: {@code requested} if it is a directory in the guest; otherwise "/" unless it was
     * required (an explicit -w), which fails.
     */
    String chooseCwd(String requested, boolean required) throws ErrnoException {
        if (requested.isEmpty()) return "/";
        String why;
        try {
            Resolved r = view.resolve("/", requested, true, ProcessIds.NONE);
            if (r.kind() == FileKind.DIRECTORY) return requested;
            why = r.exists() ? "not a directory" : "no such directory";
        } catch (ErrnoException e) {
            why = Errno.describe(e.errno());
            if (required) throw new ErrnoException(e.errno(), "guest working directory", requested);
        }
        if (required) {
            throw new ErrnoException(why.startsWith("not") ? Errno.ENOTDIR : Errno.ENOENT, "guest working directory", requested);
        }
        log.info("guest working directory {}: {}; starting in /", requested, why);
        return "/";
    }

    /** Starts {@code program} with {@code argv} in the guest; the caller still owns the fds in {@code childFds}. */
    ChildProcess start(String program, List<String> argv, List<String> env, String guestCwd, Map<Integer, Integer> childFds, Pty pty,
                       int umask, Path runDir) throws ErrnoException, IOException {
        Arch arch = Arches.host().orElseThrow(() -> new ErrnoException(Errno.ENOSYS, "tracer",
                "(no tracer for " + System.getProperty("os.arch") + ")"));
        traced = TracedProcess.start(view, HostExecHandler.install(handlers(arch), hostExec), runDir, program, argv, env, guestCwd, childFds, pty, umask, qemu);
        return traced.child();
    }

    /** The standard handlers, less those named by {@link #REFUSE_PROPERTY}. */
    static Handlers handlers(Arch arch) {
        Handlers h = Handlers.standard(arch);
        for (String name : System.getProperty(REFUSE_PROPERTY, "").split(",")) {
            name = name.trim().toUpperCase(Locale.ROOT);
            if (name.isEmpty()) continue;
            try {
                h = h.without(Sys.valueOf(name));
            } catch (IllegalArgumentException e) {
                log.warn("{}: no syscall {}", REFUSE_PROPERTY, name);
            }
        }
        return h;
    }

    /** Sends {@code signo} to every traced process (those that left the root's group or session too). */
    void signalTree(int signo) {
        if (traced != null) traced.signalTree(signo);
    }

    /**
     * Releases the tracer, its spawner and the glue directory once every traced process is gone
     * (a background job may outlive the session's root, as it would untraced).
     */
    void closeWhenDone() {
        if (traced == null) {
            close();
            return;
        }
        traced.finished().whenComplete((v, e) -> close());
    }

    @Override
    public void close() {
        if (hostExec != null) hostExec.executor().close();
        if (traced != null) traced.close();
        if (mirror != null) {
            try {
                mirror.flush(); // what the tree wrote after the root's exit
            } catch (ErrnoException e) {
                log.warn("writing back to the host after the run: {}", e.getMessage());
            }
            mirror.close();
            closeQuietly(hostFiles);
        }
        deleteTree(glueDir);
    }

    private static void closeQuietly(HostFiles files) {
        try {
            files.close();
        } catch (IOException | RuntimeException e) {
            log.debug("closing the host file server: {}", e.toString());
        }
    }

    private static void deleteTree(Path dir) {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) return;
        try (var walk = Files.walk(dir)) {
            List<Path> all = new ArrayList<>(walk.toList());
            Collections.reverse(all);
            for (Path p : all) Files.deleteIfExists(p);
        } catch (IOException | RuntimeException e) {
            log.warn("cannot delete glue directory {}: {}", dir, e.getMessage());
        }
    }
}
