package io.tether.daemon.tracer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tether.daemon.guest.Bind;
import io.tether.daemon.guest.FileKind;
import io.tether.daemon.guest.GuestFileAccess;
import io.tether.daemon.guest.GuestView;
import io.tether.daemon.guest.LocalFileAccess;
import io.tether.daemon.tracer.arch.Arches;
import io.tether.daemon.tracer.handler.Handlers;
import io.tether.posix.ErrnoException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kernel-rooted runs (KernelRoot): far fewer stops than rewriting for lookups, the same output; a run
 * that cannot be rooted (a mountpoint missing, a mount failing at run time) rewrites paths and works.
 */
class KernelRootedRunTest {
    @TempDir Path tmp;
    TracedRun t;

    @BeforeEach
    void rootfs() throws Exception {
        assumeTrue(new ProcessBuilder("id", "-u").start().inputReader().readLine().equals("0"), "chroot needs root");
        t = new TracedRun(tmp);
        for (String d : List.of("dev", "proc", "sys", "data", "mnt")) Files.createDirectories(t.rootfs.resolve(d));
        for (int i = 0; i < 200; i++) Files.writeString(t.rootfs.resolve("data/f" + i), "x");
    }

    @Test
    void lookupsStopNoMoreSoAStatHeavyCommandCostsAFractionOfTheStops() throws Exception {
        String script = "for i in 1 2 3; do ls -l /data | wc -l; done; stat -c %s /data/f7; cd /data && cat f1 ../data/f2";
        TracedRun.Result rewriting = t.sh(script);
        t.kernelRooted = true;
        TracedRun.Result rooted = t.sh(script);
        assertFalse(rewriting.kernelRooted());
        assertTrue(rooted.kernelRooted());
        assertEquals("201\n201\n201\n1\nxx", rewriting.output());
        assertEquals(rewriting.output(), rooted.output());
        // 3 x 200 lstats stop when rewriting; kernel-rooted only the set-up and process events do.
        assertTrue(rewriting.stops() > 600, "rewriting: " + rewriting.stops() + " stops");
        assertTrue(rooted.stops() * 10 < rewriting.stops(), "kernel-rooted: " + rooted.stops() + " stops, rewriting " + rewriting.stops());
    }

    @Test
    void aBindWithoutAMountpointInTheRootfsRewritesAndWorks() throws Exception {
        Path host = Files.createDirectories(tmp.resolve("host"));
        Files.writeString(host.resolve("note"), "from the host\n");
        GuestView view = GuestView.builder(t.rootfs.toString()).glueDir(t.work.resolve("glue").toString())
                .bind(new Bind(host.toString(), "/nowhere/deep")).build();
        GuestLaunch.Launch launch = GuestLaunch.prepare(view, "/bin/cat", List.of("cat"), TracedRun.ENV, "/");
        assertNull(KernelRoot.decide(view, Handlers.standard(Arches.X86_64), false, launch, List.of("cat"), TracedRun.ENV, true));
        TracedRun.Result r = t.run(view, Handlers.standard(Arches.X86_64), "/", c -> { }, "/bin/sh", "-c",
                "cat /nowhere/deep/note; echo new > /nowhere/deep/made");
        assertFalse(r.kernelRooted());
        assertEquals("from the host\n", r.output());
        assertEquals("new\n", Files.readString(host.resolve("made")));
        assertFalse(Files.exists(t.rootfs.resolve("nowhere")), "no mountpoint is made in the rootfs");
    }

    @Test
    void aBindAtAnExistingMountpointIsKernelRootedAndWritesReachTheHostDirectory() throws Exception {
        Path host = Files.createDirectories(tmp.resolve("host"));
        Files.writeString(host.resolve("note"), "from the host\n");
        GuestView view = GuestView.builder(t.rootfs.toString()).bind(new Bind(host.toString(), "/mnt")).build();
        t.kernelRooted = true;
        TracedRun.Result r = t.run(view, Handlers.standard(Arches.X86_64), "/mnt", c -> { }, "/bin/sh", "-c",
                "cat note; echo new > made; pwd -P; readlink /proc/self/cwd; readlink /proc/self/exe; exec 3< note; readlink /proc/self/fd/3");
        assertTrue(r.kernelRooted());
        assertEquals("from the host\n/mnt\n/mnt\n/bin/busybox\n/mnt/note\n", r.output());
        assertEquals("new\n", Files.readString(host.resolve("made")));
        assertFalse(Files.exists(t.rootfs.resolve("mnt/made")), "written through the bind, not into the mountpoint");
    }

