package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Signals sent to the local tether process reach the remote process group. */
@Timeout(120)
class SignalForwardingTest {
    @RegisterExtension
    static final TargetHostExtension TARGET = new TargetHostExtension();

    private static final Duration T = Duration.ofSeconds(30);

    @ParameterizedTest
    @ValueSource(strings = {"INT", "TERM", "HUP", "QUIT", "USR1", "USR2"})
    void signalReachesARemoteTrap(String signal) {
        String script = "ulimit -c 0; trap 'echo got " + signal + "; exit 7' " + signal
                + "; echo ready; while :; do sleep 0.1; done";
        try (Exec.Running tether = TARGET.host().run("sh", "-c", script).startNoInput()) {
            awaitOutput(tether, "ready\n");
            kill(signal, tether.pid());
            Exec.Result r = tether.await(T);
            assertEquals(7, r.exit(), r::toString);
            assertEquals("ready\ngot " + signal + "\n", r.out());
        }
    }

    @ParameterizedTest
    @CsvSource({"INT, 130", "TERM, 143"})
    void untrappedSignalKillsTheRemoteProcessAndGives128PlusN(String signal, int expected) {
        try (Exec.Running tether = TARGET.host().run("sh", "-c", "echo ready; exec sleep 1000").startNoInput()) {
            awaitOutput(tether, "ready\n");
            kill(signal, tether.pid());
            Exec.Result r = tether.await(T);
            assertEquals(expected, r.exit(), r::toString);
        }
    }

    @Test
    void signalGoesToTheWholeProcessGroupNotOnlyTheLeader() {
        // The leader ignores TERM; only a child of the same group can report it.
        String script = "(trap 'echo child got TERM; exit 0' TERM; echo child ready; while :; do sleep 0.1; done) &"
                + " trap '' TERM; wait; echo leader done";
        try (Exec.Running tether = TARGET.host().run("sh", "-c", script).startNoInput()) {
            awaitOutput(tether, "child ready\n");
            kill("TERM", tether.pid());
            Exec.Result r = tether.await(T);
            assertEquals(0, r.exit(), r::toString);
            assertEquals("child ready\nchild got TERM\nleader done\n", r.out());
        }
    }

    @Test
    void stopAndContinueSuspendAndResumeTheRemoteProcess() throws IOException {
        // The remote ticks into a file (not stdout), so a stopped client cannot fake a stopped remote.
        Path ticks = Files.createTempFile(TARGET.host().dir, "ticks", ".txt");
        String script = "echo ready; while :; do echo t >> '" + ticks + "'; sleep 0.1; done";
        try (Exec.Running tether = TARGET.host().run("sh", "-c", script).startNoInput()) {
            awaitOutput(tether, "ready\n");
            Poll.until(Duration.ofSeconds(10), () -> lines(ticks) >= 3, () -> "the remote never ticked");
            kill("TSTP", tether.pid());
            Poll.sleep(1000);
            long stopped = lines(ticks);
            Poll.sleep(1500);
            long later = lines(ticks);
            assertTrue(later - stopped <= 1, "the remote kept running after SIGTSTP: " + stopped + " -> " + later);
            kill("CONT", tether.pid());
            Poll.until(Duration.ofSeconds(10), () -> lines(ticks) >= later + 3,
                    () -> "the remote did not resume after SIGCONT: " + lines(ticks) + " ticks");
            kill("TERM", tether.pid());
            Exec.Result r = tether.await(T);
            assertEquals(143, r.exit(), r::toString);
        }
    }

    static void awaitOutput(Exec.Running tether, String expected) {
        Poll.until(Duration.ofSeconds(30), () -> tether.outSoFar().contains(expected) || !tether.alive(),
                () -> "no `" + expected.strip() + "` from the remote; stderr: " + tether.errSoFar());
        assertTrue(tether.alive(), () -> "tether ended early: " + tether.await(T));
    }

    static void kill(String signal, long pid) {
        Exec.check(Duration.ofSeconds(10), "kill", "-" + signal, Long.toString(pid));
    }

    private static long lines(Path file) {
        try {
            return Files.readAllLines(file).size();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
