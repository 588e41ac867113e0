package io.tether.daemon.tracer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Programs compiled by the test (threads, exec from a thread) and dynamically linked host binaries. */
class TracerProgramsTest {
    @TempDir Path tmp;
    TracedRun t;

    @BeforeEach
    void rootfs() throws Exception {
        t = new TracedRun(tmp);
        Files.createDirectories(t.rootfs.resolve("dir/sub"));
        Files.writeString(t.rootfs.resolve("dir/file"), "in dir\n");
    }

    private void compile(String source, String guestName) throws Exception {
        compile(tmp, t, source, guestName);
    }

    /** Compiles a test program statically into the rootfs's /bin. */
    static void compile(Path tmp, TracedRun t, String source, String guestName) throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/gcc")), "gcc not installed");
        Path src = tmp.resolve(source);
        if (!Files.exists(src)) {
            try (InputStream in = TracerProgramsTest.class.getResourceAsStream("/tracer/" + source)) {
                Files.copy(in, src);
            }
        }
        Process p = new ProcessBuilder("gcc", "-static", "-pthread", "-O2", "-o",
                t.rootfs.resolve("bin/" + guestName).toString(), src.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assumeTrue(p.waitFor(120, TimeUnit.SECONDS) && p.exitValue() == 0, "static compile failed: " + out);
    }

    @Test
    void threadsOpeningInParallelAllSeeTheGuest() throws Exception {
        compile("threads_open.c", "threads_open");
        TracedRun.Result r = t.run("/bin/threads_open");
        assertEquals("ok 1600\n", r.output());
        assertEquals(0, r.exitCode());
    }

    @Test
    void execFromANonLeaderThreadIsFollowed() throws Exception {
        compile("exec_from_thread.c", "exec_from_thread");
        TracedRun.Result r = t.run("/bin/exec_from_thread");
        assertEquals("exec from thread\n", r.output());
        assertEquals(0, r.exitCode());
    }

    @Test
    void fexecveRunsElfFilesAndScriptsFromTheGuest() throws Exception {
        compile("fexecve.c", "fexecve");
        Files.writeString(t.rootfs.resolve("bin/script"), "#!/bin/sh\necho script \"$@\"\n");
        t.rootfs.resolve("bin/script").toFile().setExecutable(true);
        TracedRun.Result r = t.run("/bin/fexecve");
        assertEquals("fexecve elf\nscript a\n", r.output());
    }

    @Test
    void mountsChrootSwapAndAccountingAreRefusedWithEperm() throws Exception {
        compile("refused.c", "refused");
        TracedRun.Result r = t.run("/bin/refused");
        assertEquals("mount EPERM\numount2 EPERM\nchroot EPERM\nswapon EPERM\nacct EPERM\n", r.output());
    }

    @Test
    void dynamicallyLinkedProgramsUseTheGuestLoaderAndLibraries() throws Exception {
        Path ls = Path.of("/usr/bin/ls");
        assumeTrue(Files.isExecutable(ls) && Files.isExecutable(Path.of("/usr/bin/ldd")), "coreutils ls / ldd missing");
        copyWithLibraries(ls);
        TracedRun.Result r = t.run("/usr/bin/ls", "/dir");
        assertEquals("file\nsub\n", r.output());
        TracedRun.Result viaShell = t.sh("cd /dir && /usr/bin/ls -d sub && /usr/bin/ls /nonexistent 2>/dev/null; echo $?");
        assertEquals("sub\n2\n", viaShell.output());
    }

    @Test
    void procSelfExeOfAProgramStartedThroughTheGuestLoaderIsTheProgram() throws Exception {
        Path readlink = Path.of("/usr/bin/readlink");
        assumeTrue(Files.isExecutable(readlink) && Files.isExecutable(Path.of("/usr/bin/ldd")), "coreutils missing");
        copyWithLibraries(readlink);
        copyWithLibraries(Path.of("/usr/bin/ls"));
        TracedRun.Result direct = t.run("/usr/bin/readlink", "/proc/self/exe");
        assertEquals("/usr/bin/readlink\n", direct.output());
        TracedRun.Result viaShell = t.sh("/usr/bin/readlink /proc/self/exe; /usr/bin/readlink -f /proc/self/exe;"
                + " /usr/bin/ls -L /proc/self/exe; readlink /proc/self/exe");
        assertEquals("/usr/bin/readlink\n/usr/bin/readlink\n/proc/self/exe\n/bin/busybox\n", viaShell.output());
        // Fork events and the child's own stops arrive in either order: every child must see its exe.
        TracedRun.Result many = t.sh("for i in $(seq 30); do /usr/bin/readlink -f /proc/self/exe & done; wait");
        assertEquals("/usr/bin/readlink\n".repeat(30), many.output());
    }

    /** Copies a host binary and everything ldd lists into the rootfs at the same paths. */
    private void copyWithLibraries(Path binary) throws Exception {
        Process p = new ProcessBuilder("ldd", binary.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor(30, TimeUnit.SECONDS);
        List<Path> files = new ArrayList<>(List.of(binary));
        Matcher m = Pattern.compile("(/\\S+) \\(0x").matcher(out);
        while (m.find()) files.add(Path.of(m.group(1)));
        for (Path f : files) {
            Path dest = t.rootfs.resolve(f.toString().substring(1));
            Files.createDirectories(dest.getParent());
            if (!Files.exists(dest)) Files.copy(f.toRealPath(), dest);
            dest.toFile().setExecutable(true);
        }
    }
}
