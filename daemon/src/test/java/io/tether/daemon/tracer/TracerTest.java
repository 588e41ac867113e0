package io.tether.daemon.tracer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tether.daemon.guest.Bind;
import io.tether.daemon.guest.GuestView;
import io.tether.daemon.tracer.arch.Arches;
import io.tether.daemon.tracer.arch.Sys;
import io.tether.daemon.tracer.handler.Handlers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TracerTest {
    @TempDir Path tmp;
    TracedRun t;

    @BeforeEach
    void rootfs() throws Exception {
        t = new TracedRun(tmp);
        Files.createDirectories(t.rootfs.resolve("dir/sub"));
        Files.writeString(t.rootfs.resolve("dir/file"), "in dir\n");
        Files.createSymbolicLink(t.rootfs.resolve("abs"), Path.of("/etc"));
        Files.createSymbolicLink(t.rootfs.resolve("up"), Path.of("../../../../../etc"));
        Files.createSymbolicLink(t.rootfs.resolve("sublink"), Path.of("/dir/sub"));
        Files.createSymbolicLink(t.rootfs.resolve("loop"), Path.of("/loop"));
    }

    @Test
    void exitCodeOfTheRootPropagates() throws Exception {
        TracedRun.Result r = t.sh("exit 3");
        assertEquals(3, r.exitCode(), r.output());
    }

    @Test
    void aSignalDeathIsReportedAs128PlusN() throws Exception {
        TracedRun.Result r = t.sh("kill -TERM $$");
        assertTrue(r.status().signaled(), r.status().toString());
        assertEquals(128 + 15, r.exitCode());
    }

    @Test
    void catReadsTheGuestFileNotTheHostOne() throws Exception {
        TracedRun.Result r = t.run("/bin/cat", "/etc/passwd");
        assertEquals("root:x:0:0:guest root:/root:/bin/sh\n", r.output());
        assertEquals(0, r.exitCode());
    }

    @Test
    void symlinksResolveInsideTheGuestRoot() throws Exception {
        TracedRun.Result r = t.sh("cat /abs/passwd /up/passwd; cat /loop 2>/dev/null || echo loop-failed");
        assertEquals("root:x:0:0:guest root:/root:/bin/sh\n".repeat(2) + "loop-failed\n", r.output());
    }

    @Test
    void getcwdAfterChdirThroughSymlinksShowsGuestPaths() throws Exception {
        TracedRun.Result r = t.sh("cd -P /sublink && pwd -P && cd -P .. && pwd -P && cd /../../.. && pwd -P && cat ../dir/file");
        assertEquals("/dir/sub\n/dir\n/\nin dir\n", r.output());
    }

    @Test
    void readlinkShowsStoredTargetsAndGuestPathsForProcLinks() throws Exception {
        TracedRun.Result r = t.sh("readlink /abs; readlink /proc/self/exe; cd /dir && readlink /proc/self/cwd; readlink /proc/self/root");
        assertEquals("/etc\n/bin/busybox\n/dir\n/\n", r.output());
    }

    @Test
    void listingsAndStatSeeTheGuestTree() throws Exception {
        TracedRun.Result r = t.sh("ls /dir; stat -c %s /dir/file; test -d /sublink && echo isdir; test -L /sublink && echo islink");
        assertEquals("file\nsub\n7\nisdir\nislink\n", r.output());
    }

    @Test
    void pipelinesForksAndExecsAreFollowed() throws Exception {
        TracedRun.Result r = t.sh("echo hello | tr a-z A-Z | cat; seq 1 50 | xargs -n 10 echo | wc -l; (cd /dir; cat file)");
        assertEquals("HELLO\n5\nin dir\n", r.output());
    }

    @Test
    void filesCreatedRenamedAndRemovedLandInTheGuestRoot() throws Exception {
        TracedRun.Result r = t.sh("mkdir /tmp/d && echo data > /tmp/d/f && mv /tmp/d/f /tmp/d/g && ln -s /tmp/d/g /tmp/l"
                + " && cat /tmp/l && rm /tmp/d/g && rmdir /tmp/d && echo ok");
        assertEquals("data\nok\n", r.output());
        assertTrue(Files.isSymbolicLink(t.rootfs.resolve("tmp/l")));
        assertEquals("/tmp/d/g", Files.readSymbolicLink(t.rootfs.resolve("tmp/l")).toString());
    }

    @Test
    void shebangChainsRunTheirInterpretersFromTheGuest() throws Exception {
        Files.writeString(t.rootfs.resolve("bin/inner"), "#!/bin/sh\necho inner \"$0\" \"$@\"\n");
        Files.writeString(t.rootfs.resolve("bin/outer"), "#!/bin/inner -x\n");
        t.rootfs.resolve("bin/inner").toFile().setExecutable(true);
        t.rootfs.resolve("bin/outer").toFile().setExecutable(true);
        TracedRun.Result r = t.sh("/bin/outer a b");
        assertEquals("inner /bin/inner -x /bin/outer a b\n", r.output());
        TracedRun.Result direct = t.run("/bin/outer", "z");
        assertEquals("inner /bin/inner -x /bin/outer z\n", direct.output());
    }

    @Test
    void bindsShowHostDirectoriesAndRenamesAcrossThemFailWithExdev() throws Exception {
        Path outside = Files.createDirectories(tmp.resolve("outside"));
        Files.writeString(outside.resolve("h"), "host file\n");
        GuestView view = GuestView.builder(t.rootfs.toString()).glueDir(tmp.resolve("glue").toString())
                .bind(new Bind(outside.toString(), "/mnt/host")).build();
        TracedRun.Result r = t.run(view, Handlers.standard(Arches.X86_64), "/", c -> { },
                "/bin/sh", "-c", "cat /mnt/host/h; ls /mnt; ln /mnt/host/h /tmp/h 2>&1 | grep -c 'cross-device' ;"
                        + " cd /mnt/host && pwd -P");
        assertEquals("host file\nhost\n1\n/mnt/host\n", r.output());
    }

    @Test
    void anUntranslatedPathSyscallIsRefusedWithEnosys() throws Exception {
        TracedRun.Result r = t.run(t.view(), Handlers.standard(Arches.X86_64).without(Sys.MKDIR).without(Sys.MKDIRAT), "/",
                c -> { }, "/bin/sh", "-c", "mkdir /tmp/x 2>&1; test -e /tmp/x || echo absent");
        assertTrue(r.output().contains("Function not implemented"), r.output());
        assertTrue(r.output().endsWith("absent\n"), r.output());
        assertTrue(!Files.exists(t.rootfs.resolve("tmp/x")));
    }

    @Test
    void groupStopsAreListenedSoJobControlWorks() throws Exception {
        TracedRun.Result r = t.run(t.view(), Handlers.standard(Arches.X86_64), "/", child -> {
            try {
                // Wait until it is stopped, then SIGCONT until it runs on: a SIGCONT sent while the
                // SIGSTOP is still in its signal-delivery stop would be overtaken by it.
                Path stat = Path.of("/proc/" + child.pid() + "/stat");
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                boolean stopped = false;
                while (child.isAlive() && System.nanoTime() < deadline) {
                    String s = Files.readString(stat);
                    char state = s.charAt(s.lastIndexOf(')') + 2);
                    stopped |= state == 'T' || state == 't';
                    if (stopped) child.signal(18); // SIGCONT
                    Thread.sleep(20);
                }
            } catch (java.nio.file.NoSuchFileException gone) {
                // exited
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        }, "/bin/sh", "-c", "kill -STOP $$; echo resumed");
        assertEquals("resumed\n", r.output());
        assertEquals(0, r.exitCode());
    }

    @Test
    void signalsAreDeliveredToTheTracee() throws Exception {
        TracedRun.Result r = t.sh("trap 'echo got USR1' USR1; kill -USR1 $$; echo after");
        assertEquals("got USR1\nafter\n", r.output());
    }

    @Test
    void theHostRootAsGuestRootRunsHostProgramsUnchanged() throws Exception {
        Path script = Files.writeString(tmp.resolve("script.sh"), "#!/bin/sh\necho \"$0\" $(( 6 * 7 ))\n");
        script.toFile().setExecutable(true);
        GuestView hostRoot = GuestView.builder("/").build();
        TracedRun.Result r = t.run(hostRoot, Handlers.standard(Arches.X86_64), tmp.toString(), c -> { },
                "/bin/sh", "-c", "./script.sh; readlink /proc/self/cwd; /bin/cat " + t.rootfs.resolve("etc/passwd"));
        assertEquals("./script.sh 42\n" + tmp.toRealPath() + "\nroot:x:0:0:guest root:/root:/bin/sh\n", r.output());
    }

    @Test
    void backgroundTraceesOutlivingTheRootAreKilledOnClose() throws Exception {
        long start = System.nanoTime();
        TracedRun.Result r = t.sh("sleep 30 & echo started");
        assertEquals("started\n", r.output());
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(20), "closed without waiting for the sleep");
    }

    /** getcwd run by the kernel and translated at its exit stop, to exercise the exit-stop path. */
    static final class GetcwdAtExit implements io.tether.daemon.tracer.handler.SyscallHandler {
        @Override
        public io.tether.daemon.tracer.handler.Disposition enter(SyscallContext ctx) {
            ctx.exitState(new long[] {ctx.arg(0), ctx.arg(1)});
            return io.tether.daemon.tracer.handler.Disposition.RUN_AND_STOP_AT_EXIT;
        }

        @Override
        public void exit(SyscallContext ctx) throws io.tether.posix.ErrnoException {
            long[] buf = (long[]) ctx.exitState();
            long n = ctx.regs().signed(io.tether.daemon.tracer.arch.Reg.RESULT);
            if (n <= 0) return;
            String host = new String(ctx.read(buf[0], (int) n - 1), java.nio.charset.StandardCharsets.ISO_8859_1);
            String guest = ctx.view().toGuest(host).orElse(host);
            byte[] out = (guest + "\0").getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
            if (out.length > buf[1]) throw new io.tether.posix.ErrnoException(io.tether.posix.Errno.ERANGE, "getcwd");
            ctx.write(buf[0], out);
            ctx.regs().set(io.tether.daemon.tracer.arch.Reg.RESULT, out.length);
        }
    }

    @Test
    void handlersCanTranslateResultsAtTheExitStop() throws Exception {
        TracedRun.Result r = t.run(t.view(), Handlers.standard(Arches.X86_64).with(Sys.GETCWD, new GetcwdAtExit()), "/dir",
                c -> { }, "/bin/sh", "-c", "pwd -P; cd /sublink && pwd -P; cd / && pwd -P");
        assertEquals("/dir\n/dir/sub\n/\n", r.output());
    }

    @Test
    void directoriesReplacedByTheTraceeAreNotRememberedStale() throws Exception {
        TracedRun.Result r = t.sh("mkdir -p /tmp/a/b && echo 1 > /tmp/a/b/f && cat /tmp/a/b/f && rm -r /tmp/a"
                + " && ln -s /dir /tmp/a && cat /tmp/a/file && rm /tmp/a && mkdir -p /tmp/a/b && cat /tmp/a/b/f 2>/dev/null"
                + " || echo gone; mv /tmp/a /tmp/c && ls /tmp/c && test ! -e /tmp/a && echo moved");
        assertEquals("1\nin dir\ngone\nb\nmoved\n", r.output());
    }

    @Test
    void singleNamesRelativeToTheCwdStillSeeBinds() throws Exception {
        // rootfs has no /proc: only the default bind makes "proc" exist, so the untranslated shortcut
        // for single names must not apply to bind points.
        TracedRun.Result r = t.sh("cd / && test -d proc && echo proc; cd /dir && test -f file && echo file; ls -d sub");
        assertEquals("proc\nfile\nsub\n", r.output());
    }

    @Test
    void aCommandNameIsSearchedInTheGuestPath() throws Exception {
        TracedRun.Result r = t.run("echo", "found");
        assertEquals("found\n", r.output());
    }
}
