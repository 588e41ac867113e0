package io.tether.daemon.tracer.hostexec;

import io.tether.daemon.guest.GuestView;
import io.tether.daemon.process.ChildProcess;
import io.tether.daemon.process.SpawnSpec;
import io.tether.daemon.process.Spawner;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.posix.LibC;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs host execs on the daemon's own machine: right where the target is the host (target
 * {@code local}). The guest program path and cwd are mapped to host paths through the
 * {@link GuestView}; the program starts with {@link Spawner} (posix_spawn, never ProcessBuilder or a
 * JNA fork) with the tracee's fds at the same numbers. As every spawned child it is a session leader
 * with an empty signal mask and default signal dispositions; signals reach it by forwarding.
 */
public final class LocalHostExecutor implements HostExecutor {
    private static final Logger log = LoggerFactory.getLogger(LocalHostExecutor.class);

    private final GuestView view;
    private final Path runDir;
    private Spawner spawner;

    /** {@code runDir}: the daemon's private run directory, for the spawner's gates. */
    public LocalHostExecutor(GuestView view, Path runDir) {
        this.view = view;
        this.runDir = runDir;
    }

    @Override
    public HostProcess start(HostCommand command) throws ErrnoException {
        try {
            String hostProgram = view.toHost(command.canonicalGuestPath());
            String hostCwd = view.toHost(command.guestCwd());
            SpawnSpec spec = SpawnSpec.of(hostProgram, command.argv(), command.env(), hostCwd)
                    .withFds(command.fds()).withUmask(command.umask());
            ChildProcess child;
            try {
                child = spawner().spawn(spec);
            } catch (IOException e) {
                throw new ErrnoException(Errno.EIO, "host exec " + hostProgram, e.getMessage());
            }
            log.debug("host exec {} runs as host pid {}", hostProgram, child.pid());
            return new Local(child, hostProgram);
        } finally {
            // The child has its copies (or failed): ours would keep pipes open.
            for (int fd : command.fds().values()) LibC.closeQuietly(fd);
        }
    }

    private synchronized Spawner spawner() throws IOException {
        if (spawner == null) spawner = new Spawner(runDir);
        return spawner;
    }

    @Override
    public synchronized void close() {
        if (spawner != null) spawner.close();
    }

    private static final class Local implements HostProcess {
        private final ChildProcess child;
        private final String hostProgram;
        private final CompletableFuture<HostExit> exit;

        Local(ChildProcess child, String hostProgram) {
            this.child = child;
            this.hostProgram = hostProgram;
            this.exit = child.exit().handle((s, e) -> e == null ? HostExit.of(s) : HostExit.killed(9));
        }

        @Override
        public CompletableFuture<HostExit> exit() {
            return exit;
        }

        @Override
        public void signal(int signo) {
            try {
                child.signal(signo);
            } catch (ErrnoException e) {
                log.debug("signal {} to host pid {}: {}", signo, child.pid(), e.getMessage());
            }
        }

        @Override
        public String describe() {
            return hostProgram + " (local pid " + child.pid() + ")";
        }
    }
}
