package io.tether.client.files;

import java.util.ArrayDeque;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One file server's share of the process's file request threads: at most {@code max} of its requests run at
 * once (the rest wait in its own queue, in order), on threads kept between runs. Why not a pool per server:
 * a run's first requests each started a thread of their own, and under load a thread start took
 * milliseconds (a cold run's ld.so.cache read waited 11.5 ms in the queue, measured); the resident front
 * door serves run after run from the same warm threads. {@link #shutdown} and {@link #awaitTermination} are
 * this server's alone, as an ExecutorService's would be.
 */
final class RequestPool implements Executor {
    private static final Logger log = LoggerFactory.getLogger(RequestPool.class);
    private static final AtomicInteger NAMES = new AtomicInteger();
    /** Idle threads live a minute: a build's runs follow one another well within it. */
    private static final ThreadPoolExecutor THREADS = new ThreadPoolExecutor(0, Integer.MAX_VALUE, 60, TimeUnit.SECONDS,
            new SynchronousQueue<>(), r -> {
                Thread t = new Thread(r, "tether-files-" + NAMES.incrementAndGet());
                t.setDaemon(true);
                return t;
            });

    private final int max;
    private final ArrayDeque<Runnable> waiting = new ArrayDeque<>();
    private int running;
    private boolean shutdown;

    RequestPool(int max) {
        if (max < 1) throw new IllegalArgumentException("threads: " + max);
        this.max = max;
    }

    @Override
    public void execute(Runnable task) {
        synchronized (this) {
            if (shutdown) throw new RejectedExecutionException("file server closed");
            if (running >= max) {
                waiting.add(task);
                return;
            }
            running++;
        }
        try {
            THREADS.execute(() -> runFrom(task));
        } catch (RejectedExecutionException e) {
            synchronized (this) {
                running--;
                notifyAll();
            }
            throw e;
        }
    }

    /** Runs {@code task}, then whatever of this server's queued meanwhile, on the same thread. */
    private void runFrom(Runnable task) {
        for (Runnable next = task; next != null; ) {
            try {
                next.run();
            } catch (RuntimeException | Error e) {
                log.warn("file request failed", e);
            }
            synchronized (this) {
                next = waiting.poll();
                if (next == null) {
                    running--;
                    notifyAll();
                }
            }
        }
    }

    /** No new tasks; those queued still run (as ExecutorService.shutdown). */
    synchronized void shutdown() {
        shutdown = true;
    }

    /** Waits until none of this server's tasks runs or waits; false if {@code timeout} passed first. */
    synchronized boolean awaitTermination(long timeout, TimeUnit unit) throws InterruptedException {
        long deadline = System.nanoTime() + unit.toNanos(timeout);
        while (running > 0 || !waiting.isEmpty()) {
            long left = deadline - System.nanoTime();
            if (left <= 0) return false;
            TimeUnit.NANOSECONDS.timedWait(this, left);
        }
        return true;
    }
}
