package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Many `tether run` processes at once share the one warm connection of the control agent. */
@Timeout(300)
class ConcurrencyTest {
    @RegisterExtension
    static final TargetHostExtension TARGET = new TargetHostExtension();

    private static final int SESSIONS = 50;

    @Test
    void fiftyConcurrentSessionsOverOneWarmConnectionAllGetTheirOwnOutputAndStatus() throws IOException {
        TargetHost host = TARGET.host();
        Path barrier = Files.createDirectories(host.dir.resolve("barrier"));
        Path go = host.dir.resolve("go");
        // Each session checks in, then waits for the go file: all 50 are provably alive at the same time.
        String script = "touch " + Exec.quote(barrier.toString()) + "/$0; i=0;"
                + " while [ ! -e " + Exec.quote(go.toString()) + " ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done;"
                + " head -c $((1000 * $1)) /dev/zero | tr '\\0' \"$(($1 % 10))\"; echo \" $0\"; echo \"err $0\" >&2; exit $(($1 % 7))";
        List<Exec.Running> runs = new ArrayList<>();
        try {
            for (int i = 0; i < SESSIONS; i++) {
                runs.add(host.run("sh", "-c", script, "session-" + i, Integer.toString(i)).startNoInput());
            }
            Poll.until(Duration.ofSeconds(150), () -> count(barrier) == SESSIONS || runs.stream().anyMatch(r -> !r.alive()),
                    () -> count(barrier) + " of " + SESSIONS + " sessions started");
            assertEquals(SESSIONS, count(barrier), "sessions alive at once");
            assertEquals(1, host.establishedConnections(), "SSH connections to the daemon while 50 sessions run");
            Files.createFile(go);
            for (int i = 0; i < SESSIONS; i++) {
                Exec.Result r = runs.get(i).await(Duration.ofSeconds(60));
                String digit = Integer.toString(i % 10);
                assertEquals(i % 7, r.exit(), "session " + i + ": " + r);
                assertEquals(digit.repeat(1000 * i) + " session-" + i + "\n", r.out(), "stdout of session " + i);
                assertEquals("err session-" + i + "\n", r.err(), "stderr of session " + i);
            }
        } finally {
            runs.forEach(Exec.Running::close);
        }
    }

    @Test
    void aStalledSessionDoesNotHoldUpAnotherOnTheSameConnection() {
        TargetHost host = TARGET.host();
        // The stalled session never reads its stdin while the test keeps offering it data:
        // its stream window fills, and only per-stream flow control keeps the other one moving.
        try (Exec.Running stalled = host.run("sh", "-c", "echo stalled; exec sleep 120").start()) {
            Thread feeder = new Thread(() -> {
                byte[] chunk = new byte[1 << 16];
                try {
                    while (true) {
                        stalled.stdin().write(chunk);
                    }
                } catch (java.io.IOException ignored) {
                    // the session was killed at the end of the test
                }
            }, "stalled-feeder");
            feeder.setDaemon(true);
            feeder.start();
            SignalForwardingTest.awaitOutput(stalled, "stalled\n");
            Poll.sleep(1000);
            Exec.Result r = host.run("wc", "-c").execInShell(Duration.ofSeconds(60), "head -c 50000000 /dev/zero | {TETHER}");
            assertEquals(0, r.exit(), r::toString);
            assertEquals("50000000", r.out().trim());
            assertEquals(1, host.establishedConnections(), "both sessions shared one connection");
            stalled.kill();
        }
    }

    @Test
    void warmRunsReuseTheConnection() {
        TargetHost host = TARGET.host();
        for (int i = 0; i < 5; i++) {
            Exec.Result r = host.run("echo", "warm " + i).exec(Duration.ofSeconds(30));
            assertEquals(0, r.exit(), r::toString);
            assertEquals("warm " + i + "\n", r.out());
        }
        assertEquals(1, host.establishedConnections(), "connections after five warm runs");
    }

    private static long count(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.count();
        } catch (IOException e) {
            return -1;
        }
    }
}
