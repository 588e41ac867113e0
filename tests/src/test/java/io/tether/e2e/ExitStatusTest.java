package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The client's exit status: the command's own, 128+N for signal N, 127/126 for exec failures, 255 for Tether's. */
@Timeout(120)
class ExitStatusTest {
    @RegisterExtension
    static final TargetHostExtension TARGET = new TargetHostExtension();

    private static final Duration T = Duration.ofSeconds(60);

    @ParameterizedTest
    @ValueSource(ints = {0, 3, 42, 254})
    void exitCodeOfTheCommandIsReturned(int code) {
        Exec.Result r = TARGET.host().run("sh", "-c", "exit " + code).exec(T);
        assertEquals(code, r.exit(), r::toString);
        assertEquals("", r.err(), "no message from tether for the command's own status");
    }

    @ParameterizedTest
    @CsvSource({"TERM, 143", "KILL, 137", "INT, 130", "HUP, 129", "USR1, 138"})
    void processKilledBySignalGives128PlusN(String signal, int expected) {
        Exec.Result r = TARGET.host().run("sh", "-c", "kill -" + signal + " $$").exec(T);
        assertEquals(expected, r.exit(), r::toString);
    }

    @Test
    void missingProgramGives127WithOneLineMessage() {
        Exec.Result r = TARGET.host().run("/nonexistent/tether-e2e-program").exec(T);
        assertEquals(127, r.exit(), r::toString);
        assertOneLine(r.err());
    }

    @Test
    void nonExecutableProgramGives126() {
        Exec.Result r = TARGET.host().run("/etc/hostname").exec(T);
        assertEquals(126, r.exit(), r::toString);
        assertOneLine(r.err());
    }

    @Test
    void missingWorkingDirectoryIsTethersOwnFailure() {
        Exec.Result r = TARGET.host().run("true").option("-w", "/nonexistent/tether-e2e-dir").exec(T);
        assertEquals(255, r.exit(), r::toString);
        assertTetherMessage(r.err());
    }

    @Test
    void unreachableTargetGives255WithOneLineMessage() {
        // Nothing listens on this port of the target address: connection refused.
        Exec.Result r = Exec.start(TARGET.host().run("true").processBuilder(TARGET.host().inHostNs(java.util.List.of(
                TetherHome.tether().toString(), "run", "--control", "no",
                "-t", "ssh://root@" + TARGET.host().targetAddr + ":2299",
                "-i", TARGET.host().clientKey.toString(), "--known-hosts", TARGET.host().knownHosts.toString(),
                "--", "true")))).await(T);
        assertEquals(255, r.exit(), r::toString);
        assertTetherMessage(r.err());
    }

    @Test
    void unknownOptionGives255() {
        Exec.Result r = TARGET.host().run("true").option("--no-such-option").exec(T);
        assertEquals(255, r.exit(), r::toString);
        assertTetherMessage(r.err());
    }

    static void assertOneLine(String stderr) {
        assertTrue(!stderr.isBlank(), "a message on stderr");
        assertEquals(1, stderr.strip().lines().count(), () -> "one line on stderr, got:\n" + stderr);
    }

    /** Tether's own failure: exactly one line, `tether: ...`. */
    static void assertTetherMessage(String stderr) {
        assertOneLine(stderr);
        assertTrue(stderr.startsWith("tether: "), () -> "starts with `tether: `, got: " + stderr);
    }
}
