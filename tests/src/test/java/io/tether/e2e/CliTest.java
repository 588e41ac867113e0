package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The stable command-line surface of issue 2, section 8. Needs no root. */
@Timeout(120)
class CliTest {
    private static final Duration T = Duration.ofSeconds(60);
    private static final Pattern VERSION = Pattern.compile("\\d+\\.\\d+\\.\\d+");

    @BeforeAll
    static void build() {
        TetherHome.ensureBuilt();
    }

    @Test
    void tetherVersionPrintsAVersion() {
        Exec.Result r = Exec.run(T, TetherHome.tether().toString(), "--version");
        assertEquals(0, r.exit(), r::toString);
        assertTrue(VERSION.matcher(r.out()).find(), r::toString);
        assertTrue(r.out().toLowerCase().contains("tether"), r::toString);
    }

    @Test
    void tetherHelpDescribesRun() {
        Exec.Result r = Exec.run(T, TetherHome.tether().toString(), "--help");
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.out().contains("run"), r::toString);
    }

    @Test
    void tetherRunHelpListsTheStableOptions() {
        Exec.Result r = Exec.run(T, TetherHome.tether().toString(), "run", "--help");
        assertEquals(0, r.exit(), r::toString);
        for (String option : new String[] {"-t", "-i", "--known-hosts", "--accept-new-host-key", "-w", "-e",
                "--tty", "--stdio-command", "--control"}) {
            assertTrue(r.out().contains(option), () -> option + " in:\n" + r.out());
        }
    }

    @Test
    void tetherdVersionPrintsAVersion() {
        Exec.Result r = Exec.run(T, TetherHome.tetherd().toString(), "--version");
        assertEquals(0, r.exit(), r::toString);
        assertTrue(VERSION.matcher(r.out()).find(), r::toString);
    }

    @Test
    void tetherdHelpListsListenAndStdio() {
        Exec.Result r = Exec.run(T, TetherHome.tetherd().toString(), "--help");
        assertEquals(0, r.exit(), r::toString);
        for (String option : new String[] {"--listen", "--host-key", "--authorized-keys", "--cache-dir", "--stdio"}) {
            assertTrue(r.out().contains(option), () -> option + " in:\n" + r.out());
        }
    }

    @Test
    void tetherdWithoutModeIsAUsageError() {
        Exec.Result r = Exec.run(T, TetherHome.tetherd().toString());
        assertTrue(r.exit() != 0, r::toString);
        assertTrue(!r.err().isBlank(), "a message on stderr");
    }
}
