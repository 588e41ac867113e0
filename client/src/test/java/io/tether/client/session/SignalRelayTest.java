package io.tether.client.session;

import io.tether.posix.Signals;
import io.tether.posix.Terminal;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each forwarded signal really reaches the relay in a JVM started with bin/tether's own
 * flags (read from the launcher, so a flag like -Xrs that breaks handlers fails here).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SignalRelayTest {
    private static final List<String> ALL = List.of("INT", "TERM", "HUP", "QUIT", "USR1", "USR2", "WINCH", "TSTP", "CONT");

    @Test
    void everyForwardedSignalIsDispatchedUnderTheLauncherFlagsWithFd3Reserved() throws Exception {
        List<String> out = probe("-Dtether.fd3=reserved", "3</dev/null", null);
        assertEquals("unavailable []", out.get(0));
        for (String name : ALL) assertTrue(out.contains("got " + name), name + " not dispatched: " + out);
        assertFalse(String.join("\n", out).contains("thread dump"), "the JVM's SIGQUIT thread dump must not reach stdout");
    }

    @Test
    void callersFd3MovesAsideForTheQuitRelayAndStaysUsable(@TempDir Path dir) throws Exception {
        Path log = dir.resolve("log");
        List<String> out = probe("-Dtether.fds=3", "3>" + log, "written to fd 3 of the caller");
        assertEquals("unavailable []", out.get(0));
        assertTrue(out.contains("got QUIT"), out.toString());
        assertEquals("written to fd 3 of the caller\n", Files.readString(log));
    }

    @Test
    void withoutAReservedFd3OnlyQuitIsUnavailable() throws Exception {
        List<String> out = probe("", "", null);
        assertEquals("unavailable [QUIT]", out.get(0));
        assertTrue(out.contains("got INT") && out.contains("got USR2"), out.toString());
    }

    /** Starts the probe as bin/tether starts the client, sends every signal, returns its stdout lines. */
    private List<String> probe(String property, String redirect, String fd3Text) throws Exception {
        List<String> flags = launcherFlags();
        // Every signal at its default first: what the launcher flags do is under test, not what the
        // caller left ignored (nohup ignores HUP, a script's background job INT and QUIT; exec keeps that).
        String cmd = "exec env --default-signal java " + String.join(" ", flags) + " " + property
                + " -cp '" + System.getProperty("java.class.path") + "' " + SignalProbe.class.getName()
                + (fd3Text == null ? "" : " '" + fd3Text + "'") + " " + redirect;
        ProcessBuilder pb = new ProcessBuilder("bash", "-c", cmd).redirectError(ProcessBuilder.Redirect.INHERIT);
        pb.environment().put("_JAVA_SR_SIGNUM", "39");
        Process p = pb.start();
        BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String l; (l = r.readLine()) != null; ) lines.add(l);
            } catch (Exception ignored) {
                // the process ended
            }
        });
        reader.setDaemon(true);
        reader.start();
        List<String> out = new ArrayList<>();
        try {
            String l;
            while (!"ready".equals(l = lines.poll(20, TimeUnit.SECONDS))) {
                if (l == null) throw new AssertionError("probe not ready: " + out);
                out.add(l);
            }
            int pid = (int) p.pid(); // bash exec'd the JVM
            for (String name : ALL) {
                Terminal.kill(pid, Signals.number(name));
                String expected = "got " + name;
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
                while (!out.contains(expected) && System.nanoTime() < deadline) {
                    String got = lines.poll(100, TimeUnit.MILLISECONDS);
                    if (got != null) out.add(got);
                }
            }
            p.getOutputStream().close();
            assertTrue(p.waitFor(20, TimeUnit.SECONDS), "probe did not exit: " + out);
            reader.join(5000);
            lines.drainTo(out);
            return out;
        } finally {
            p.destroyForcibly();
        }
    }

    /** The -X options of the JVM client's launcher's `exec java` line (bin/.tether-launch, which bin/tether runs). */
    private static List<String> launcherFlags() throws Exception {
        Path dir = Path.of(System.getProperty("user.dir")).toAbsolutePath();
        while (dir != null && !Files.isRegularFile(dir.resolve("bin/tether"))) dir = dir.getParent();
        Assumptions.assumeTrue(dir != null, "bin/tether not found above " + System.getProperty("user.dir"));
        List<String> flags = new ArrayList<>();
        boolean inExec = false;
        for (String line : Files.readAllLines(dir.resolve("bin/.tether-launch"))) {
            if (line.startsWith("exec ")) inExec = true;
            if (!inExec) continue;
            Arrays.stream(line.trim().split("\\s+")).filter(t -> t.startsWith("-X")).forEach(flags::add);
            if (!line.endsWith("\\")) break;
        }
        assertFalse(flags.isEmpty(), "no exec line in bin/.tether-launch");
        return flags;
    }
}
