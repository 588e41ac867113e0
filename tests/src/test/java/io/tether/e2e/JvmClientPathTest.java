package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The JVM client path (TETHER_NO_FE=1: no native front end, no front door), which machines
 * without a C compiler always take and other tests mostly bypass once a door is up.
 */
@Timeout(120)
class JvmClientPathTest {
    @RegisterExtension
    static final TargetHostExtension TARGET = new TargetHostExtension();

    private static final Duration T = Duration.ofSeconds(60);

    private static TetherRun jvm(String... command) {
        return TARGET.host().run(command).clientEnv("TETHER_NO_FE", "1");
    }

    @Test
    void binaryStdioAndExitStatus() {
        byte[] input = new byte[1 << 20];
        new Random(5).nextBytes(input);
        Exec.Result r = jvm("sh", "-c", "cat; exit 42").exec(T, input);
        assertEquals(42, r.exit(), r::toString);
        assertArrayEquals(input, r.stdout());
    }

    @Test
    void killedBySignalGives128PlusN() {
        Exec.Result r = jvm("sh", "-c", "kill -TERM $$").exec(T);
        assertEquals(143, r.exit(), r::toString);
    }

    @Test
    void sigintToTheClientReachesARemoteTrap() {
        try (Exec.Running tether = jvm("sh", "-c", "trap 'echo got INT; exit 9' INT; echo ready; while :; do sleep 0.1; done")
                .startNoInput()) {
            SignalForwardingTest.awaitOutput(tether, "ready\n");
            SignalForwardingTest.kill("INT", tether.pid());
            Exec.Result r = tether.await(T);
            assertEquals(9, r.exit(), r::toString);
            assertEquals("ready\ngot INT\n", r.out());
        }
    }

    @Test
    void forwardedFdsAndForcedTty() throws IOException {
        Path log = TARGET.host().dir.resolve("jvm-fd3.log");
        Exec.Result r = jvm("sh", "-c", "echo three >&3; tty").option("--tty")
                .execInShell(T, "{TETHER} 3>" + Exec.quote(log.toString()));
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.out().contains("/dev/pts/"), r::toString);
        assertEquals("three\n", Files.readString(log));
    }
}
