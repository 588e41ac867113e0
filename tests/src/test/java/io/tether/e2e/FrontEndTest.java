package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The native front end (bin/tether execs client/target/native/tether-fe) and the resident front
 * door: the first run of a target goes through the JVM client, which starts the door; later runs
 * are served by the door (TETHER_FE_TRACE makes the front end say so on stderr) with the same
 * stdio, exit status, descriptors and signals as the JVM client.
 */
@Timeout(120)
class FrontEndTest {
    @RegisterExtension
    static final TargetHostExtension TARGET = new TargetHostExtension();

    private static final Duration T = Duration.ofSeconds(30);
    private static final String TRACE = "tether-fe: served by the front door";
    private static final Pattern LISTENING = Pattern.compile("front door (\\d+) listening on (\\S+)");

    @BeforeEach
    void frontDoorRuns() {
        Path fe = TetherHome.root().resolve("client/target/native/tether-fe");
        // bin/tether builds the front end when it has a compiler; TargetHost.start already ran it.
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(fe), "no C compiler: no front end to test");
        Poll.until(Duration.ofSeconds(60), () -> {
            if (doorPid().isPresent() && traced(TARGET.host().run("true")).exec(T).err().contains(TRACE)) return true;
            TARGET.host().run("true").exec(T); // the JVM client (re)starts the door
            return false;
        }, () -> "the front door never served a run; its log:\n" + doorLog());
    }

    private static TetherRun traced(TetherRun run) {
        return run.clientEnv("TETHER_FE_TRACE", "1");
    }

    @Test
    void stdoutStderrAndExitStatusThroughTheFrontDoor() {
        Exec.Result r = traced(TARGET.host().run("sh", "-c", "echo out; echo err >&2; exit 3")).exec(T);
        assertEquals(3, r.exit(), r::toString);
        assertEquals("out\n", r.out());
        assertEquals(TRACE, r.err().lines().findFirst().orElse("").replaceFirst(" /.*", ""), r::toString);
        assertEquals("err", r.err().lines().skip(1).findFirst().orElse(""), r::toString);
    }

    @Test
    void stdinIsForwardedToEndOfFile() {
        byte[] input = new byte[300_000];
        for (int i = 0; i < input.length; i++) input[i] = (byte) (i * 7);
        Exec.Result r = traced(TARGET.host().run("sh", "-c", "cat | md5sum")).exec(T, input);
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.err().contains(TRACE), r::toString);
        assertEquals(md5(input) + "  -\n", r.out());
    }

    @Test
    void inheritedDescriptorsAreForwardedWithTheirNumbers() throws IOException {
        Path log = Files.createTempFile(TARGET.host().dir, "fd3", ".txt");
        Path input = Files.createTempFile(TARGET.host().dir, "fd4", ".txt");
        Files.writeString(input, "from four\n");
        Exec.Result r = traced(TARGET.host().run("sh", "-c", "echo to three >&3; cat <&4"))
                .execInShell(T, "{TETHER} 3>" + Exec.quote(log.toString()) + " 4<" + Exec.quote(input.toString()));
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.err().contains(TRACE), r::toString);
        assertEquals("from four\n", r.out());
        assertEquals("to three\n", Files.readString(log));
    }

    @Test
    void commandSubstitutionEndsWhenTheFrontEndExits() {
        // The door lets go of the caller's stdout before it sends the status: $(...) is not held open.
        Exec.Result r = traced(TARGET.host().run("echo", "captured"))
                .execInShell(T, "x=$({TETHER}); echo \"[$x]\"");
        assertEquals(0, r.exit(), r::toString);
        assertEquals("[captured]\n", r.out());
    }

    @Test
    void signalsReachTheRemoteTrapThroughTheFrontEnd() {
        String script = "ulimit -c 0; trap 'echo got USR1' USR1; trap 'echo got QUIT' QUIT; trap 'echo got TERM; exit 7' TERM;"
                + " echo ready; while :; do sleep 0.1; done";
        try (Exec.Running tether = traced(TARGET.host().run("sh", "-c", script)).startNoInput()) {
            SignalForwardingTest.awaitOutput(tether, "ready\n");
            assertEquals("tether-fe", TargetHost.cmdline(tether.pid()).split(" ")[0].replaceFirst(".*/", ""),
                    "the front end itself runs, no JVM");
            SignalForwardingTest.kill("USR1", tether.pid());
            Poll.until(Duration.ofSeconds(10), () -> tether.outSoFar().contains("got USR1"), tether::errSoFar);
            // QUIT too, though a JVM parent (this test) hands its children a mask that blocks it.
            SignalForwardingTest.kill("QUIT", tether.pid());
            Poll.until(Duration.ofSeconds(10), () -> tether.outSoFar().contains("got QUIT"), tether::errSoFar);
            SignalForwardingTest.kill("TERM", tether.pid());
            Exec.Result r = tether.await(T);
            assertEquals(7, r.exit(), r::toString);
            assertEquals("ready\ngot USR1\ngot QUIT\ngot TERM\n", r.out());
        }
    }

    @Test
    void stopAndContinueThroughTheFrontEnd() throws IOException {
        Path ticks = Files.createTempFile(TARGET.host().dir, "ticks", ".txt");
        String script = "echo ready; while :; do echo t >> '" + ticks + "'; sleep 0.1; done";
        try (Exec.Running tether = traced(TARGET.host().run("sh", "-c", script)).startNoInput()) {
            SignalForwardingTest.awaitOutput(tether, "ready\n");
            Poll.until(Duration.ofSeconds(10), () -> lines(ticks) >= 3, () -> "the remote never ticked");
            SignalForwardingTest.kill("TSTP", tether.pid());
            Poll.until(Duration.ofSeconds(10), () -> state(tether.pid()) == 'T', () -> "the front end did not stop");
            Poll.sleep(500);
            long stopped = lines(ticks);
            Poll.sleep(1500);
            long later = lines(ticks);
            assertTrue(later - stopped <= 1, "the remote kept running: " + stopped + " -> " + later);
            SignalForwardingTest.kill("CONT", tether.pid());
            Poll.until(Duration.ofSeconds(10), () -> lines(ticks) >= later + 3, () -> "the remote did not resume");
            SignalForwardingTest.kill("TERM", tether.pid());
            assertEquals(143, tether.await(T).exit());
        }
    }

    @Test
    void killedFrontEndLeavesNoRemoteProcessAndTheDoorServesOn() {
        try (Exec.Running tether = traced(TARGET.host().run("sh", "-c", "echo ready; exec sleep 1000")).startNoInput()) {
            SignalForwardingTest.awaitOutput(tether, "ready\n");
            SignalForwardingTest.kill("KILL", tether.pid());
            tether.await(T);
        }
        // No orphan on the target: checked after each test by TargetHostExtension.
        Poll.until(Duration.ofSeconds(10), () -> TARGET.host().targetProcessesMatching("sleep 1000").isEmpty(),
                () -> "the remote sleep outlived its killed front end");
        Exec.Result r = traced(TARGET.host().run("echo", "again")).exec(T);
        assertEquals("again\n", r.out(), r::toString);
        assertTrue(r.err().contains(TRACE), r::toString);
    }

    @Test
    void frontDoorThatDiesMidSessionIsReportedAndExits255() {
        try (Exec.Running tether = traced(TARGET.host().run("sh", "-c", "echo ready; exec sleep 1000")).startNoInput()) {
            SignalForwardingTest.awaitOutput(tether, "ready\n");
            long door = doorPid().orElseThrow();
            ProcessHandle.of(door).ifPresent(ProcessHandle::destroyForcibly);
            Exec.Result r = tether.await(T);
            assertEquals(255, r.exit(), r::toString);
            assertTrue(r.err().endsWith("tether: front door lost\n"), r::toString);
        }
        Poll.until(Duration.ofSeconds(15), () -> TARGET.host().targetProcessesMatching("sleep 1000").isEmpty(),
                () -> "the remote sleep outlived the front door");
    }

    @Test
    void withoutTheFrontEndTheJvmClientRuns() {
        Exec.Result r = traced(TARGET.host().run("echo", "jvm")).clientEnv("TETHER_NO_FE", "1").exec(T);
        assertEquals("jvm\n", r.out(), r::toString);
        assertFalse(r.err().contains(TRACE), r::toString);
    }

    @Test
    void helpFallsBackToTheJvmClientAndLocalRunsEitherWay() {
        TetherRun env = traced(TARGET.host().run("unused"));
        String tether = TetherHome.tether().toString();
        try (Exec.Running help = Exec.start(env.processBuilder(List.of(tether, "run", "--help")))) {
            Exec.Result r = help.await(T);
            assertTrue(r.out().contains("Usage: tether run"), r::toString);
            assertFalse(r.err().contains(TRACE), r::toString);
        }
        try (Exec.Running local = Exec.start(env.processBuilder(List.of(tether, "run", "-t", "local", "--", "echo", "here")))) {
            Exec.Result r = local.await(T);
            // Served by a door of this caller's identity once one runs (FrontDoorLocalTest), else by the JVM client.
            assertEquals("here\n", r.out(), r::toString);
            assertEquals(0, r.exit(), r::toString);
        }
    }

    private static Optional<Long> doorPid() {
        Matcher last = null;
        for (String line : doorLog().lines().toList()) {
            Matcher m = LISTENING.matcher(line);
            if (m.find()) last = m;
        }
        if (last == null || !Files.exists(Path.of(last.group(2)))) return Optional.empty();
        long pid = Long.parseLong(last.group(1));
        return ProcessHandle.of(pid).filter(ProcessHandle::isAlive).map(ProcessHandle::pid);
    }

    private static String doorLog() {
        Path dir = TARGET.host().runtimeDir.resolve("tether");
        if (!Files.isDirectory(dir)) return "";
        try (Stream<Path> s = Files.list(dir)) {
            StringBuilder b = new StringBuilder();
            for (Path p : s.filter(p -> p.getFileName().toString().matches("frontdoor-.*\\.log")).sorted().toList()) {
                b.append(Files.readString(p, StandardCharsets.UTF_8));
            }
            return b.toString();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static char state(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            return stat.charAt(stat.lastIndexOf(')') + 2);
        } catch (IOException e) {
            return '?';
        }
    }

    private static long lines(Path file) {
        try {
            return Files.readAllLines(file).size();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String md5(byte[] data) {
        try {
            return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("MD5").digest(data));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
