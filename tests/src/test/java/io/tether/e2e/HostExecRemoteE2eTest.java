package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 5 over the channel: {@code tether run -t ssh://... -r ROOTFS -b /usr/bin:/host/bin --host-exec GLOB}
 * with tetherd in its own network and mount namespaces, the busybox rootfs hidden from it ("No NFS").
 * Matching execs run on the client's host (a dynamic host tool, which has no loader in the busybox
 * guest, and a host file the daemon cannot see, prove where), as local children of the target program:
 * bytes through pipes and files, exit codes, deaths by signal, signals sent to the target pid.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class HostExecRemoteE2eTest {
    private static final Duration T = Duration.ofSeconds(90);
    static GuestRootfs fs;
    static TargetHost target;
    /** A file only the client's host has (the daemon's mount namespace covers fs.dir). */
    static Path hostOnly;

    @BeforeAll
    static void setUp() throws Exception {
        fs = GuestRootfs.build("host-exec-remote", false);
        for (String tool : List.of("tr", "sh", "sleep", "true", "cat")) {
            assumeTrue(Files.isExecutable(Path.of("/usr/bin", tool)), "host /usr/bin/" + tool + " missing");
        }
        Path src = fs.dir.resolve("hostexec_wait.c");
        try (InputStream in = HostExecRemoteE2eTest.class.getResourceAsStream("/tracer-e2e/hostexec_wait.c")) {
            Files.copy(in, src, StandardCopyOption.REPLACE_EXISTING);
        }
        fs.compile(src, "hostexec_wait");
        hostOnly = fs.dir.resolve("host-only.txt");
        Files.writeString(hostOnly, "only on the host\n");
        target = TargetHost.setup("HostExecRemoteE2eTest").hide(fs.dir).start();
        assertFalse(target.daemonSees(fs.root), "the daemon sees the rootfs " + fs.root);
        assertFalse(target.daemonSees(hostOnly), "the daemon sees " + hostOnly);
    }

    @AfterAll
    static void tearDown() {
        if (target != null) target.close();
    }

    @AfterEach
    void nothingLeftOnTheTarget() {
        if (target == null) return;
        if (!Poll.within(Duration.ofSeconds(8), () -> target.targetProcesses().isEmpty())) {
            Map<Long, String> left = target.targetProcesses();
            left.keySet().forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
            throw new AssertionError("processes left on the target after the test: " + left);
        }
    }

    private static TetherRun run(List<String> globs, String... argv) {
        List<String> options = new ArrayList<>(List.of("-r", fs.root.toString(), "-b", "/usr/bin:/host/bin", "-e", "PATH=/bin"));
        for (String g : globs) options.addAll(List.of("--host-exec", g));
        return target.run(argv).option(options.toArray(String[]::new)).directory(fs.dir);
    }

    private static Exec.Result exec(List<String> globs, String... argv) {
        return run(globs, argv).exec(T);
    }

    @Test
    void aTargetHostTargetPipelineGivesTheRightBytesAndExitCodesWithPipefail() {
        Exec.Result r = exec(List.of("/host/bin/*"), "/bin/sh", "-c",
                "set -o pipefail; printf 'abc\\ndef\\n' | /host/bin/tr a-f A-F | sed s/^/got:/; echo rc=$?;"
                        + " printf x | /host/bin/sh -c 'cat >/dev/null; exit 5' | cat; echo rc=$?;"
                        + " printf x | /host/bin/tr x y | /bin/sh -c 'cat; exit 6'; r=$?; echo; echo rc=$r;"
                        + " /host/bin/cat " + hostOnly + "; /host/bin/true; echo rc=$?");
        assertEquals("got:ABC\ngot:DEF\nrc=0\nrc=5\ny\nrc=6\nonly on the host\nrc=0\n", r.out(),
                () -> r + "\n--- tetherd log ---\n" + target.daemonLogTail());
        assertEquals(0, r.exit(), r::toString);
    }

    @Test
    void theTargetsConfiguredHostExecGlobsApplyAndTheCommandLinesAddToThem() throws Exception {
        Path config = target.dir.resolve("host-exec-targets.properties");
        Files.writeString(config, String.join("\n", "board.url = " + target.url(), "board.identity = " + target.clientKey,
                "board.known-hosts = " + target.knownHosts, "board.host-exec = /host/bin/tr, /host/bin/s*", ""));
        List<String> argv = new ArrayList<>(List.of(TetherHome.tether().toString(), "run", "-t", "board", "-r", fs.root.toString(),
                "-b", "/usr/bin:/host/bin", "-e", "PATH=/bin", "--host-exec", "/host/bin/true", "--", "/bin/sh", "-c",
                "echo abc | /host/bin/tr a-c A-C; /host/bin/sh -c 'echo sh on the host'; /host/bin/true; echo rc=$?;"
                        + " /host/bin/cat " + hostOnly + " 2>/dev/null; echo cat rc=$?"));
        TetherRun run = target.run().clientEnv("TETHER_CONFIG", config.toString()).directory(fs.dir);
        Exec.Result r;
        try (Exec.Running p = Exec.start(run.processBuilder(target.inHostNs(argv))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))))) {
            r = p.await(T);
        }
        // Host tools are dynamic, so one that stays on the target fails to start there (no loader in the guest).
        assertEquals("ABC\nsh on the host\nrc=0\ncat rc=127\n", r.out(), () -> r + "\n--- tetherd log ---\n" + target.daemonLogTail());
        assertEquals(0, r.exit(), r::toString);
    }

    @Test
    void aHostProgramReadingATargetFileConsumesOnlyWhatItReadsLikeALocalChild() throws Exception {
        // A local child shares the file's offset: `true` reads nothing, GNU `head -n1` reads a block and seeks
        // back to the end of its line. The host program must leave the target's `read` the same lines.
        String script = "printf 'one\\ntwo\\nthree\\nfour\\nfive\\n' > LINES;"
                + " while read l; do echo \"true got $l\"; BIN/true; done < LINES;"
                + " while read l; do echo \"head got $l\"; BIN/head -n1; done < LINES;"
                + " { BIN/head -c5 >/dev/null; BIN/sh -c 'read x; echo \"sh read $x\"'; read l; echo \"then $l\"; } < LINES";
        Path nativeDir = Files.createTempDirectory(fs.dir, "native-lines");
        Exec.Result local = Exec.run(T, "sh", "-c", script.replace("BIN", "/usr/bin").replace("LINES", nativeDir + "/lines"));
        assertEquals("true got one\ntrue got two\ntrue got three\ntrue got four\ntrue got five\n"
                + "head got one\ntwo\nhead got three\nfour\nhead got five\nsh read wo\nthen three\n", local.out(), local::toString);
        Exec.Result r = exec(List.of("/host/bin/*"), "/bin/sh", "-c", script.replace("BIN", "/host/bin").replace("LINES", "/tmp/lines"));
        assertEquals(local.out(), r.out(), () -> r + "\n--- tetherd log ---\n" + target.daemonLogTail());
        assertEquals(0, r.exit(), r::toString);
    }

    @Test
    void filesWrittenOnEitherSideAreSeenByTheNextStep() {
        // target-gen > f; host-tool f > g; target-check g: the mirror flushes before, revalidates after.
        Exec.Result r = exec(List.of("/host/bin/*"), "/bin/sh", "-c",
                "mkdir -p /tmp/steps && cd /tmp/steps && printf 'one\\ntwo\\n' > f && /host/bin/tr a-z A-Z < f > g"
                        + " && /host/bin/sh -c 'tr O 0 < g > h' && cat h && /host/bin/sh -c 'echo three >&3' 3>>h && cat h");
        assertEquals("0NE\nTW0\n0NE\nTW0\nthree\n", r.out(), () -> r + "\n--- tetherd log ---\n" + target.daemonLogTail());
        assertEquals("0NE\nTW0\nthree\n", read(fs.root.resolve("tmp/steps/h")));
    }

    @Test
    void aParentSeesTheHostExitCodeOrTheSignalThatKilledIt() {
        Exec.Result r = exec(List.of("/host/bin/sh"), "/bin/sh", "-c",
                "/bin/hostexec_wait /host/bin/sh -c 'exit 9'; /bin/hostexec_wait /host/bin/sh -c 'kill -TERM $$';"
                        + " /bin/hostexec_wait /host/bin/sh -c 'kill -KILL $$'");
        assertEquals("WEXITSTATUS 9\nWTERMSIG 15\nWTERMSIG 9\n", r.out(), () -> r + "\n--- tetherd log ---\n" + target.daemonLogTail());
        Exec.Result root = exec(List.of("/host/bin/sh"), "/bin/sh", "-c", "exec /host/bin/sh -c 'kill -USR1 $$'");
        assertEquals(128 + 10, root.exit(), () -> "the client reports 128+N for the root: " + root);
    }

    @Test
    void aSignalSentToTheTargetPidReachesTheHostProcess() throws Exception {
        Path ready = fs.root.resolve("tmp/ready-remote");
        Files.deleteIfExists(ready);
        Exec.Result r = exec(List.of("/host/bin/sh"), "/bin/hostexec_wait", "-k", "15", "/tmp/ready-remote", "/host/bin/sh", "-c",
                "trap 'exit 7' TERM; : > \"$0\"; while :; do /usr/bin/sleep 0.05; done", ready.toString());
        assertEquals("WEXITSTATUS 7\n", r.out(), () -> r + "\n--- tetherd log ---\n" + target.daemonLogTail());
    }

    @Test
    void aMatchingProgramTheHostMayNotRunIsRefusedWithEaccesAndALogLine() {
        // /dev is the target's own (a default bind): a match there is refused, never run on either side.
        Exec.Result r = exec(List.of("/dev/*", "/host/bin/*"), "/bin/sh", "-c", "/dev/null 2>&1; echo rc=$?");
        assertTrue(r.out().contains("Permission denied") && r.out().endsWith("rc=126\n"), r::toString);
        assertTrue(Poll.within(Duration.ofSeconds(10), () -> target.daemonLogTail().contains("host exec of /dev/null refused (EACCES)")),
                () -> "the log line:\n" + target.daemonLogTail());
    }

    @Test
    void ctrlCInATerminalStopsATargetProgramWaitingOnAHostProgramAndLeavesNothing() {
        String marker = "48." + ProcessHandle.current().pid() + "1";
        String tether = run(List.of("/host/bin/*"), "/bin/sh", "-c", "echo READY; /host/bin/sleep " + marker + "; echo not interrupted")
                .shellCommand();
        String script = "trap 'echo LOCAL-SIGINT' INT\n" + tether + "\nrc=$?\necho\necho \"EXIT=$rc\"\nsleep 600\n";
        java.util.function.Supplier<List<String>> sleeps = () -> ProcessHandle.allProcesses()
                .map(p -> p.info().commandLine().orElse("")).filter(c -> c.contains(marker)).toList();
        try (Tmux tmux = Tmux.start(fs.dir, script, 160, 30, target.clientEnv())) {
            tmux.await("^READY", T);
            // The parked target process and the host sleep both show the guest argv.
            Poll.until(T, () -> sleeps.get().size() >= 2, () -> "host sleep never started: " + sleeps.get());
            tmux.sendKeys("C-c");
            tmux.await("^EXIT=130$", T);
            assertTrue(!tmux.screen().contains("not interrupted") && !tmux.screen().contains("LOCAL-SIGINT"), tmux::screen);
            Poll.until(Duration.ofSeconds(10), () -> sleeps.get().isEmpty(), () -> "left behind: " + sleeps.get());
        }
    }

    @Test
    void aClientKilledWithSigkillLeavesNoHostProgramRunning() {
        String marker = "49." + ProcessHandle.current().pid() + "2";
        java.util.function.Function<String, List<ProcessHandle>> find = prefix -> ProcessHandle.allProcesses()
                .filter(p -> p.info().commandLine().orElse("").contains(marker))
                .filter(p -> p.info().commandLine().orElse("").startsWith(prefix) || prefix.isEmpty()).toList();
        // The host sh runs the host sleep as a child of its own (the `;` keeps sh from exec'ing it).
        try (Exec.Running r = run(List.of("/host/bin/*"), "/bin/sh", "-c", "/host/bin/sh -c '/usr/bin/sleep " + marker + "; echo never'")
                .startNoInput()) {
            Poll.until(T, () -> !find.apply("/usr/bin/sleep").isEmpty(), () -> "the host sleep never started: " + find.apply(""));
            List<ProcessHandle> clients = ProcessHandle.allProcesses()
                    .filter(p -> p.info().commandLine().orElse("").contains("io.tether.client.Tether"))
                    .filter(p -> p.info().commandLine().orElse("").contains(marker)).toList();
            assertEquals(1, clients.size(), () -> "the client JVM: " + clients);
            clients.get(0).destroyForcibly(); // SIGKILL: no cleanup of its own runs
            Poll.until(Duration.ofSeconds(30), () -> find.apply("").isEmpty(),
                    () -> "left behind after the client's SIGKILL: " + find.apply("").stream().map(p -> p.pid() + " " + p.info().commandLine().orElse("")).toList());
        }
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
