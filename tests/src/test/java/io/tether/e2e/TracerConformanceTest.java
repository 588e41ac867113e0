package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code bin/tether run -r ROOTFS} on the default target against a real {@code chroot} of the same
 * rootfs (with the host's /proc and /dev bound into it, as the tracer's default binds show them): the
 * same command must print the same and exit the same way. The rootfs has /dev, /proc and /sys and the
 * daemon is root, so runs are kernel-rooted (ARCHITECTURE.md); binds onto missing locations, and the
 * refusal test, rewrite paths. The daemon's ChrootConformanceTest covers both modes.
 */
@Timeout(120)
class TracerConformanceTest {
    static GuestRootfs fs;

    static final List<String> PATHS = List.of("/etc/passwd", "/abs/passwd", "/up/passwd", "abs", "/loop", "/loop/x",
            "/dir/file/", "/dir/file/x", "/dir/file/..", "/dir/../etc", "/dir/sub/../../etc/passwd", "/sublink",
            "/sublink/", "/sublink/..", "/dangling", "/nonexistent/x", ".", "..", "../..", "./sub", "sub/../file",
            "/relchain", "/chain0", "/chain1", "/reldir/..", "/proc/self/root", "/proc/self/cwd", "/proc/self/exe",
            "/proc/self/root/etc/passwd", "/proc/self/cwd/file", "//etc///passwd", "/etc/passwd/.");

    @BeforeAll
    static void rootfs() {
        fs = GuestRootfs.build("tracer-conformance");
    }

    /** Runs {@code argv} both ways; stdout (stderr merged by the scripts where they want it) and exit status must agree. */
    private static Exec.Result same(String... argv) {
        Exec.Result expected = fs.chroot(argv);
        Exec.Result traced = fs.tether(argv);
        assertEquals(expected.out(), traced.out(), () -> "stdout differs from chroot's; tether " + traced + "\nchroot " + expected);
        assertEquals(expected.exit(), traced.exit(), () -> "exit differs from chroot's; tether " + traced + "\nchroot " + expected);
        return traced;
    }

    @Test
    void canonicalisationMatrixOfStatLstatReadlinkOpenRealpathMatchesChroot() {
        StringBuilder s = new StringBuilder("cd /dir\n");
        for (String p : PATHS) {
            s.append("echo \"== ").append(p).append("\"\n");
            for (String cmd : List.of("stat -c %F", "stat -L -c %F", "readlink", "realpath", "cat")) {
                s.append(cmd).append(" '").append(p).append("' 2>&1 | head -1\n");
            }
        }
        s.append("pwd -P\n");
        Exec.Result r = same("/bin/sh", "-c", s.toString());
        assertTrue(r.out().contains("== /chain0\nsymbolic link\n"), r::toString);
        assertTrue(r.out().contains("Symbolic link loop") || r.out().contains("Too many levels"), r::toString);
    }

    @Test
    void getcwdAfterChdirThroughSymlinksAndTheProcSelfLinksMatchChroot() {
        Exec.Result r = same("/bin/cwd");
        assertTrue(r.out().contains("/sublink -> /dir/sub\n"), r::toString);
        assertTrue(r.out().contains("readlink /proc/self/exe = /bin/cwd\n"), r::toString);
    }

    @Test
    void shellCdThroughSymlinksMatchesChroot() {
        same("/bin/sh", "-c", "cd /sublink && pwd && pwd -P && cd .. && pwd -P; cd /abs && pwd -P; cd /reldir/.. && pwd -P; "
                + "cd /loop 2>&1; cd /up && pwd -P");
    }

    @Test
    void readlinkOfProcSelfExeShowsTheGuestProgramForStaticDynamicAndScriptCommands() {
        Exec.Result r = same("/bin/sh", "-c", "readlink /proc/self/exe; /bin/bash -c 'readlink /proc/$$/exe; "
                + "readlink /proc/self/exe'; /bin/cwd | grep exe; /dir/script | sed 's/.*/&/'");
        assertEquals("/bin/busybox\n/bin/bash\n/bin/busybox\nreadlink /proc/self/exe = /bin/cwd\nscript /dir/script\n",
                r.out(), r::toString);
    }

