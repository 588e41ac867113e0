package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Target local through the native front end: once a door runs (started by the first JVM client),
 * `tether run [-r ROOTFS ...]` is served by the daemon inside the door, with no JVM start, and gives
 * what the JVM client (TETHER_NO_FE=1) gives: stdout, stderr, exit status, environment, umask,
 * working directory, binds, descriptors, signals, job control, pty. A private XDG_RUNTIME_DIR gives
 * this class a door of its own, removed at the end.
 */
@Timeout(180)
class FrontDoorLocalTest {
    private static final Duration T = Duration.ofSeconds(60);
    private static final String TRACE = "tether-fe: served by the front door";
    static GuestRootfs fs;
    static Path xdg;

    @BeforeAll
    static void doorRuns() throws IOException {
        fs = GuestRootfs.build("fdlocal", false);
        assumeTrue(Files.isExecutable(TetherHome.root().resolve("client/target/native/tether-fe")), "no C compiler: no front end");
        // Short: the door's socket path must fit in sun_path, or it moves to /tmp/tether-UID.
        xdg = Files.createTempDirectory("fdl", PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        Poll.until(Duration.ofSeconds(90), () -> {
            if (run(true, List.of("--", "true")).err().contains(TRACE)) return true;
            run(false, List.of("--", "true")); // the JVM client starts the door
            return false;
        }, () -> "the front door never served a local run; its log:\n" + doorLog());
    }

    @AfterAll
    static void stopDoor() throws IOException {
        if (xdg == null || !Files.isDirectory(xdg.resolve("tether"))) return;
        try (Stream<Path> s = Files.list(xdg.resolve("tether"))) {
            for (Path p : s.filter(p -> p.toString().endsWith(".sock")).toList()) Files.deleteIfExists(p); // the door then exits
        }
    }

    /** {@code tether run -r ROOT -e PATH=... ARGS} from the rootfs's parent directory. */
    private static Exec.Result run(boolean frontEnd, List<String> args) {
        return run(frontEnd, fs.dir, args, Map.of());
    }

    private static ProcessBuilder builder(boolean frontEnd, Path cwd, List<String> args, Map<String, String> env) {
        List<String> cmd = new ArrayList<>(List.of(TetherHome.tether().toString(), "run"));
        // ARGS name their own -r, or run in the test rootfs.
        if (args.isEmpty() || !args.get(0).equals("-r")) cmd.addAll(List.of("-r", fs.root.toString(), "-e", "PATH=/bin:/usr/bin"));
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(cwd.toFile());
        pb.environment().put("XDG_RUNTIME_DIR", xdg.toString());
        pb.environment().put("TETHER_FE_TRACE", "1");
        pb.environment().put("PWD", cwd.toString());
        if (!frontEnd) pb.environment().put("TETHER_NO_FE", "1");
        pb.environment().putAll(env);
        return pb;
    }

    private static Exec.Result run(boolean frontEnd, Path cwd, List<String> args, Map<String, String> env) {
        ProcessBuilder pb = builder(frontEnd, cwd, args, env).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        try (Exec.Running r = Exec.start(pb)) {
            return r.await(T);
        }
    }

    /** The front end's result equals the JVM client's, and the door served it. */
    private static void same(Path cwd, String... args) {
        Exec.Result jvm = run(false, cwd, List.of(args), Map.of());
        Exec.Result fe = run(true, cwd, List.of(args), Map.of());
        assertTrue(fe.err().contains(TRACE), () -> "not served by the door: " + fe);
        assertFalse(jvm.err().contains(TRACE), jvm::toString);
        // The door may write to stderr before the front end prints its trace line.
        String feErr = fe.err().replaceFirst(java.util.regex.Pattern.quote(TRACE) + "[^\n]*\n", "");
        String what = String.join(" ", args);
        assertEquals(jvm.exit(), fe.exit(), () -> what + "\njvm: " + jvm + "\nfe: " + fe);
        assertEquals(jvm.out(), fe.out(), () -> what + "\njvm: " + jvm + "\nfe: " + fe);
        assertEquals(jvm.err(), feErr, () -> what + "\njvm: " + jvm + "\nfe: " + fe);
    }

    private static void same(String... args) {
        same(fs.dir, args);
    }

    @Test
    void outputsAndExitStatusAreTheJvmClients() {
        same("--", "sh", "-c", "echo out; echo err >&2; exit 3");
        same("--", "sh", "-c", "kill -SEGV $$");
        same("--", "no-such-command");
        same("--", "/etc/passwd");
        same("--", "sh", "-c", "env | sort; umask; pwd; ls /proc/self/fd");
        same("-w", "/dir/sub", "-e", "X=1", "-e", "PWD", "--", "sh", "-c", "pwd; echo $X $PWD; cat ../file");
        same("-w", "/no/such/dir", "--", "true");
    }

    @Test
    void bindsAndDefaultBindsAreTheJvmClients() throws IOException {
        Path host = Files.createDirectories(fs.dir.resolve("bound"));
        Files.writeString(host.resolve("file"), "from the host\n");
        same("-b", host + ":/mnt/new/place", "--", "sh", "-c", "cat /mnt/new/place/file; ls /mnt/new");
        same("-b", "bound:/bound", "--", "cat", "/bound/file"); // relative to the caller's directory
        same("--no-default-binds", "--", "sh", "-c", "ls /proc | wc -l; ls /dev | wc -l");
        same("-b", fs.dir.resolve("missing") + ":/x", "--", "true");
    }

    @Test
    void theGuestDirectoryAndARelativeRootAreTakenFromTheCallersDirectory() throws IOException {
        Files.createDirectories(fs.dir.resolve("bound"));
        Path inside = fs.root.resolve("home/user");
        Exec.Result r = run(true, inside, List.of("--", "pwd"), Map.of());
        assertTrue(r.err().contains(TRACE), r::toString);
        assertEquals("/home/user\n", r.out(), r::toString);
        same(inside, "-r", "../..", "-b", "../../../bound:/b", "--", "sh", "-c", "pwd; ls /b");
        same(inside, "-r", "../..", "-w", "/dir", "--", "pwd");
        same(inside, "-r", "no-rootfs", "--", "true");
    }

    @Test
    void stdinAndInheritedDescriptorsAreForwarded() throws IOException {
        Path log = fs.dir.resolve("fd3.txt");
        Path input = fs.dir.resolve("fd4.txt");
        Files.writeString(input, "from four\n");
        for (boolean frontEnd : new boolean[] {false, true}) {
            Files.deleteIfExists(log);
            List<String> cmd = builder(frontEnd, fs.dir, List.of("--", "sh", "-c", "wc -c; echo to three >&3; cat <&4"), Map.of())
                    .command();
            String script = "head -c 300000 /dev/zero | " + Exec.quote(cmd) + " 3>" + Exec.quote(log.toString()) + " 4<"
                    + Exec.quote(input.toString());
            ProcessBuilder pb = builder(frontEnd, fs.dir, List.of(), Map.of()).command("bash", "-c", script)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            Exec.Result r;
            try (Exec.Running running = Exec.start(pb)) {
                r = running.await(T);
            }
            assertEquals(0, r.exit(), r::toString);
            assertEquals(frontEnd, r.err().contains(TRACE), r::toString);
            assertEquals("300000\nfrom four\n", r.out(), r::toString);
            assertEquals("to three\n", Files.readString(log));
        }
    }

    @Test
    void aPtyIsTheJvmClients() {
        same("--tty", "--", "sh", "-c", "test -t 0 && test -t 1 && echo pty; echo done");
        same("-T", "--", "sh", "-c", "test -t 0 || echo no pty");
    }

    @Test
    void aTerminalGetsAGuestPtyTypedLinesAndCtrlCThroughTheFrontEnd() {
        String marker = "1234.7" + System.nanoTime() % 100000;
        List<String> tether = builder(true, fs.dir, List.of("--", "sh", "-c", "busybox tty; busybox stty size; echo READY; read line;"
                + " echo \"got:$line\"; echo SLEEPING; sleep " + marker), Map.of()).command();
        String script = "trap 'echo LOCAL-SIGINT' INT\ncd " + Exec.quote(fs.dir.toString()) + "\n" + Exec.quote(tether)
                + "\nrc=$?\necho\necho \"EXIT=$rc\"\nsleep 600\n";
        Map<String, String> env = Map.of("XDG_RUNTIME_DIR", xdg.toString(), "TETHER_FE_TRACE", "1");
        try (Tmux tmux = Tmux.start(fs.dir, script, 90, 25, env)) {
            tmux.await("^READY", T);
            String screen = tmux.screen();
            assertTrue(screen.contains(TRACE), screen);
            // The front end's trace line may meet the terminal already in raw mode: no carriage return after it.
            assertTrue(java.util.regex.Pattern.compile("^\\s*/dev/pts/\\d+$", java.util.regex.Pattern.MULTILINE).matcher(screen).find(),
                    screen);
            assertTrue(screen.contains("\n25 90\n"), screen);
            tmux.type("hello door");
            tmux.sendKeys("Enter");
            tmux.await("^got:hello door$", T);
            tmux.await("^SLEEPING", T);
            Poll.until(T, () -> ProcessHandle.allProcesses().anyMatch(p -> TargetHost.cmdline(p.pid()).equals("sleep " + marker)),
                    () -> "the traced sleep never started");
            tmux.sendKeys("C-c");
            tmux.await("^EXIT=130$", T);
            assertFalse(tmux.screen().contains("LOCAL-SIGINT"), "Ctrl-C went to the guest pty, not to a local signal");
            Poll.until(Duration.ofSeconds(5), () -> ProcessHandle.allProcesses().noneMatch(p -> TargetHost.cmdline(p.pid())
                    .equals("sleep " + marker)), () -> "the traced sleep outlived Ctrl-C");
        }
    }

    @Test
    void aWarmRunStartsNoJvmAndItsProcessIsTheDoorsChild() {
        try (Exec.Running tether = Exec.start(builder(true, fs.dir, List.of("--", "sh", "-c", "echo ready; exec sleep 987"), Map.of())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))))) {
            SignalForwardingTest.awaitOutput(tether, "ready\n");
            assertTrue(tether.errSoFar().contains(TRACE), tether::errSoFar);
            assertEquals("tether-fe", TargetHost.cmdline(tether.pid()).split(" ")[0].replaceFirst(".*/", ""), "no JVM in front");
            assertEquals(0, ProcessHandle.of(tether.pid()).orElseThrow().descendants().count(), "the front end started nothing");
            ProcessHandle sleep = ProcessHandle.allProcesses().filter(p -> TargetHost.cmdline(p.pid()).equals("sleep 987"))
                    .findFirst().orElseThrow(() -> new AssertionError("no traced sleep"));
            long parent = sleep.parent().map(ProcessHandle::pid).orElse(-1L);
            assertTrue(TargetHost.cmdline(parent).contains("io.tether.client.Tether frontdoor"), () -> "parent " + TargetHost.cmdline(parent));
            assertEquals(doorPid().orElse(-2L), parent);
            SignalForwardingTest.kill("TERM", tether.pid());
            assertEquals(143, tether.await(T).exit());
        }
    }

    @Test
    void signalsReachTheTracedTrapThroughTheFrontEnd() {
        for (String sig : List.of("INT", "TERM", "HUP", "USR1", "QUIT")) {
            String script = "trap 'echo got " + sig + "; exit 9' " + sig + "; echo ready; while :; do sleep 0.1; done";
            try (Exec.Running tether = Exec.start(builder(true, fs.dir, List.of("--", "sh", "-c", script), Map.of())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))))) {
                SignalForwardingTest.awaitOutput(tether, "ready\n");
                SignalForwardingTest.kill(sig, tether.pid());
                Exec.Result r = tether.await(T);
                assertEquals(9, r.exit(), r::toString);
                assertEquals("ready\ngot " + sig + "\n", r.out(), r::toString);
                assertTrue(r.err().contains(TRACE), r::toString);
            }
        }
    }

    @Test
    void stopAndContinueThroughTheFrontEnd() throws IOException {
        Path ticks = fs.root.resolve("tmp/ticks");
        Files.deleteIfExists(ticks);
        String script = "echo ready; while :; do echo t >> /tmp/ticks; sleep 0.1; done";
        try (Exec.Running tether = Exec.start(builder(true, fs.dir, List.of("--", "sh", "-c", script), Map.of())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))))) {
            SignalForwardingTest.awaitOutput(tether, "ready\n");
            Poll.until(Duration.ofSeconds(10), () -> lines(ticks) >= 3, () -> "the traced loop never ticked");
            SignalForwardingTest.kill("TSTP", tether.pid());
            Poll.until(Duration.ofSeconds(10), () -> state(tether.pid()) == 'T', () -> "the front end did not stop");
            Poll.sleep(500);
            long stopped = lines(ticks);
            Poll.sleep(1500);
            long later = lines(ticks);
            assertTrue(later - stopped <= 1, "the traced loop kept running: " + stopped + " -> " + later);
            SignalForwardingTest.kill("CONT", tether.pid());
            Poll.until(Duration.ofSeconds(10), () -> lines(ticks) >= later + 3, () -> "the traced loop did not resume");
            SignalForwardingTest.kill("TERM", tether.pid());
            assertEquals(143, tether.await(T).exit());
        }
    }

    @Test
    void jvmSettingsSendTheRunToTheJvmClient() {
        Exec.Result r = run(true, fs.dir, List.of("--", "sh", "-c", "mkdir /tmp/refused 2>/dev/null || echo refused"),
                Map.of("TETHER_JAVA_OPTS", "-Dtetherd.tracer.refuse=mkdir,mkdirat"));
        assertFalse(r.err().contains(TRACE), r::toString);
        assertEquals("refused\n", r.out(), r::toString);
        assertTrue(r.err().contains("mkdir") && r.err().contains("ENOSYS"), r::toString);
    }

    private static Optional<Long> doorPid() {
        java.util.regex.Matcher last = null;
        for (String line : doorLog().lines().toList()) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("front door (\\d+) listening on (\\S+)").matcher(line);
            if (m.find()) last = m;
        }
        return last == null ? Optional.empty() : Optional.of(Long.parseLong(last.group(1)));
    }

    private static String doorLog() {
        Path dir = xdg.resolve("tether");
        if (!Files.isDirectory(dir)) return "";
        try (Stream<Path> s = Files.list(dir)) {
            StringBuilder b = new StringBuilder();
            for (Path p : s.filter(p -> p.getFileName().toString().matches("frontdoor-.*\\.log")).sorted().toList()) {
                b.append(Files.readString(p));
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
            return Files.exists(file) ? Files.readAllLines(file).size() : 0;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
