package io.tether.daemon.tracer.hostexec;

import io.tether.daemon.process.ThreadReaper;
import io.tether.posix.ErrnoException;
import io.tether.posix.LibC;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/**
 * Kills the host programs of a process that ends without its cleanup (SIGKILL, a crash): the client's for a
 * remote target, the in-process daemon's ({@link LocalHostExecutor}) for target local. A small /bin/sh
 * watchdog, a session of its own, reads "+ PID" (started) and "- PID" (reaped) lines on a pipe whose only
 * writer is this process (close-on-exec: no host program inherits it). At end of file, whenever and however
 * this process ends, it SIGKILLs the process group of every program still listed: each is a session leader,
 * so what it started in its group dies with it. A wrapper setting PR_SET_PDEATHSIG per program would cost an
 * exec per host exec, lose a custom argv[0] and spare the program's children.
 */
public final class OrphanGuard implements AutoCloseable {
    private static final String SCRIPT = String.join("\n",
            "pids=' '",
            "while read -r op pid; do",
            "  case $op$pids in",
            "    +*) pids=\"$pids$pid \" ;;",
            "    -*\" $pid \"*) pids=\"${pids%% $pid *} ${pids#* $pid }\" ;;",
            "  esac",
            "done",
            "for p in $pids; do kill -KILL -\"$p\" \"$p\" 2>/dev/null; done",
            "");

    private final int pid;
    private final int writeFd;
    private boolean closed;

    private OrphanGuard(int pid, int writeFd) {
        this.pid = pid;
        this.writeFd = writeFd;
    }

    /** Starts the watchdog (reaped here while this process lives). */
    public static OrphanGuard start() throws ErrnoException {
        int[] p = LibC.pipe(LibC.O_CLOEXEC);
        try {
            HostCommand sh = new HostCommand("/bin/sh", "/bin/sh", List.of("sh", "-c", SCRIPT),
                    List.of("PATH=/usr/bin:/bin"), "/", 022, Map.of(0, p[0]));
            int pid = LocalHostExecutor.spawn("/bin/sh", "/", sh);
            new ThreadReaper().watch(pid);
            return new OrphanGuard(pid, p[1]);
        } catch (ErrnoException | RuntimeException e) {
            LibC.closeQuietly(p[1]);
            throw e;
        } finally {
            LibC.closeQuietly(p[0]);
        }
    }

    public int pid() { return pid; }

    /** A host program started: killed with its group if this process dies first. */
    public void started(int programPid) throws ErrnoException {
        send("+ " + programPid + "\n");
    }

    /** A host program was reaped: its pid may be reused, so it is no longer killed. */
    public void reaped(int programPid) throws ErrnoException {
        send("- " + programPid + "\n");
    }

    private synchronized void send(String line) throws ErrnoException {
        if (closed) return;
        byte[] b = line.getBytes(StandardCharsets.US_ASCII);
        LibC.writeFully(writeFd, b, 0, b.length);
    }

    /** End of file for the watchdog: it kills what is still listed and exits. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        LibC.closeQuietly(writeFd);
    }
}
