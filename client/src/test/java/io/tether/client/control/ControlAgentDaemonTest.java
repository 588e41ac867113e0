package io.tether.client.control;

import io.tether.client.connect.Connection;
import io.tether.client.connect.LocalConnection;
import io.tether.daemon.session.DaemonOptions;
import io.tether.protocol.mux.MuxConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Real processes through one control agent whose upstream is an in-process DaemonCore. */
class ControlAgentDaemonTest {
    @TempDir
    Path dir;

    private ControlAgent agent;
    private Path socket;

    private static MuxConfig config() {
        return MuxConfig.defaults("tether-test/0");
    }

    @BeforeEach
    void start() throws Exception {
        Connection upstream = LocalConnection.open(config(), DaemonOptions.defaults().withRunDir(dir.resolve("run"))
                .withKillGrace(Duration.ofMillis(500)));
        socket = dir.resolve("agent.sock");
        agent = new ControlAgent(upstream, socket, Duration.ofMinutes(1));
        agent.start();
    }

    @AfterEach
    void stop() {
        agent.close();
    }

    @Test
    void twoSequentialRunsThroughOneAgent() throws Exception {
        for (int i = 0; i < 2; i++) {
            try (Connection c = ControlClient.connect(socket, config())) {
                FrontEnd.Result r = FrontEnd.run(c.mux(), List.of("/bin/sh", "-c", "tr a-z A-Z; exit " + (40 + i)), "run " + i);
                assertEquals("RUN " + i, r.stdout());
                assertEquals(40 + i, r.exit());
                assertTrue(r.started());
            }
        }
    }

    @Test
    void concurrentRunsThroughOneAgent() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(10);
        try {
            List<Future<FrontEnd.Result>> results = new ArrayList<>();
            for (int i = 0; i < 10; i++) {
                int n = i;
                results.add(pool.submit(() -> {
                    try (Connection c = ControlClient.connect(socket, config())) {
                        return FrontEnd.run(c.mux(), List.of("/bin/sh", "-c", "sleep 0.2; wc -c; exit " + n), "x".repeat(50_000 * (n + 1)));
                    }
                }));
            }
            for (int i = 0; i < results.size(); i++) {
                FrontEnd.Result r = results.get(i).get(60, TimeUnit.SECONDS);
                assertEquals(Integer.toString(50_000 * (i + 1)), r.stdout().trim());
                assertEquals(i, r.exit());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void killedFrontEndsProcessIsKilledOnTheTarget() throws Exception {
        Path pidFile = dir.resolve("pid");
        Connection c = ControlClient.connect(socket, config());
        Thread session = new Thread(() -> {
            try {
                FrontEnd.run(c.mux(), List.of("/bin/sh", "-c", "echo $$ > " + pidFile + "; exec sleep 1000"), "");
            } catch (Exception expected) {
                // the connection is cut below
            }
        });
        session.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!Files.exists(pidFile) || Files.readString(pidFile).isBlank()) {
            assertTrue(System.nanoTime() < deadline, "the remote process never started");
            Thread.sleep(10);
        }
        long pid = Long.parseLong(Files.readString(pidFile).trim());
        assertTrue(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false));
        c.mux().transport().close(); // the front end dies without a word
        deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            Optional<ProcessHandle> p = ProcessHandle.of(pid);
            if (p.isEmpty() || !p.get().isAlive()) break;
            assertTrue(System.nanoTime() < deadline, "process " + pid + " outlived its front end");
            Thread.sleep(20);
        }
        session.join(5000);
    }
}
