package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code tether run -r ROOTFS -b /usr/bin:/host/bin --host-exec GLOB} on the default (local) target:
 * a busybox guest runs the host's own tools, named by their guest paths under /host/bin, as if they
 * were its local children: bytes through pipes and extra fds, exit codes, deaths by signal and
 * signals sent to the target pid all as a parent sees them for a local child.
 */
@Timeout(120)
class HostExecE2eTest {
    static GuestRootfs fs;
    static final List<String> BIND_HOST_BIN = List.of("-b", "/usr/bin:/host/bin");

    @BeforeAll
    static void rootfs() throws Exception {
        fs = GuestRootfs.build("host-exec", false);
        for (String tool : List.of("tr", "sh", "sleep", "true")) {
            assumeTrue(Files.isExecutable(Path.of("/usr/bin", tool)), "host /usr/bin/" + tool + " missing");
        }
        Path src = fs.dir.resolve("hostexec_wait.c");
        try (InputStream in = HostExecE2eTest.class.getResourceAsStream("/tracer-e2e/hostexec_wait.c")) {
            Files.copy(in, src, StandardCopyOption.REPLACE_EXISTING);
        }
        fs.compile(src, "hostexec_wait");
        fs.compile(TetherHome.root().resolve("daemon/src/test/resources/tracer/hostexec_spawn.c"), "hostexec_spawn");
    }

    private static Exec.Result run(List<String> globs, String... argv) {
        List<String> options = new ArrayList<>(BIND_HOST_BIN);
        for (String g : globs) options.addAll(List.of("--host-exec", g));
        return fs.tether(options, Map.of(), argv);
    }

    @Test
    void aTargetHostTargetPipelineGivesTheRightBytesAndExitCodesWithPipefail() {
        Exec.Result r = run(List.of("/host/bin/*"), "/bin/sh", "-c",
                "set -o pipefail; printf 'abc\\ndef\\n' | /host/bin/tr a-f A-F | sed s/^/got:/; echo rc=$?;"
                        + " printf x | /host/bin/sh -c 'cat >/dev/null; exit 5' | cat; echo rc=$?;"
                        + " printf x | /host/bin/tr x y | /bin/sh -c 'cat; exit 6'; r=$?; echo; echo rc=$r");
        assertEquals("got:ABC\ngot:DEF\nrc=0\nrc=5\ny\nrc=6\n", r.out(), r::toString);
        assertEquals(0, r.exit(), r::toString);
    }

    @Test
    void aParentSeesTheHostExitCodeOrTheSignalThatKilledIt() {
        Exec.Result r = run(List.of("/host/bin/sh"), "/bin/sh", "-c",
                "/bin/hostexec_wait /host/bin/sh -c 'exit 9'; /bin/hostexec_wait /host/bin/sh -c 'kill -TERM $$';"
                        + " /bin/hostexec_wait /host/bin/sh -c 'kill -KILL $$'");
        assertEquals("WEXITSTATUS 9\nWTERMSIG 15\nWTERMSIG 9\n", r.out(), r::toString);
        // The root process itself becomes the host program (the command line's own program runs on the target).
        Exec.Result root = run(List.of("/host/bin/sh"), "/bin/sh", "-c", "exec /host/bin/sh -c 'kill -USR1 $$'");
        assertEquals(128 + 10, root.exit(), () -> "the client reports 128+N for the root: " + root);
    }

    @Test
    void aSignalSentToTheTargetPidReachesTheHostProcess() throws Exception {
        Path ready = fs.root.resolve("tmp/ready");
        Files.deleteIfExists(ready);
        Exec.Result r = run(List.of("/host/bin/sh"), "/bin/hostexec_wait", "-k", "15", "/tmp/ready", "/host/bin/sh", "-c",
                "trap 'exit 7' TERM; : > \"$0\"; while :; do /usr/bin/sleep 0.05; done", ready.toString());
        assertEquals("WEXITSTATUS 7\n", r.out(), r::toString);
    }

    @Test
    void anExtraFdIsWiredToTheHostProgram() {
        Exec.Result r = run(List.of("/host/bin/sh"), "/bin/sh", "-c",
                "/host/bin/sh -c 'echo on three >&3; echo on out' 3>/tmp/three; cat /tmp/three");
        assertEquals("on out\non three\n", r.out(), r::toString);
    }

    @Test
    void anExecOutsideTheAllowlistRunsOnTheTargetAsBefore() {
        // The host's dynamic `true` has no loader in a busybox guest: 127 shows it ran on the target.
        Exec.Result r = run(List.of("/host/bin/tr"), "/bin/sh", "-c", "/host/bin/true 2>/dev/null; echo $?; echo ab | /host/bin/tr b c");
        assertEquals("127\nac\n", r.out(), r::toString);
    }

