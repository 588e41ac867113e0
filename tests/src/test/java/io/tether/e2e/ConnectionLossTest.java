package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The connection goes away mid-session: the client ends with 255 and one line, never hangs. Each test owns its target. */
@Timeout(180)
class ConnectionLossTest {

    @ParameterizedTest(name = "--control {0}")
    @ValueSource(strings = {"no", "auto"})
    void killedDaemonEndsTheSessionWith255AndOneLine(String control) {
        try (TargetHost host = TargetHost.start("daemon-killed")) {
            String marker = KilledClientTest.uniqueSleep();
            try (Exec.Running client = host.run("sh", "-c", "echo started; sleep " + marker).control(control).startNoInput()) {
                SignalForwardingTest.awaitOutput(client, "started\n");
                host.killDaemon();
                Exec.Result r = client.await(Duration.ofSeconds(20));
                assertEquals(255, r.exit(), r::toString);
                assertEquals("started\n", r.out());
                ExitStatusTest.assertTetherMessage(r.err());
            }
            // A later run fails cleanly too (nothing listens), it does not hang on a dead agent.
            Exec.Result again = host.run("true").control(control).exec(Duration.ofSeconds(30));
            assertEquals(255, again.exit(), again::toString);
            ExitStatusTest.assertTetherMessage(again.err());
        }
    }

    @Test
    void linkDownMidSessionEndsTheClientWith255AndTheDaemonKillsTheProcess() {
        try (TargetHost host = TargetHost.start("link-down")) {
            String marker = KilledClientTest.uniqueSleep();
            try (Exec.Running client = host.run("sh", "-c", "echo started; sleep " + marker).startNoInput()) {
                SignalForwardingTest.awaitOutput(client, "started\n");
                host.linkDown();
                // No FIN, no RST: only keepalive can tell. Both sides must give up within the idle timeout.
                Exec.Result r = client.await(Duration.ofSeconds(120));
                assertEquals(255, r.exit(), r::toString);
                ExitStatusTest.assertTetherMessage(r.err());
                Poll.until(Duration.ofSeconds(60), () -> host.targetProcessesMatching(marker).isEmpty(),
                        () -> "the daemon never killed the session of the lost client: " + host.targetProcessesMatching(marker));
            }
        }
    }
}
