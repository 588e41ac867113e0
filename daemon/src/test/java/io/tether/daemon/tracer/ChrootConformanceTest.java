package io.tether.daemon.tracer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * The same script under a real chroot of the rootfs and under the tracer must print the same: rewriting
 * paths, and kernel-rooted (chrooted by the tracer itself, lookups untrapped).
 */
class ChrootConformanceTest {
    @TempDir Path tmp;
    TracedRun t;

    static final List<String> PATHS = List.of("/etc/passwd", "/abs/passwd", "/up/passwd", "abs", "/loop", "/loop/x",
            "/dir/file/", "/dir/file/x", "/dir/file/..", "/dir/../etc", "/dir/sub/../../etc/passwd", "/sublink",
            "/sublink/", "/sublink/..", "/dangling", "/nonexistent/x", ".", "..", "../..", "./sub", "sub/../file",
            "/relchain", "/chain0", "/chain1", "/proc/self/root", "/proc/self/cwd", "/proc/self/exe",
            "/proc/self/root/etc/passwd", "//etc///passwd", "/etc/passwd/.");

    @BeforeEach
    void rootfs() throws Exception {
        assumeTrue(new ProcessBuilder("id", "-u").start().inputReader().readLine().equals("0"), "chroot needs root");
        t = new TracedRun(tmp);
        Path r = t.rootfs;
        Files.createDirectories(r.resolve("dir/sub"));
        Files.writeString(r.resolve("dir/file"), "in dir\n");
        Files.createDirectories(r.resolve("proc"));
        Files.createDirectories(r.resolve("dev")); // mountpoints of the default binds: kernel-rooted runs need them
        Files.createDirectories(r.resolve("sys"));
        Files.createSymbolicLink(r.resolve("abs"), Path.of("/etc"));
        Files.createSymbolicLink(r.resolve("up"), Path.of("../../../../../etc"));
        Files.createSymbolicLink(r.resolve("sublink"), Path.of("/dir/sub"));
        Files.createSymbolicLink(r.resolve("loop"), Path.of("/loop"));
        Files.createSymbolicLink(r.resolve("dangling"), Path.of("/nowhere"));
        Files.createSymbolicLink(r.resolve("relchain"), Path.of("dir/sub/../../abs/passwd"));
        // chain0 -> chain1 -> ... -> chain40 -> /etc/passwd: 41 links from chain0, 40 from chain1.
        Files.createSymbolicLink(r.resolve("chain40"), Path.of("/etc/passwd"));
        for (int i = 39; i >= 0; i--) Files.createSymbolicLink(r.resolve("chain" + i), Path.of("chain" + (i + 1)));
    }

    private static String script() {
        StringBuilder s = new StringBuilder("cd /dir\n");
        for (String p : PATHS) {
            s.append("echo \"== ").append(p).append("\"\n");
            for (String cmd : List.of("stat -c %F", "stat -L -c %F", "readlink", "realpath", "cat")) {
                s.append(cmd).append(" '").append(p).append("' 2>&1 | head -1\n");
            }
        }
        s.append("pwd -P\n");
        return s.toString();
    }

    @ParameterizedTest(name = "kernel-rooted {0}")
    @ValueSource(booleans = {false, true})
    void canonicalisationMatrixMatchesARealChroot(boolean kernelRooted) throws Exception {
        t.kernelRooted = kernelRooted;
        String script = script();
        Process chroot = new ProcessBuilder("chroot", t.rootfs.toString(), "/bin/sh", "-c", script)
                .redirectErrorStream(true).start();
        // /proc inside the chroot: bind the real one for the duration of the reference run.
        String expected = new String(chroot.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
        assumeTrue(chroot.waitFor(60, TimeUnit.SECONDS), "chroot timed out");
        TracedRun.Result traced = t.sh(script);
        assertEquals(kernelRooted, traced.kernelRooted());
        assertEquals(normalise(expected), normalise(traced.output()));
    }

    @ParameterizedTest(name = "kernel-rooted {0}")
    @ValueSource(booleans = {false, true})
    void everySyscallFamilyBehavesAsUnderARealChroot(boolean kernelRooted) throws Exception {
        t.kernelRooted = kernelRooted;
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/gcc")), "gcc not installed");
        TracedRun reference = new TracedRun(Files.createDirectories(tmp.resolve("reference")));
        for (TracedRun run : List.of(t, reference)) {
            Files.createDirectories(run.rootfs.resolve("dir/sub"));
            if (!Files.exists(run.rootfs.resolve("dir/file"))) Files.writeString(run.rootfs.resolve("dir/file"), "in dir\n");
            if (!Files.exists(run.rootfs.resolve("abs"), java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                Files.createSymbolicLink(run.rootfs.resolve("abs"), Path.of("/etc"));
            }
            Path script = run.rootfs.resolve("dir/script");
            if (!Files.exists(script)) {
                Files.writeString(script, "#!/bin/sh\necho script \"$0\" \"$@\"\n");
                script.toFile().setExecutable(true);
            }
            if (!Files.exists(run.rootfs.resolve("dir/abslink"), java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                Files.createSymbolicLink(run.rootfs.resolve("dir/abslink"), Path.of("/etc/passwd"));
            }
            if (!Files.exists(run.rootfs.resolve("dangling"), java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                Files.createSymbolicLink(run.rootfs.resolve("dangling"), Path.of("/nowhere"));
            }
            TracerProgramsTest.compile(tmp, run, "families.c", "families");
        }
        Process chroot = new ProcessBuilder("chroot", reference.rootfs.toString(), "/bin/families")
                .redirectErrorStream(true).start();
        String expected = new String(chroot.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
        assumeTrue(chroot.waitFor(60, TimeUnit.SECONDS), "chroot timed out");
        assumeTrue(expected.endsWith("execveat done\n"), "reference run incomplete: " + expected);
        TracedRun.Result traced = t.run("/bin/families");
        assertEquals(kernelRooted, traced.kernelRooted());
        assertEquals(expected, traced.output());
    }

    /** /proc is empty in the plain chroot: its lines are compared only under the tracer's own test. */
    private static String normalise(String out) {
        StringBuilder b = new StringBuilder();
        boolean inProc = false;
        for (String line : out.split("\n", -1)) {
            if (line.startsWith("== ")) inProc = line.startsWith("== /proc");
            if (!inProc) b.append(line).append('\n');
        }
        return b.toString();
    }
}
