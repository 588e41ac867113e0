package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** A client that dies (kill -9) leaves no remote processes behind, and the daemon keeps serving others. */
@Timeout(120)
class KilledClientTest {
    @RegisterExtension
    static final TargetHostExtension TARGET = new TargetHostExtension();

    private static final Duration CLEANUP = Duration.ofSeconds(8); // SIGHUP, then SIGKILL after 2 s, plus slack for a loaded machine

    @ParameterizedTest(name = "--control {0}")
    @ValueSource(strings = {"no", "auto"})
    void killedClientsRemoteProcessesAreGoneAndOtherSessionsContinue(String control) {
        TargetHost host = TARGET.host();
        String marker = uniqueSleep();
        java.nio.file.Path release = host.dir.resolve("release-" + System.nanoTime());
        // The other session waits for the test's go-ahead, so it provably outlives the victim's clean-up.
        String otherScript = "echo started; i=0; while [ ! -e '" + release + "' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done;"
                + " echo other-ok";
        // The victim's remote side ignores SIGHUP, so only the SIGKILL escalation can end it.
        try (Exec.Running other = host.run("sh", "-c", otherScript).control(control).startNoInput();
             Exec.Running victim = host.run("sh", "-c", "trap '' HUP; sleep " + marker + " & sleep " + marker + "; wait")
                     .control(control).startNoInput()) {
            SignalForwardingTest.awaitOutput(other, "started\n");
            Poll.until(Duration.ofSeconds(30), () -> host.targetProcessesMatching(marker).values().stream()
                            .filter(c -> c.equals("sleep " + marker)).count() == 2 || !victim.alive(),
                    () -> "remote sleeps never started: " + victim.errSoFar());
            Exec.check(Duration.ofSeconds(5), "kill", "-KILL", Long.toString(victim.pid()));
            Poll.until(CLEANUP, () -> host.targetProcessesMatching(marker).isEmpty(),
                    () -> "orphans of the killed client: " + host.targetProcessesMatching(marker));
            assertTrue(other.alive(), "the other session is still running");
            touch(release);
            Exec.Result r = other.await(Duration.ofSeconds(30));
            assertEquals(0, r.exit(), r::toString);
            assertEquals("started\nother-ok\n", r.out());
        }
        Exec.Result after = host.run("echo", "still serving").control(control).exec(Duration.ofSeconds(30));
        assertEquals(0, after.exit(), after::toString);
        assertEquals("still serving\n", after.out());
        Poll.until(CLEANUP, () -> host.targetProcesses().isEmpty(), () -> "left on the target: " + host.targetProcesses());
    }

    @Test
    void killedControlAgentEndsItsClientsWith255AndTheirRemoteProcesses() {
        TargetHost host = TARGET.host();
        Exec.Result warm = host.run("true").exec(Duration.ofSeconds(30));
        assertEquals(0, warm.exit(), warm::toString);
        String marker = uniqueSleep();
        try (Exec.Running client = host.run("sleep", marker).startNoInput()) {
            Poll.until(Duration.ofSeconds(30), () -> !host.targetProcessesMatching(marker).isEmpty() || !client.alive(),
                    () -> "remote sleep never started: " + client.errSoFar());
            // Only the agent (`Tether agent ...`): a resident front door, if any, stays up.
            Set<Long> agents = new TreeSet<>();
            for (long pid : TargetHost.pids(host.hostNs)) {
                if (pid != client.pid() && TargetHost.cmdline(pid).contains("io.tether.client.Tether agent ")) {
                    agents.add(pid);
                }
            }
            assertFalse(agents.isEmpty(), "a control agent process in the client's namespace");
            for (long pid : agents) {
                Exec.run(Duration.ofSeconds(5), "kill", "-KILL", Long.toString(pid));
            }
            Exec.Result r = client.await(Duration.ofSeconds(20));
            assertEquals(255, r.exit(), r::toString);
            ExitStatusTest.assertTetherMessage(r.err());
            Poll.until(CLEANUP, () -> host.targetProcessesMatching(marker).isEmpty(),
                    () -> "orphans of the killed agent: " + host.targetProcessesMatching(marker));
        }
        // The next run starts a new agent.
        Exec.Result again = host.run("echo", "new agent").exec(Duration.ofSeconds(30));
        assertEquals(0, again.exit(), again::toString);
        assertEquals("new agent\n", again.out());
    }

    static String uniqueSleep() {
        return "4321." + (100000 + (System.nanoTime() & 0x7ffff) % 900000);
    }

    private static void touch(java.nio.file.Path file) {
        try {
            java.nio.file.Files.createFile(file);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
