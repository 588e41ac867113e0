package io.tether.protocol.transport;

import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A blocking byte pump on a daemon thread of its own (fd reads and writes block, so a pool would starve):
 * the daemon's session pumps and the client's host-exec fds both run on these.
 */
public final class PumpThread {
    private static final Logger log = LoggerFactory.getLogger(PumpThread.class);

    private PumpThread() {}

    /** Runs {@code body} on a daemon thread named {@code name}; completes when it ends, logged if it threw. */
    public static CompletableFuture<Void> start(String name, Runnable body) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                body.run();
            } catch (Throwable e) {
                log.warn("{} failed", name, e);
            } finally {
                done.complete(null);
            }
        }, name);
        t.setDaemon(true);
        t.start();
        return done;
    }
}
