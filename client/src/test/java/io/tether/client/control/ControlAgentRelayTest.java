package io.tether.client.control;

import io.tether.client.connect.Connection;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.Direction;
import io.tether.protocol.proto.FdSpec;
import io.tether.protocol.proto.SessionMessage;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The agent's relay against a fake daemon: stream ids rewritten, data, ends and resets spliced. */
class ControlAgentRelayTest {
    @TempDir
    Path dir;

    private ControlAgent agent;

    @AfterEach
    void close() {
        if (agent != null) agent.close();
    }

    private Path startAgent(FakeDaemon daemon, Duration persist) throws IOException {
        Path socket = dir.resolve("a.sock");
        agent = new ControlAgent(FakeDaemon.connect(daemon), socket, persist);
        agent.start();
        return socket;
    }

    private static MuxConfig config() {
        return MuxConfig.defaults("tether-test/0");
    }

    @Test
    void runThroughAgentRewritesFdStreamIdsAndRelaysDataAndExit() throws Exception {
        FakeDaemon daemon = new FakeDaemon();
        Path socket = startAgent(daemon, Duration.ofMinutes(1));
        try (Connection a = ControlClient.connect(socket, config())) {
            // Another front end's run first, so this front end's ids and the upstream's differ.
            assertEquals(1, FrontEnd.run(a.mux(), List.of("warmup"), "").exit());
        }
        try (Connection c = ControlClient.connect(socket, config())) {
            assertTrue(c.mux().ready().join().getAgent().endsWith("fake-daemon/0"), c.mux().ready().join().getAgent());
            FrontEnd.Result r = FrontEnd.run(c.mux(), List.of("echo", "a", "b"), "hello");
            assertEquals("echo:HELLO", r.stdout());
            assertEquals(3, r.exit());
            assertTrue(r.started());
        }
        io.tether.protocol.proto.RunRequest last = daemon.requests.get(1);
        // The two fd streams are accepted concurrently, so either may have been opened upstream first.
        assertEquals(java.util.Set.of(7, 9), java.util.Set.copyOf(last.getFdsList().stream().map(FdSpec::getStreamId).toList()),
                "front-end ids 1 and 3 rewritten to the upstream's 7 and 9");
        assertEquals(Direction.TO_PROCESS, last.getFds(0).getDirection());
    }

    @Test
    void twoSequentialFrontEndsShareOneUpstream() throws Exception {
        FakeDaemon daemon = new FakeDaemon();
        Path socket = startAgent(daemon, Duration.ofMinutes(1));
        for (int i = 0; i < 2; i++) {
            try (Connection c = ControlClient.connect(socket, config())) {
                FrontEnd.Result r = FrontEnd.run(c.mux(), List.of("run" + i), "x" + i);
                assertEquals("run" + i + ":X" + i, r.stdout());
                assertEquals(1, r.exit());
            }
        }
        assertEquals(2, daemon.requests.size());
    }

    @Test
    void concurrentFrontEndsRunAtOnce() throws Exception {
        FakeDaemon daemon = new FakeDaemon();
        Path socket = startAgent(daemon, Duration.ofMinutes(1));
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<FrontEnd.Result>> results = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                int n = i;
                results.add(pool.submit(() -> {
                    try (Connection c = ControlClient.connect(socket, config())) {
                        return FrontEnd.run(c.mux(), List.of("job" + n, "x"), "input " + n + " " + "z".repeat(100_000));
                    }
                }));
            }
            for (int i = 0; i < results.size(); i++) {
                FrontEnd.Result r = results.get(i).get(30, TimeUnit.SECONDS);
                assertEquals("job" + i + ":INPUT " + i + " " + "Z".repeat(100_000), r.stdout());
                assertEquals(2, r.exit());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void frontEndGoneResetsItsRunUpstream() throws Exception {
        FakeDaemon daemon = new FakeDaemon();
        Path socket = startAgent(daemon, Duration.ofMinutes(1));
        Connection c = ControlClient.connect(socket, config());
        FrontEnd.startWaiting(c.mux());
        c.mux().transport().close(); // killed client: no orderly shutdown
        waitFor(() -> !daemon.resets.isEmpty(), "the daemon's run stream to be reset");
        assertTrue(daemon.resets.get(0).contains("reset"), daemon.resets.toString());
        waitFor(() -> agent.frontEndCount() == 0, "the agent to forget the front end");
    }

    @Test
    void upstreamLostCutsFrontEndsOffAndEndsTheAgent() throws Exception {
        FakeDaemon daemon = new FakeDaemon();
        Path socket = dir.resolve("b.sock");
        Connection upstream = FakeDaemon.connect(daemon);
        agent = new ControlAgent(upstream, socket, Duration.ofMinutes(1));
        agent.start();
        try (Connection c = ControlClient.connect(socket, config())) {
            MuxStream run = FrontEnd.startWaiting(c.mux());
            upstream.mux().transport().close(); // the SSH connection drops
            assertThrows(IOException.class, () -> {
                while (run.receive(SessionMessage.parser()) != null) { /* drain */ }
            });
            // Cut off rather than refused: the front end's session reads "lost the connection".
            assertTrue(c.mux().terminated().isCompletedExceptionally(), "the front end's connection failed");
        }
        assertEquals(ControlAgent.Outcome.UPSTREAM_LOST, agent.ended().get(10, TimeUnit.SECONDS));
        assertFalse(Files.exists(socket), "the socket goes with the agent");
    }

    @Test
    void idleAgentExitsAfterPersistWithoutFrontEnds() throws Exception {
        Path socket = startAgent(new FakeDaemon(), Duration.ZERO);
        try (Connection c = ControlClient.connect(socket, config())) {
            assertEquals(1, FrontEnd.run(c.mux(), List.of("one"), "").exit());
        }
        assertEquals(ControlAgent.Outcome.IDLE, agent.ended().get(10, TimeUnit.SECONDS));
        assertFalse(Files.exists(socket));
    }

    @Test
    void idleAgentStaysWhileAFrontEndIsConnected() throws Exception {
        Path socket = startAgent(new FakeDaemon(), Duration.ofMillis(200));
        try (Connection c = ControlClient.connect(socket, config())) {
            Thread.sleep(800);
            assertFalse(agent.ended().isDone());
            assertEquals(1, FrontEnd.run(c.mux(), List.of("still-here"), "").exit());
        }
        assertEquals(ControlAgent.Outcome.IDLE, agent.ended().get(10, TimeUnit.SECONDS));
    }

    @Test
    void agentWhoseSocketWasRemovedExits() throws Exception {
        Path socket = startAgent(new FakeDaemon(), Duration.ofMinutes(1));
        Files.delete(socket);
        assertEquals(ControlAgent.Outcome.CLOSED, agent.ended().get(10, TimeUnit.SECONDS));
    }

    private static void waitFor(java.util.function.BooleanSupplier cond, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new AssertionError("timed out waiting for " + what);
            Thread.sleep(10);
        }
    }
}
