package io.tether.daemon.tracer;

import io.tether.daemon.guest.GuestView;
import io.tether.daemon.process.ChildProcess;
import io.tether.daemon.process.Pty;
import io.tether.daemon.process.SpawnSpec;
import io.tether.daemon.process.Spawner;
import io.tether.daemon.tracer.arch.Arch;
import io.tether.daemon.tracer.arch.Arches;
import io.tether.daemon.tracer.arch.Sys;
import io.tether.daemon.tracer.handler.ExecHandler;
import io.tether.daemon.tracer.handler.Handlers;
import io.tether.daemon.tracer.handler.SyscallHandler;
import io.tether.daemon.tracer.handler.Qemu;
import io.tether.posix.ErrnoException;
import io.tether.posix.WaitStatus;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * One guest command run under its own {@link Tracer}: what a session needs for
 * {@code tether run -r ROOTFS [-b HOST[:GUEST]]... [-w GUEST_DIR] -- CMD}. The command is searched
 * in the guest's PATH, started through the guest's interpreter or loader, with cwd {@code guestCwd};
 * fds and pty are as {@link SpawnSpec} describes. {@link #close()} kills every process of the tree
 * still alive and releases the tracer and its spawner.
 */
public final class TracedProcess implements AutoCloseable {
    private final Tracer tracer;
    private final Spawner spawner;
    private final ChildProcess child;

    private TracedProcess(Tracer tracer, Spawner spawner, ChildProcess child) {
        this.tracer = tracer;
        this.spawner = spawner;
        this.child = child;
    }

    /**
     * Starts {@code argv} (argv[0] is the command) in {@code view}.
     *
     * @param runDir private directory for the spawner's gate FIFOs
     * @param fds    child fd -> daemon fd, as {@link SpawnSpec#withFds}
     * @param pty    a pty for fds 0-2 not named in {@code fds}, or null
     */
    public static TracedProcess start(GuestView view, Path runDir, List<String> argv, List<String> env, String guestCwd,
                                      Map<Integer, Integer> fds, Pty pty, int umask) throws ErrnoException, IOException {
        Arch arch = Arches.host().orElseThrow(() -> new IllegalStateException("no tracer for " + System.getProperty("os.arch")));
        return start(view, Handlers.standard(arch), runDir, argv, env, guestCwd, fds, pty, umask);
    }

    /** As {@link #start(GuestView, Path, List, List, String, Map, Pty, int)} with these handlers (for this machine's arch). */
    public static TracedProcess start(GuestView view, Handlers handlers, Path runDir, List<String> argv, List<String> env,
                                      String guestCwd, Map<Integer, Integer> fds, Pty pty, int umask)
            throws ErrnoException, IOException {
        return start(view, handlers, runDir, argv, env, guestCwd, fds, pty, umask, null);
    }

    /**
     * As {@link #start(GuestView, Handlers, Path, List, List, String, Map, Pty, int)}; programs of another
     * machine, the first one and every one the tree executes, run under {@code qemu} if not null.
     */
    public static TracedProcess start(GuestView view, Handlers handlers, Path runDir, List<String> argv, List<String> env,
                                      String guestCwd, Map<Integer, Integer> fds, Pty pty, int umask, Qemu qemu)
            throws ErrnoException, IOException {
        return start(view, handlers, runDir, argv.get(0), argv, env, guestCwd, fds, pty, umask, qemu);
    }

    /** As above, executing the guest program {@code program} with {@code argv} (whose argv[0] may name it otherwise). */
    public static TracedProcess start(GuestView view, Handlers handlers, Path runDir, String program, List<String> argv,
                                      List<String> env, String guestCwd, Map<Integer, Integer> fds, Pty pty, int umask, Qemu qemu)
            throws ErrnoException, IOException {
        Arch arch = Arches.host().orElseThrow(() -> new IllegalStateException("no tracer for " + System.getProperty("os.arch")));
        if (qemu != null) {
            ExecHandler exec = new ExecHandler(qemu);
            for (Sys s : new Sys[] {Sys.EXECVE, Sys.EXECVEAT}) {
                SyscallHandler present = handlers.get(s);
                if (present instanceof io.tether.daemon.tracer.hostexec.HostExecHandler host) { // host exec decides first
                    handlers = handlers.with(s, new io.tether.daemon.tracer.hostexec.HostExecHandler(host.hostExec(), exec));
                } else if (present != null) {
                    handlers = handlers.with(s, exec);
                }
            }
        }
        GuestLaunch.Launch launch = GuestLaunch.prepare(view, program, argv, env, guestCwd, qemu);
        KernelRoot kernelRoot = KernelRoot.decide(view, handlers, qemu != null, launch, argv, env);
        Tracer tracer = Tracer.start(arch, view, handlers, kernelRoot);
        Spawner spawner = null;
        try {
            spawner = new Spawner(runDir, tracer, tracer);
            tracer.rootExe(launch.guestExe());
            SpawnSpec spec = SpawnSpec.of(launch.hostProgram(), launch.argv(), env, launch.hostCwd())
                    .withFds(fds).withUmask(umask);
            if (pty != null) spec = spec.withPty(pty);
            return new TracedProcess(tracer, spawner, spawner.spawn(spec));
        } catch (IOException | RuntimeException e) {
            if (spawner != null) spawner.close();
            tracer.close();
            throw e;
        }
    }

    /** The root process (its own session and process group). */
    public ChildProcess child() {
        return child;
    }

    /** The root's final status; 128+N for death by signal N is the caller's mapping. */
    public CompletableFuture<WaitStatus> exit() {
        return child.exit();
    }

    /** The shell convention for a final status: the exit code, or 128+N for death by signal N. */
    public static int exitCode(WaitStatus status) {
        return status.signaled() ? 128 + status.termSignal() : status.exitCode();
    }

    /** Sends {@code signo} to every process of the tree, in whatever group or session it is now. */
    public void signalTree(int signo) {
        tracer.signalAll(signo);
    }

    /** Completes when every traced process of the tree is gone. */
    public CompletableFuture<Void> finished() {
        return tracer.finished();
    }

    @Override
    public void close() {
        tracer.close();
        spawner.close();
    }
}
