package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Matcher;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The remote pty, driven through a real terminal (tmux): tty, window size, keystrokes, Ctrl-C. */
@Timeout(120)
class PtyTest {
    @RegisterExtension
    static final TargetHostExtension TARGET = new TargetHostExtension();

    private static final Duration T = Duration.ofSeconds(30);

    /**
     * The pane runs tether, then prints its exit status and idles. The INT trap keeps the wrapper
     * alive, and prints LOCAL-SIGINT, should a Ctrl-C reach the local side instead of the pty.
     */
    private static Tmux pane(TetherRun run, int cols, int rows) {
        // The empty echo starts a fresh line should the remote have left the cursor mid-line.
        String script = "trap 'echo LOCAL-SIGINT' INT\n" + run.shellCommand() + "\nrc=$?\necho\necho \"EXIT=$rc\"\nsleep 600\n";
        return Tmux.start(TARGET.host().dir, script, cols, rows, run.environment());
    }

    @Test
    void terminalStdinGetsARemotePtyWithTheWindowSizeAndResizesFollow() {
        TetherRun run = TARGET.host().run("sh", "-c", "tty; stty size; [ -t 1 ] && echo stdout-is-tty; echo READY; read x; stty size");
        try (Tmux tmux = pane(run, 100, 30)) {
            tmux.await("^READY", T);
            String screen = tmux.screen();
            assertLine(screen, "/dev/pts/\\d+");
            assertLine(screen, "30 100");
            assertLine(screen, "stdout-is-tty");
            tmux.resize(120, 40);
            Poll.sleep(300);
            tmux.sendKeys("go", "Enter");
            tmux.await("^40 120$", T);
            tmux.await("^EXIT=0$", T);
        }
    }

    private static void assertLine(String screen, String regex) {
        assertTrue(java.util.regex.Pattern.compile("^" + regex + "$", java.util.regex.Pattern.MULTILINE).matcher(screen).find(),
                () -> "a line /" + regex + "/ on the screen:\n" + screen);
    }

    @Test
    void ctrlCInterruptsARemoteSleep() {
        String marker = "1234.5" + System.nanoTime() % 100000;
        TetherRun run = TARGET.host().run("sh", "-c", "echo READY; sleep " + marker);
        try (Tmux tmux = pane(run, 80, 24)) {
            tmux.await("^READY", T);
            Poll.until(T, () -> !TARGET.host().targetProcessesMatching(marker).isEmpty(), () -> "remote sleep never started");
            tmux.sendKeys("C-c");
            tmux.await("^EXIT=130$", T);
            assertFalse(tmux.screen().contains("LOCAL-SIGINT"), "Ctrl-C went to the remote pty, not to a local signal");
            Poll.until(Duration.ofSeconds(5), () -> TARGET.host().targetProcessesMatching(marker).isEmpty(),
                    () -> "remote sleep still running: " + TARGET.host().targetProcessesMatching(marker));
        }
    }

    @Test
    void closingTheTerminalHangsUpTheRemoteProcess() {
        String marker = "1234.6" + System.nanoTime() % 100000;
        TetherRun run = TARGET.host().run("sh", "-c", "echo READY; sleep " + marker);
        Tmux tmux = pane(run, 80, 24);
        try {
            tmux.await("^READY", T);
            Poll.until(T, () -> !TARGET.host().targetProcessesMatching(marker).isEmpty(), () -> "remote sleep never started");
        } finally {
            tmux.close(); // the terminal goes away: SIGHUP for everything on it, tether included
        }
        Poll.until(Duration.ofSeconds(10), () -> TARGET.host().targetProcessesMatching(marker).isEmpty(),
                () -> "remote processes outlived the terminal: " + TARGET.host().targetProcessesMatching(marker));
    }

    @Test
    void ctrlCReachesARawModeProgramAsAByte() {
        TetherRun run = TARGET.host().run("sh", "-c",
                "stty raw -echo; echo READY; dd bs=1 count=1 2>/dev/null | od -An -tx1; stty sane");
        try (Tmux tmux = pane(run, 80, 24)) {
            tmux.await("^READY", T);
            tmux.sendKeys("C-c");
            tmux.await("^\\s*03\\s*$", T);
            tmux.await("^EXIT=0$", T);
        }
    }

    @Test
    void typedLinesReachTheRemoteProgram() {
        TetherRun run = TARGET.host().run("sh", "-c", "echo READY; read line; echo \"got:$line\"");
        try (Tmux tmux = pane(run, 80, 24)) {
            tmux.await("^READY", T);
            tmux.type("hello tether");
            tmux.sendKeys("Enter");
            tmux.await("^got:hello tether$", T);
            tmux.await("^EXIT=0$", T);
        }
    }

    @Test
    void dashTDisablesThePtyEvenOnATerminal() {
        TetherRun run = TARGET.host().run("sh", "-c", "tty >/dev/null && echo has-tty || echo no-tty").option("-T");
        try (Tmux tmux = pane(run, 80, 24)) {
            tmux.await("^EXIT=\\d+$", T);
            assertTrue(tmux.screen().contains("no-tty"), tmux.screen());
        }
    }

    @Test
    void localTerminalModesAreRestoredAfterTheSession() throws IOException {
        Path before = TARGET.host().dir.resolve("stty-before");
        Path after = TARGET.host().dir.resolve("stty-after");
        TetherRun run = TARGET.host().run("sh", "-c", "echo hi");
        String script = "stty -g > " + Exec.quote(before.toString()) + "\n" + run.shellCommand()
                + "\nstty -g > " + Exec.quote(after.toString()) + "\necho DONE\nsleep 600\n";
        try (Tmux tmux = Tmux.start(TARGET.host().dir, script, 80, 24, run.environment())) {
            tmux.await("^DONE$", T);
            assertEquals(Files.readString(before), Files.readString(after), "local stty settings after the session");
        }
    }

    @Test
    void dashDashTtyForcesAPtyWithoutALocalTerminal() {
        Exec.Result r = TARGET.host().run("sh", "-c", "tty").option("--tty").exec(T);
        assertEquals(0, r.exit(), r::toString);
        Matcher m = java.util.regex.Pattern.compile("/dev/pts/\\d+").matcher(r.out());
        assertTrue(m.find(), r::toString);
    }
}