    @Test
    void shebangChainsUpToTheKernelsLimitMatchChroot() throws Exception {
        fs.script("bin/chain-sh", "#!/bin/sh\necho \"sh: $0 $*\"\n");
        fs.script("bin/chain-bash", "#!/bin/bash -e\necho \"bash: $0 $* ${BASH_VERSION:+is bash}\"\n");
        fs.script("bin/level1", "#!/bin/chain-sh one\n");
        fs.script("bin/level2", "#!/bin/level1 two\n");
        fs.script("bin/level3", "#!/bin/level2\n");
        fs.script("bin/level4", "#!/bin/level3\n");
        fs.script("bin/level5", "#!/bin/level4\n");
        fs.script("bin/relative", "#!bin/chain-sh\n");
        fs.script("bin/missing-interp", "#!/no/such/interpreter\n");
        Exec.Result r = same("/bin/sh", "-c", "cd /; for s in /dir/script chain-sh chain-bash level1 level2 level3 level4 level5 "
                + "relative missing-interp; do $s a 'b c' 2>/dev/null; echo \"$s: $?\"; done");
        assertTrue(r.out().contains("bash: /bin/chain-bash a b c is bash\n"), r::toString);
        assertTrue(r.out().contains("level5: 126\n") || r.out().contains("level5: 127\n"), r::toString);
    }

    @Test
    void threadsOpeningInParallelSeeTheGuestFiles() {
        Exec.Result r = same("/bin/threads_open");
        assertEquals("ok 1600\n", r.out(), r::toString);
    }

    @Test
    void everySyscallFamilyBehavesAsUnderChroot() {
        Exec.Result r = same("/bin/sh", "-c", "cd / && rm -rf /tmp/* && /bin/families 2>&1");
        assertTrue(r.out().contains("execveat done"), r::toString);
    }

    @Test
    void shPipelinesMatchChroot() {
        Exec.Result r = same("/bin/sh", "-c", "seq 1 1000 | grep 7 | wc -l; echo a b c | tr a-z A-Z | cut -d' ' -f2; "
                + "ls /dir | sort -r | head -1; find /dir -type f | sort | xargs cat; "
                + "/bin/bash -c 'set -o pipefail; false | cat; echo pipefail=$?'; cat /etc/passwd | (read l; echo \"$l\") | wc -c");
        assertTrue(r.out().startsWith("271\nB\n"), r::toString);
    }

    @Test
    void exitCodesAndDeathsBySignalMatchChroot() {
        for (String script : List.of("exit 3", "kill -TERM $$", "kill -SEGV $$", "/no/such/program")) {
            Exec.Result r = same("/bin/sh", "-c", script);
            assertTrue(!r.err().contains("tether:"), () -> script + " made tether complain: " + r);
        }
    }

    @Test
    void aSignalToTheClientReachesTheTracedProcessGroup() throws Exception {
        List<String> cmd = List.of(TetherHome.tether().toString(), "run", "-r", fs.root.toString(), "-e", "PATH=/bin", "--",
                "/bin/sh", "-c", "trap 'echo got INT; exit 5' INT; echo ready; while :; do sleep 0.1; done");
        try (Exec.Running run = Exec.start(new ProcessBuilder(cmd).directory(fs.dir.toFile()))) {
            assertTrue(Poll.within(java.time.Duration.ofSeconds(30), () -> run.outSoFar().contains("ready")), run::errSoFar);
            new ProcessBuilder("kill", "-INT", Long.toString(run.pid())).start().waitFor();
            Exec.Result r = run.await(GuestRootfs.T);
            assertEquals(5, r.exit(), r::toString);
            assertEquals("ready\ngot INT\n", r.out(), r::toString);
        }
    }

    @Test
    void bindsShowHostDirectoriesIncludingAtMissingGuestLocationsAndCrossThemWithExdev() throws Exception {
        Path data = Files.createDirectories(fs.dir.resolve("hostdata"));
        Files.writeString(data.resolve("file"), "from the host\n");
        Path same = Files.createDirectories(fs.dir.resolve("samepath"));
        Files.writeString(same.resolve("note"), "bound at its own path\n");
        Exec.Result r = fs.tether(List.of("-b", data + ":/mnt/data/deep", "-b", same.toString()), Map.of(), "/bin/sh", "-c",
                "cat /mnt/data/deep/file; ls /mnt/data; cat " + same + "/note; echo x > /tmp/local; "
                        + "/bin/xdev rename /mnt/data/deep/file /tmp/moved; /bin/xdev link /mnt/data/deep/file /tmp/linked; "
                        + "/bin/xdev rename /tmp/local /mnt/data/deep/local; /bin/xdev rename /tmp/local /tmp/local2; "
                        + "/bin/xdev link /mnt/data/deep/file /mnt/data/deep/hard; ls /mnt/data/deep | sort");
        assertEquals(0, r.exit(), r::toString);
        assertEquals("from the host\ndeep\nbound at its own path\nrename EXDEV\nlink EXDEV\nrename EXDEV\nrename ok\nlink ok\n"
                + "file\nhard\n", r.out(), r::toString);
        assertTrue(Files.exists(data.resolve("hard")), "the link was made in the host directory");
        assertTrue(!Files.exists(fs.root.resolve("mnt")), "a bind onto a missing location leaves the rootfs alone");
    }

