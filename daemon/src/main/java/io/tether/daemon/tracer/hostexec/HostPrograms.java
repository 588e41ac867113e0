package io.tether.daemon.tracer.hostexec;

import io.tether.posix.ErrnoException;
import io.tether.posix.LibC;
import io.tether.posix.Signals;
import io.tether.posix.WaitStatus;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The host programs of one run, which must not outlive it: {@link #close} (the run is over) kills those still
 * running with their process groups, and an {@link OrphanGuard} does it if this process dies first (SIGKILL).
 * Kept by whoever spawns them: {@link LocalHostExecutor} on target local, the client's HostExecServer otherwise.
 */
public final class HostPrograms implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HostPrograms.class);

    private final Map<Integer, CompletableFuture<WaitStatus>> live = new ConcurrentHashMap<>();
    private volatile boolean closed;
    private OrphanGuard guard;
    private boolean guardFailed;

    /**
     * Starts the watchdog before the first spawn; on a failure host programs run unguarded (a warning says so).
     * Call it on the thread that spawns: the watchdog is that thread's child (never the tracer's, whose
     * waitpid(-1) would reap it).
     */
    public synchronized void guard() {
        if (guard != null || guardFailed || closed) return;
        try {
            guard = OrphanGuard.start();
            log.debug("host exec guard: pid {}", guard.pid());
        } catch (ErrnoException e) {
            guardFailed = true;
            log.warn("no guard for host programs (a process killed with SIGKILL leaves them running): {}", e.getMessage());
        }
    }

    /** {@code pid} was spawned and is reaped by {@code reaped}: killed at {@link #close} or by the watchdog until then. */
    public void add(int pid, CompletableFuture<WaitStatus> reaped) {
        OrphanGuard g;
        synchronized (this) {
            g = guard;
        }
        if (g != null) tell(g, true, pid);
        live.put(pid, reaped);
        reaped.whenComplete((st, x) -> {
            live.remove(pid);
            if (g != null) tell(g, false, pid); // its pid may be reused: no longer ours to kill
        });
        if (closed) killGroup(pid, reaped); // the run ended while it started
    }

    /** Whether the run is over (no more host programs). */
    public boolean closed() {
        return closed;
    }

    /** The run is over: the host programs still running are killed with their groups, and the watchdog ends. */
    @Override
    public void close() {
        closed = true;
        live.forEach((pid, reaped) -> {
            log.warn("host exec pid {} still running at the end of the run: killed", pid);
            killGroup(pid, reaped);
        });
        OrphanGuard g;
        synchronized (this) {
            g = guard;
        }
        if (g != null) g.close();
    }

    /** SIGKILL to the program's process group (it leads its own session), then to the program. */
    public static void killGroup(int pid, CompletableFuture<WaitStatus> reaped) {
        kill(-pid, Signals.SIGKILL, reaped);
        kill(pid, Signals.SIGKILL, reaped);
    }

    /** {@code signo} to {@code pid} (a group if negative) unless the program was reaped: its pid may be someone else's by now. */
    public static void kill(int pid, int signo, CompletableFuture<WaitStatus> reaped) {
        if (reaped.isDone()) return;
        try {
            LibC.kill(pid, signo);
        } catch (ErrnoException e) {
            log.debug("signal {} to host pid {}: {}", signo, pid, e.getMessage());
        }
    }

    private static void tell(OrphanGuard g, boolean started, int pid) {
        try {
            if (started) {
                g.started(pid);
            } else {
                g.reaped(pid);
            }
        } catch (ErrnoException e) {
            log.debug("host exec guard: {}", e.getMessage());
        }
    }
}
