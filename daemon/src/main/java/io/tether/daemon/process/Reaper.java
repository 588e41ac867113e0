package io.tether.daemon.process;

import io.tether.posix.WaitStatus;

import java.util.concurrent.CompletableFuture;

/**
 * Collects the exit status of a spawned child. Pluggable because only one thread may wait
 * for a given child: a traced child is reaped by its tracer's thread, the others by
 * {@link ThreadReaper}.
 */
@FunctionalInterface
public interface Reaper {
    /** Starts watching {@code pid}; the future completes with its final status. */
    CompletableFuture<WaitStatus> watch(int pid);
}
