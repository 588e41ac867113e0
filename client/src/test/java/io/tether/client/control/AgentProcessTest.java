package io.tether.client.control;

import io.tether.client.TetherException;
import io.tether.client.connect.Connection;
import io.tether.client.targets.Target;
import io.tether.protocol.mux.MuxConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The detached agent process end to end: a stdio-command target (a JVM running DaemonCore on
 * stdin/stdout), started on first use, reused by later front ends, gone when idle or when
 * its upstream dies.
 */
class AgentProcessTest {
    @TempDir
    Path dir;

    private Target target(String command, long persistSeconds) {
        return new Target("test", Target.Kind.STDIO, null, null, 0, null, null, false, command, Map.of(),
                Duration.ofSeconds(persistSeconds));
    }

    private String daemonCommand(Path starts) {
        String java = ProcessHandle.current().info().command().orElse("java");
        return "'" + java + "' -XX:+UseSerialGC -cp '" + System.getProperty("java.class.path") + "' "
                + StdioDaemonMain.class.getName() + " '" + starts + "' '" + dir.resolve("run") + "'";
    }

    private static MuxConfig config() {
        return MuxConfig.defaults("tether-test/0");
    }

    @AfterEach
    void killAgents() {
        // Only processes this test started: their command lines name its temporary directory.
        ProcessHandle.allProcesses()
                .filter(p -> p.info().commandLine().map(c -> c.contains(dir.toString())).orElse(false))
                .forEach(ProcessHandle::destroyForcibly);
    }

    @Test
    void firstRunStartsTheAgentAndLaterRunsReuseItsConnection() throws Exception {
        Path starts = dir.resolve("starts");
        Target t = target(daemonCommand(starts), 30);
        ControlPaths paths = ControlPaths.of(dir.resolve("control"), t);
        for (int i = 0; i < 3; i++) {
            try (Connection c = ControlClient.connectOrStart(t, paths, new AgentProcess("debug"), config())) {
                FrontEnd.Result r = FrontEnd.run(c.mux(), List.of("/bin/sh", "-c", "cat; echo \" $0\"", "run" + i), "in" + i);
                assertEquals("in" + i + " run" + i + "\n", r.stdout());
                assertEquals(0, r.exit());
            }
        }
        assertEquals(1, Files.readAllLines(starts).size(), "one upstream connection for three runs");
        assertTrue(Files.exists(paths.socket()));
        assertTrue(Files.readString(paths.log()).contains("listening on"), "the agent logs beside its socket");
        assertEquals("rwx------", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(paths.dir())));
    }

    @Test
    void agentExitsWhenIdleAndTheNextRunStartsAFreshOne() throws Exception {
        Path starts = dir.resolve("starts");
        Target t = target(daemonCommand(starts), 0);
        ControlPaths paths = ControlPaths.of(dir.resolve("control"), t);
        try (Connection c = ControlClient.connectOrStart(t, paths, new AgentProcess("debug"), config())) {
            assertEquals(0, FrontEnd.run(c.mux(), List.of("/bin/true"), "").exit());
        }
        waitUntil(() -> !Files.exists(paths.socket()), "the idle agent to remove its socket");
        try (Connection c = ControlClient.connectOrStart(t, paths, new AgentProcess("debug"), config())) {
            assertEquals(0, FrontEnd.run(c.mux(), List.of("/bin/true"), "").exit());
        }
        assertEquals(2, Files.readAllLines(starts).size());
    }

    @Test
    void upstreamDeathEndsTheAgent() throws Exception {
        Path starts = dir.resolve("starts");
        Target t = target(daemonCommand(starts), 60);
        ControlPaths paths = ControlPaths.of(dir.resolve("control"), t);
        try (Connection c = ControlClient.connectOrStart(t, paths, new AgentProcess("debug"), config())) {
            assertEquals(0, FrontEnd.run(c.mux(), List.of("/bin/true"), "").exit());
            long daemonPid = Long.parseLong(Files.readAllLines(starts).get(0).trim());
            ProcessHandle.of(daemonPid).ifPresent(ProcessHandle::destroyForcibly);
            waitUntil(() -> c.mux().terminated().isDone(), "the front end to see the agent go");
        }
        waitUntil(() -> !Files.exists(paths.socket()), "the agent to remove its socket");
        assertTrue(Files.readString(paths.log()).contains("lost"), Files.readString(paths.log()));
    }

    @Test
    void upstreamFailureReachesTheFrontEndAsOneLine() {
        Target t = target("echo not a daemon; exit 3", 30);
        ControlPaths paths = ControlPaths.of(dir.resolve("control"), t);
        TetherException e = assertThrows(TetherException.class,
                () -> ControlClient.connectOrStart(t, paths, new AgentProcess("debug"), config()));
        assertTrue(e.getMessage().contains("stdio command"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        assertFalse(Files.exists(paths.socket()));
    }

    private static void waitUntil(java.util.function.BooleanSupplier cond, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new AssertionError("timed out waiting for " + what);
            Thread.sleep(20);
        }
    }
}
