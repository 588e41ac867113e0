package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** stdin, stdout and stderr of a remote process, over the embedded SSH server in a namespace. */
@Timeout(120)
class StdioTest {
    @RegisterExtension
    static final TargetHostExtension TARGET = new TargetHostExtension();

    private static final Duration T = Duration.ofSeconds(60);

    @Test
    void randomBytesComeBackUnchangedThroughCat() {
        byte[] input = new byte[4 << 20];
        new Random(42).nextBytes(input);
        Exec.Result r = TARGET.host().run("cat").exec(T, input);
        assertEquals(0, r.exit(), r::toString);
        assertEquals(input.length, r.stdout().length, "byte count");
        assertArrayEquals(input, r.stdout());
    }

    @Test
    void everyByteValueSurvivesBothDirections() {
        byte[] all = new byte[256 * 64];
        for (int i = 0; i < all.length; i++) {
            all[i] = (byte) i;
        }
        Exec.Result r = TARGET.host().run("sh", "-c", "cat; printf '\\000\\377\\r\\n'").exec(T, all);
        assertEquals(0, r.exit(), r::toString);
        byte[] expected = new byte[all.length + 4];
        System.arraycopy(all, 0, expected, 0, all.length);
        expected[all.length] = 0;
        expected[all.length + 1] = (byte) 0xff;
        expected[all.length + 2] = '\r';
        expected[all.length + 3] = '\n';
        assertArrayEquals(expected, r.stdout());
    }

    @Test
    @Timeout(90)
    void twoHundredMebibytesOfStdinAreCountedInBoundedClientMemory() {
        long size = 200L << 20;
        // A 64 MiB client heap: buffering the whole input would fail, back-pressure must hold.
        Exec.Result r = TARGET.host().run("wc", "-c")
                .clientEnv("TETHER_JAVA_OPTS", "-Xmx64m")
                .execInShell(Duration.ofSeconds(60), "head -c " + size + " /dev/zero | {TETHER}");
        assertEquals(0, r.exit(), r::toString);
        assertEquals(Long.toString(size), r.out().trim());
    }

    @Test
    void twoHundredMebibytesOfStdoutArriveInBoundedClientMemory() {
        long size = 200L << 20;
        Exec.Result r = TARGET.host().run("head", "-c", Long.toString(size), "/dev/zero")
                .clientEnv("TETHER_JAVA_OPTS", "-Xmx64m")
                .execInShell(Duration.ofSeconds(60), "{TETHER} | wc -c");
        assertEquals(0, r.exit(), r::toString);
        assertEquals(Long.toString(size), r.out().trim());
    }

    @Test
    void stdinEofReachesTheRemoteProcess() {
        Exec.Result r = TARGET.host().run("sh", "-c", "cat; echo END").exec(T, "abc\n".getBytes(StandardCharsets.UTF_8));
        assertEquals(0, r.exit(), r::toString);
        assertEquals("abc\nEND\n", r.out());
    }

    @Test
    void emptyStdinIsAnImmediateEof() {
        Exec.Result r = TARGET.host().run("wc", "-c").exec(T);
        assertEquals(0, r.exit(), r::toString);
        assertEquals("0", r.out().trim());
    }

    @Test
    void stdoutAndStderrStaySeparate() {
        Exec.Result r = TARGET.host().run("sh", "-c", "echo out; echo err >&2; echo out2").exec(T);
        assertEquals(0, r.exit(), r::toString);
        assertEquals("out\nout2\n", r.out());
        assertEquals("err\n", r.err());
    }

    @Test
    void outputWrittenJustBeforeExitIsNotLost() {
        // The exit status must wait for the output streams' EOF.
        Exec.Result r = TARGET.host().run("sh", "-c", "head -c 300000 /dev/zero | tr '\\0' x; exit 5").exec(T);
        assertEquals(5, r.exit(), r::toString);
        assertEquals(300000, r.stdout().length);
    }

    @Test
    void remoteProcessMayCloseStdinEarlyWhileTheClientStillWrites() {
        byte[] input = new byte[8 << 20];
        Exec.Result r = TARGET.host().run("head", "-c", "10").exec(T, input);
        assertEquals(0, r.exit(), r::toString);
        assertEquals(10, r.stdout().length);
    }

    @Test
    void argumentsArePassedVerbatimWithoutAShell() {
        Exec.Result r = TARGET.host().run("printf", "[%s]", "a b", "$HOME", "'q'", "*", "").exec(T);
        assertEquals(0, r.exit(), r::toString);
        assertEquals("[a b][$HOME]['q'][*][]", r.out());
    }
}
