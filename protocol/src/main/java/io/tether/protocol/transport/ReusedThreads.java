package io.tether.protocol.transport;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Platform daemon threads for blocking jobs that last a run: byte pumps (fd reads and writes block, so a
 * bounded pool would starve), a files stream's readers, a session's end. They are kept for the next
 * run: each job on a thread of its own cost a run one thread start (0.5-1 ms on a busy two-core board,
 * the starter waiting for the new thread to be scheduled), and a short run has several. Unbounded; a
 * thread idle for a minute ends. A job's thread carries the job's name while it runs. Never for a job
 * that someone interrupts or that must keep its thread (a tracer): the thread is not the job's own.
 */
public final class ReusedThreads {
    private static final Logger log = LoggerFactory.getLogger(ReusedThreads.class);
    private static final String IDLE = "reused-idle";
    private static final ExecutorService POOL = new ThreadPoolExecutor(0, Integer.MAX_VALUE, 60, TimeUnit.SECONDS,
            new SynchronousQueue<>(), r -> {
                Thread t = new Thread(r, IDLE);
                t.setDaemon(true);
                return t;
            });

    private ReusedThreads() {}

    /** Runs {@code body} on a daemon thread named {@code name}; completes when it ends, logged if it threw. */
    public static CompletableFuture<Void> start(String name, Runnable body) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        POOL.execute(() -> {
            Thread self = Thread.currentThread();
            self.setName(name);
            try {
                body.run();
            } catch (Throwable e) {
                log.warn("{} failed", name, e);
            } finally {
                self.setName(IDLE);
                Thread.interrupted(); // the next job starts clean
                done.complete(null);
            }
        });
        return done;
    }

    /** An executor running each task as {@link #start}{@code (name, task)}. */
    public static Executor named(String name) {
        return task -> start(name, task);
    }
}