    /**
     * With hooks (a mirror's whole trees), a walk's directory opens run unstopped and never reach beforeOpen, while
     * a file's open still does: ls -R over 60 directories costs no stop per directory.
     */
    @Test
    void aWalksDirectoryOpensDoNotStopButAFilesOpenStillReachesItsHook() throws Exception {
        for (int i = 0; i < 60; i++) Files.writeString(Files.createDirectories(t.rootfs.resolve("tree/d" + i)).resolve("f"), "d" + i);
        List<String> opened = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        GuestFileAccess hooked = new HookedLocalAccess() {
            @Override public void beforeOpen(String hostPath, int flags, int mode) { opened.add(hostPath); }
        };
        GuestView view = GuestView.builder(t.rootfs.toString()).fileAccess(hooked).build();
        t.kernelRooted = true;
        TracedRun.Result r = t.run(view, Handlers.standard(Arches.X86_64), "/", c -> { }, "/bin/sh", "-c",
                "ls -R /tree | grep -c '^f$'; cat /tree/d7/f");
        assertTrue(r.kernelRooted());
        assertEquals("60\nd7", r.output());
        String tree = t.rootfs.resolve("tree").toString();
        assertTrue(opened.contains(tree + "/d7/f"), "the file's open reached its hook: " + opened);
        assertTrue(opened.stream().noneMatch(p -> p.equals(tree) || p.matches(".*/tree/d[0-9]+")), "directory opens stopped: " + opened);
        assertTrue(r.stops() < 60, "one stop per directory: " + r.stops() + " stops");
    }

    /**
     * A rooted tree's execs do not stop at their exec event (the filter is installed; nothing there is needed):
     * a forked, exec'd child costs its fork event, its first stop and its parent's SIGCHLD, three stops, not four.
     * A slash in the name makes busybox's shell fork and execve it, never run the applet in-process.
     */
    @Test
    void aRootedTreesExecsStopNotAtTheirExecEvent() throws Exception {
        t.kernelRooted = true;
        String loop = "i=0; while [ $i -lt %d ]; do /bin/busybox true; i=$((i+1)); done; echo $i";
        TracedRun.Result none = t.sh(String.format(loop, 0));
        TracedRun.Result forty = t.sh(String.format(loop, 40));
        assertTrue(forty.kernelRooted());
        assertEquals("40\n", forty.output());
        long perChild = forty.stops() - none.stops();
        assertTrue(perChild >= 40 * 2 && perChild <= 40 * 3 + 4, (forty.stops() - none.stops()) + " stops for 40 children");
    }

    /**
     * Without exec events, an exec from a thread that is not its process's leader goes unreported: the process goes
     * on under the leader's pid with the new image (here a shell forking and exec'ing), and the thread's former tid
     * stays behind in the tracer's map (dropped at the end only if still one of its tracees).
     */
    @Test
    void anExecFromANonLeaderThreadInARootedTreeGoesOn() throws Exception {
        TracerProgramsTest.compile(tmp, t, "exec_from_thread.c", "exec_from_thread");
        t.kernelRooted = true;
        TracedRun.Result r = t.run("/bin/exec_from_thread", "/bin/sh", "sh", "-c", "/bin/busybox echo one; /bin/busybox echo two; exit 3");
        assertTrue(r.kernelRooted());
        assertEquals("one\ntwo\n", r.output());
        assertEquals(3, r.exitCode());
    }

    @Test
    void aMountFailingAtRunTimeFallsBackToRewritingPaths() throws Exception {
        Path host = Files.createDirectories(tmp.resolve("host"));
        Files.writeString(host.resolve("note"), "from the host\n");
        // The access claims /mnt2 exists in the rootfs (it does not): the plan is kernel-rooted, the mount fails with ENOENT.
        GuestFileAccess lying = new GuestFileAccess() {
            @Override public FileKind kind(String hostPath) throws ErrnoException {
                return hostPath.endsWith("/rootfs/mnt2") ? FileKind.DIRECTORY : LocalFileAccess.INSTANCE.kind(hostPath);
            }
            @Override public String readlink(String hostPath) throws ErrnoException { return LocalFileAccess.INSTANCE.readlink(hostPath); }
            @Override public byte[] read(String hostPath, long offset, int length) throws ErrnoException {
                return LocalFileAccess.INSTANCE.read(hostPath, offset, length);
            }
            @Override public void createDirectories(String hostPath) throws ErrnoException { LocalFileAccess.INSTANCE.createDirectories(hostPath); }
        };
        GuestView view = GuestView.builder(t.rootfs.toString()).bind(new Bind(host.toString(), "/mnt2")).fileAccess(lying).build();
        t.kernelRooted = true;
        TracedRun.Result r = t.run(view, Handlers.standard(Arches.X86_64), "/", c -> { }, "/bin/sh", "-c", "cat /mnt2/note; pwd");
        assertFalse(r.kernelRooted());
        assertEquals("from the host\n/\n", r.output());
        assertEquals(0, r.exitCode());
    }
}