    @Test
    void aBindAtAMountpointTheRootfsHasIsKernelRootedAndItsWritesReachTheHost() throws Exception {
        Path data = Files.createDirectories(fs.dir.resolve("kernel-rooted-data"));
        Files.writeString(data.resolve("file"), "from the host\n");
        // Kernel-rooted, the bind is a real mount in the tracee's namespace: its mountinfo names it.
        Exec.Result r = fs.tether(List.of("-b", data + ":/home/user", "-w", "/home/user"), Map.of(), "/bin/sh", "-c",
                "cat file; echo made > made; ln -s file link; cat link; pwd -P; readlink /proc/self/cwd; "
                        + "grep -c ' /home/user ' /proc/self/mountinfo");
        assertEquals(0, r.exit(), r::toString);
        assertEquals("from the host\nfrom the host\n/home/user\n/home/user\n1\n", r.out(), r::toString);
        assertEquals("made\n", Files.readString(data.resolve("made")));
        assertEquals("file", Files.readSymbolicLink(data.resolve("link")).toString());
        assertTrue(!Files.exists(fs.root.resolve("home/user/made")), "written through the bind, not into the mountpoint");
    }

    @Test
    void noDefaultBindsLeavesProcAndDevAsTheRootfsHasThem() {
        Exec.Result bound = fs.tether("/bin/sh", "-c", "ls /proc/self/fd >/dev/null && echo proc");
        assertEquals("proc\n", bound.out(), bound::toString);
        Exec.Result bare = fs.tether(List.of("--no-default-binds"), Map.of(), "/bin/sh", "-c", "ls /proc/self 2>&1; ls /proc | wc -l");
        assertTrue(bare.out().contains("No such file"), bare::toString);
        assertTrue(bare.out().endsWith("0\n"), bare::toString);
    }

    @Test
    void workingDirectoryIsAGuestPathAndDefaultsToTheClientsPlaceInTheRootfs() throws Exception {
        Exec.Result explicit = fs.tether(List.of("-w", "/sublink"), Map.of(), "/bin/sh", "-c", "pwd; echo $PWD");
        assertEquals("/sublink\n/sublink\n", explicit.out(), explicit::toString);
        Exec.Result missing = fs.tether(List.of("-w", "/no/such/dir"), Map.of(), "/bin/true");
        assertEquals(255, missing.exit(), missing::toString);
        assertTrue(missing.err().startsWith("tether: "), missing::toString);
        List<String> cmd = List.of(TetherHome.tether().toString(), "run", "-r", fs.root.toString(), "--", "/bin/pwd");
        Path inside = fs.root.resolve("home/user");
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(inside.toFile());
        pb.environment().put("PWD", inside.toString());
        Exec.Result r = Exec.start(pb).await(GuestRootfs.T);
        assertEquals("/home/user\n", r.out(), r::toString);
    }

    @Test
    void aMissingRootfsOrCommandFailsBeforeAnythingRuns() {
        List<String> cmd = List.of(TetherHome.tether().toString(), "run", "-r", fs.dir.resolve("no-rootfs").toString(), "--", "true");
        Exec.Result r = Exec.run(GuestRootfs.T, cmd);
        assertEquals(255, r.exit(), r::toString);
        assertEquals(1, r.err().strip().lines().count(), r::toString);
        assertTrue(r.err().startsWith("tether: ") && r.err().contains("no-rootfs") && r.err().contains("ENOENT"), r::toString);
        Exec.Result notFound = fs.tether("no-such-command");
        assertEquals(127, notFound.exit(), notFound::toString);
        Exec.Result notExec = fs.tether("/etc/passwd");
        assertEquals(126, notExec.exit(), notExec::toString);
    }

    @Test
    void anUntranslatedPathSyscallIsRefusedWithEnosysAndNamedInTheLog() {
        Exec.Result r = fs.tether(List.of("--control", "no"), Map.of("TETHER_JAVA_OPTS", "-Dtetherd.tracer.refuse=mkdir,mkdirat"),
                "/bin/sh", "-c", "mkdir /tmp/refused 2>&1; test -e /tmp/refused || echo absent");
        assertTrue(r.out().contains("Function not implemented"), r::toString);
        assertTrue(r.out().endsWith("absent\n"), r::toString);
        assertTrue(r.err().contains("mkdir") && r.err().contains("ENOSYS"), () -> "named in the log: " + r);
    }
}
