package io.tether.client.control;

import io.tether.client.Version;
import io.tether.client.connect.Connection;
import io.tether.client.connect.UnixSocketTransport;
import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.proto.Hello;
import io.tether.protocol.proto.ResetCode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Holds one warm upstream connection and serves front ends ({@code tether run}) on a Unix
 * socket, like ssh's ControlMaster. Each front-end connection runs a SERVER-role mux whose
 * streams are relayed upstream by a {@link FrontEndRelay}. The agent ends when the upstream is
 * lost (front ends see their streams reset: "connection lost") or after {@code persist} with
 * no front end connected.
 */
public final class ControlAgent implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ControlAgent.class);

    /** Why the agent ended. */
    public enum Outcome { IDLE, UPSTREAM_LOST, CLOSED }

    private final Connection upstream;
    private final Path socketPath;
    private final Duration persist;
    private final ExecutorService pumps;
    private final ScheduledExecutorService timer;
    private final Object lock = new Object();
    private final Set<Mux> frontEnds = new HashSet<>();
    private final CompletableFuture<Outcome> ended = new CompletableFuture<>();
    private ServerSocketChannel server;
    private long idleSinceNanos = System.nanoTime();
    private boolean everConnected;
    private boolean closing;
    /** The front end that started us needs a moment to connect, even with a persist of 0. */
    private static final Duration FIRST_CONNECT_GRACE = Duration.ofSeconds(10);

    public ControlAgent(Connection upstream, Path socketPath, Duration persist) {
        this.upstream = upstream;
        this.socketPath = socketPath;
        this.persist = persist;
        AtomicInteger n = new AtomicInteger();
        this.pumps = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(null, r, "agent-pump-" + n.incrementAndGet(), 256 * 1024);
            t.setDaemon(true);
            return t;
        });
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "agent-idle");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Binds the socket (replacing a stale file: the caller holds the agent lock) and starts
     * accepting front ends.
     */
    public void start() throws IOException {
        Files.deleteIfExists(socketPath);
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socketPath));
        upstream.mux().terminated().whenComplete((v, e) -> upstreamEnded(e == null ? "connection closed" : rootMessage(e)));
        Thread accept = new Thread(this::acceptLoop, "agent-accept");
        accept.setDaemon(true);
        accept.start();
        long tick = Math.max(100, Math.min(1000, persist.toMillis() / 4));
        timer.scheduleWithFixedDelay(this::idleCheck, tick, tick, TimeUnit.MILLISECONDS);
        log.info("control agent for {} listening on {} (persist {} s)", upstream.describe(), socketPath, persist.toSeconds());
    }

    /** Completes when the agent has ended and cleaned up. */
    public CompletableFuture<Outcome> ended() { return ended; }

    /** Number of connected front ends. */
    public int frontEndCount() {
        synchronized (lock) { return frontEnds.size(); }
    }

    @Override
    public void close() {
        shutdown(Outcome.CLOSED, "agent closed");
    }

    private void acceptLoop() {
        while (true) {
            SocketChannel ch;
            try {
                ch = server.accept();
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException e) {
                log.warn("control socket accept failed: {}", e.getMessage());
                shutdown(Outcome.CLOSED, "accept failed");
                return;
            }
            serve(ch);
        }
    }

    private void serve(SocketChannel ch) {
        Hello up = upstream.mux().ready().getNow(null);
        MuxConfig base = upstream.mux().config();
        // Show the front end what the daemon offers: its architecture and features.
        MuxConfig config = up == null ? base : new MuxConfig(Version.AGENT + " agent for " + up.getAgent(), up.getArch(),
                up.getFeaturesList(), base.streamWindow(), base.connectionWindow(), base.keepaliveInterval(),
                base.idleTimeout(), base.helloTimeout());
        FrontEndRelay relay = new FrontEndRelay(upstream.mux(), pumps);
        Mux front;
        synchronized (lock) {
            if (closing) {
                closeQuietly(ch);
                return;
            }
            front = Mux.start(new UnixSocketTransport(ch, "front end"), Mux.Role.SERVER, config, relay);
            frontEnds.add(front);
            everConnected = true;
        }
        log.debug("front end connected ({} now)", frontEndCount());
        front.terminated().whenCompleteAsync((v, e) -> {
            relay.frontEndGone(e == null ? "closed" : rootMessage(e));
            synchronized (lock) {
                frontEnds.remove(front);
                if (frontEnds.isEmpty()) idleSinceNanos = System.nanoTime();
            }
            log.debug("front end gone ({} left)", frontEndCount());
        }, pumps);
    }

    private void idleCheck() {
        if (!Files.exists(socketPath)) {
            // Someone removed our socket (a tmp cleaner): no front end can reach us any more, and
            // while we hold the lock no new agent would start. Make way.
            log.warn("control socket {} is gone: exiting", socketPath);
            shutdown(Outcome.CLOSED, "socket removed");
            return;
        }
        synchronized (lock) {
            if (closing || !frontEnds.isEmpty()) return;
            Duration wait = everConnected ? persist : max(persist, FIRST_CONNECT_GRACE);
            if (System.nanoTime() - idleSinceNanos < wait.toNanos()) return;
        }
        log.info("no front end for {} s: exiting", persist.toSeconds());
        shutdown(Outcome.IDLE, "idle");
    }

    private void upstreamEnded(String why) {
        synchronized (lock) {
            if (closing) return;
        }
        log.warn("upstream {} lost: {}", upstream.describe(), why);
        shutdown(Outcome.UPSTREAM_LOST, "connection lost: " + why);
    }

    private void shutdown(Outcome outcome, String why) {
        Set<Mux> fronts;
        synchronized (lock) {
            if (closing) return;
            closing = true;
            fronts = new HashSet<>(frontEnds);
        }
        // Remove the socket first so new front ends start a fresh agent instead of finding us.
        try {
            Files.deleteIfExists(socketPath);
        } catch (IOException e) {
            log.debug("removing {}: {}", socketPath, e.getMessage());
        }
        closeQuietly(server);
        for (Mux m : fronts) {
            if (outcome == Outcome.UPSTREAM_LOST) {
                // Cut the front ends off: their sessions then end as "lost the connection to
                // TARGET" (an orderly go-away or per-stream resets would read as refusals).
                closeQuietly(m.transport());
            } else {
                m.goAway(ResetCode.RESET_SHUTDOWN, why);
                m.close();
            }
        }
        upstream.close();
        timer.shutdownNow();
        // The pump pool is left to idle out: callbacks of streams still closing run on it.
        ended.complete(outcome);
    }

    private static Duration max(Duration a, Duration b) {
        return a.compareTo(b) >= 0 ? a : b;
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while ((t instanceof java.util.concurrent.CompletionException || t instanceof java.util.concurrent.ExecutionException)
                && t.getCause() != null) {
            t = t.getCause();
        }
        return String.valueOf(t.getMessage());
    }

    private static void closeQuietly(java.io.Closeable c) {
        if (c == null) return;
        try {
            c.close();
        } catch (IOException e) {
            log.debug("close: {}", e.getMessage());
        }
    }
}