    @Test
    void aMatchingProgramTheHostMayNotRunIsRefusedWithEaccesAndALogLine() throws Exception {
        Path script = Path.of("/dev/shm/tether-hostexec-e2e-" + ProcessHandle.current().pid());
        assumeTrue(Files.isDirectory(script.getParent()), "no /dev/shm");
        Files.writeString(script, "#!/bin/sh\necho ran on the target\n");
        assertTrue(script.toFile().setExecutable(true));
        try {
            // --control no: the JVM client, whose in-process daemon logs to its stderr (not a front door's log file).
            Exec.Result r = fs.tether(List.of("--control", "no", "--host-exec", "/dev/shm/*"), Map.of(), "/bin/sh", "-c",
                    script + " 2>&1; echo rc=$?");
            assertTrue(r.out().contains("Permission denied") && r.out().endsWith("rc=126\n"), r::toString);
            assertTrue(r.err().contains("host exec of " + script + " refused (EACCES)"), () -> "the log line: " + r);
        } finally {
            Files.deleteIfExists(script);
        }
    }

    @Test
    void hostExecNeedsARootfsAndAbsoluteGlobs() {
        Exec.Result noRoot = Exec.run(GuestRootfs.T, TetherHome.tether().toString(), "run", "--host-exec", "/x", "--", "true");
        assertTrue(noRoot.exit() != 0 && noRoot.err().contains("need -r ROOTFS"), noRoot::toString);
        Exec.Result relative = run(List.of("host/bin/*"), "/bin/true");
        assertTrue(relative.exit() != 0 && relative.err().contains("absolute guest path glob"), relative::toString);
    }

    @Test
    void aPosixSpawnParentReadsAllItsHostChildWrites() {
        // posix_spawn is a vfork: the parent runs on only once the child has executed something.
        Exec.Result r = run(List.of("/host/bin/sh"), "/bin/hostexec_spawn", "/host/bin/sh", "-c", "/usr/bin/head -c 300000 /dev/zero; exit 4");
        assertEquals("read 300000, WEXITSTATUS 4\n", r.out(), r::toString);
    }

    @Test
    void ctrlCInATerminalStopsATargetProgramWaitingOnAHostProgramAndLeavesNothing() {
        String marker = "47." + ProcessHandle.current().pid() + "1";
        String tether = String.join(" ", TetherHome.tether().toString(), "run", "-r", fs.root.toString(), "-b", "/usr/bin:/host/bin",
                "--host-exec", "'/host/bin/*'", "-e", "PATH=/bin", "--", "/bin/sh", "-c",
                "'echo READY; /host/bin/sleep " + marker + "; echo not interrupted'");
        String script = "trap 'echo LOCAL-SIGINT' INT\n" + tether + "\nrc=$?\necho\necho \"EXIT=$rc\"\nsleep 600\n";
        java.util.function.Supplier<List<String>> sleeps = () -> ProcessHandle.allProcesses()
                .map(p -> p.info().commandLine().orElse("")).filter(c -> c.contains(marker)).toList();
        try (Tmux tmux = Tmux.start(fs.dir, script, 100, 30, Map.of())) {
            tmux.await("^READY", GuestRootfs.T);
            // The parked target process and the host sleep both show the guest argv.
            Poll.until(GuestRootfs.T, () -> sleeps.get().size() >= 2, () -> "host sleep never started: " + sleeps.get());
            tmux.sendKeys("C-c");
            tmux.await("^EXIT=130$", GuestRootfs.T);
            assertTrue(!tmux.screen().contains("not interrupted") && !tmux.screen().contains("LOCAL-SIGINT"), tmux::screen);
            Poll.until(java.time.Duration.ofSeconds(5), () -> sleeps.get().isEmpty(), () -> "left behind: " + sleeps.get());
        }
    }

    @Test
    void aJvmClientKilledWithSigkillLeavesNoHostProgramRunning() {
        // Target local in the JVM client (no front door): the in-process daemon's host programs are this JVM's
        // children, so nothing but the watchdog can end them once it is gone.
        String marker = "48." + ProcessHandle.current().pid() + "3";
        java.util.function.Supplier<List<ProcessHandle>> left = () -> ProcessHandle.allProcesses()
                .filter(p -> p.info().commandLine().orElse("").contains(marker)).toList();
        List<String> cmd = new ArrayList<>(List.of(TetherHome.tether().toString(), "run", "-r", fs.root.toString(),
                "-e", "PATH=/bin", "-b", "/usr/bin:/host/bin", "--host-exec", "/host/bin/*", "--", "/bin/sh", "-c",
                "/host/bin/sh -c '/usr/bin/sleep " + marker + "; echo never'"));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(fs.dir.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        pb.environment().put("TETHER_NO_FE", "1");
        try (Exec.Running r = Exec.start(pb)) {
            Poll.until(GuestRootfs.T, () -> left.get().stream().anyMatch(p -> p.info().commandLine().orElse("").startsWith("/usr/bin/sleep")),
                    () -> "the host sleep never started: " + left.get());
            List<ProcessHandle> clients = ProcessHandle.allProcesses()
                    .filter(p -> p.info().commandLine().orElse("").contains("io.tether.client.Tether"))
                    .filter(p -> p.info().commandLine().orElse("").contains(marker)).toList();
            assertEquals(1, clients.size(), () -> "the client JVM: " + clients);
            clients.get(0).destroyForcibly(); // SIGKILL: no cleanup of its own runs
            Poll.until(java.time.Duration.ofSeconds(30), () -> left.get().isEmpty(),
                    () -> "left behind after the client's SIGKILL: " + left.get().stream().map(p -> p.pid() + " " + p.info().commandLine().orElse("")).toList());
        }
    }
}
