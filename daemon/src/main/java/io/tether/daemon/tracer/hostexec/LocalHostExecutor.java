package io.tether.daemon.tracer.hostexec;

import io.tether.daemon.guest.GuestView;
import io.tether.daemon.process.Spawner;
import io.tether.daemon.process.ThreadReaper;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.posix.LibC;
import io.tether.posix.SpawnAttributes;
import io.tether.posix.SpawnFileActions;
import io.tether.posix.WaitStatus;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs host execs on the daemon's own machine: right where the target is the host (target
 * {@code local}). The guest program path and cwd are mapped to host paths through the
 * {@link GuestView}; the program is started with glibc posix_spawn (never ProcessBuilder or a JNA
 * fork) with the tracee's fds at the same numbers, as a session leader with an empty signal mask and
 * default signal dispositions, as every child the daemon spawns; signals reach it by forwarding.
 *
 * <p>Not through {@link Spawner}: its gate exists to let a tracer attach before execve, which a host
 * program does not want, and costs milliseconds per spawn. The spawns run on a thread of their own,
 * never the tracer's: the tracer's waitpid(-1, __WNOTHREAD) would reap its own thread's children.
 * {@link HostPrograms} kills the programs still running at the end of the run ({@link #close}), as the
 * remote client does, and if this process dies first (SIGKILL of a JVM client or front door).
 */
public final class LocalHostExecutor implements HostExecutor {
    private static final Logger log = LoggerFactory.getLogger(LocalHostExecutor.class);

    private final GuestView view;
    private final ExecutorService spawnThread = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "tether-hostexec-spawn");
        t.setDaemon(true);
        return t;
    });

    private final HostPrograms programs = new HostPrograms();

    public LocalHostExecutor(GuestView view) {
        this.view = view;
    }

    /** As {@link #LocalHostExecutor(GuestView)}; {@code runDir} is not needed (kept for callers). */
    public LocalHostExecutor(GuestView view, java.nio.file.Path runDir) {
        this(view);
    }

    @Override
    public HostProcess start(HostCommand command) throws ErrnoException {
        try {
            String hostProgram = view.toHost(command.canonicalGuestPath());
            String hostCwd = view.toHost(command.guestCwd());
            Future<Integer> spawned = spawnThread.submit(() -> {
                programs.guard(); // the watchdog too is no child of the tracer's thread
                return spawn(hostProgram, hostCwd, command);
            });
            int pid;
            try {
                pid = spawned.get();
            } catch (ExecutionException e) {
                if (e.getCause() instanceof ErrnoException ee) throw ee;
                throw new ErrnoException(Errno.EIO, "host exec " + hostProgram, String.valueOf(e.getCause()));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ErrnoException(Errno.EINTR, "host exec", hostProgram);
            } catch (java.util.concurrent.RejectedExecutionException e) {
                throw new ErrnoException(Errno.EIO, "host exec", hostProgram + ": executor closed");
            }
            log.debug("host exec {} runs as host pid {}", hostProgram, pid);
            CompletableFuture<WaitStatus> reaped = new ThreadReaper().watch(pid);
            programs.add(pid, reaped);
            return new Local(pid, hostProgram, reaped);
        } finally {
            // The child has its copies (or failed): ours would keep pipes open.
            for (int fd : command.fds().values()) LibC.closeQuietly(fd);
        }
    }

    /**
     * posix_spawn of {@code hostProgram} in {@code hostCwd} with {@code command}'s argv, env, umask and fds
     * (program fd -> this process's fd), a session leader with an empty signal mask and default
     * dispositions; the fds go through temporaries above every number in play, so no mapping clobbers
     * another's source. Also the client's spawn for a remote host exec. Returns the pid.
     */
    public static int spawn(String hostProgram, String hostCwd, HostCommand command) throws ErrnoException {
        Map<Integer, Integer> map = new TreeMap<>(command.fds());
        try (SpawnFileActions a = new SpawnFileActions(); SpawnAttributes attr = new SpawnAttributes()) {
            a.chdir(hostCwd);
            int top = 2;
            for (var e : map.entrySet()) top = Math.max(top, Math.max(e.getKey(), e.getValue()));
            int tmp = top + 1;
            Map<Integer, Integer> staged = new TreeMap<>();
            for (var e : map.entrySet()) {
                a.dup2(e.getValue(), tmp);
                staged.put(e.getKey(), tmp++);
            }
            for (var e : staged.entrySet()) a.dup2(e.getValue(), e.getKey());
            for (int fd = 0; fd <= 2; fd++) {
                if (!map.containsKey(fd)) a.open(fd, "/dev/null", LibC.O_RDWR, 0);
            }
            int maxTarget = 2;
            for (int fd : map.keySet()) maxTarget = Math.max(maxTarget, fd);
            for (int fd = 3; fd <= maxTarget; fd++) {
                if (!map.containsKey(fd)) a.close(fd);
            }
            a.closeFrom(maxTarget + 1);
            attr.flags((short) (LibC.POSIX_SPAWN_SETSID | LibC.POSIX_SPAWN_SETSIGMASK | LibC.POSIX_SPAWN_SETSIGDEF))
                    .emptySignalMask().defaultAllSignals();
            synchronized (Spawner.UMASK_LOCK) {
                int old = LibC.umask(command.umask());
                try {
                    return LibC.posixSpawn(hostProgram, a, attr, command.argv(), command.env());
                } finally {
                    LibC.umask(old);
                }
            }
        }
    }

    /** The run is over: no more host execs; the host programs still running are killed with their groups. */
    @Override
    public void close() {
        spawnThread.shutdown();
        programs.close();
    }

    private static final class Local implements HostProcess {
        private final int pid;
        private final String hostProgram;
        private final CompletableFuture<WaitStatus> reaped;
        private final CompletableFuture<HostExit> exit;

        Local(int pid, String hostProgram, CompletableFuture<WaitStatus> reaped) {
            this.pid = pid;
            this.hostProgram = hostProgram;
            this.reaped = reaped;
            this.exit = reaped.handle((s, e) -> e == null ? HostExit.of(s) : HostExit.killed(9));
        }

        @Override
        public CompletableFuture<HostExit> exit() {
            return exit;
        }

        @Override
        public void signal(int signo) {
            if (reaped.isDone()) return; // its pid may be someone else's by now
            try {
                LibC.kill(pid, signo);
            } catch (ErrnoException e) {
                log.debug("signal {} to host pid {}: {}", signo, pid, e.getMessage());
            }
        }

        @Override
        public String describe() {
            return hostProgram + " (local pid " + pid + ")";
        }
    }
}
