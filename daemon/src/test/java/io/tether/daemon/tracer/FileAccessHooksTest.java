package io.tether.daemon.tracer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tether.daemon.guest.Change;
import io.tether.daemon.guest.FileKind;
import io.tether.daemon.guest.GuestFileAccess;
import io.tether.daemon.guest.GuestView;
import io.tether.daemon.guest.LocalFileAccess;
import io.tether.daemon.tracer.arch.Arches;
import io.tether.daemon.tracer.arch.Sys;
import io.tether.daemon.tracer.handler.Handlers;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The GuestFileAccess hooks seen from a real traced program (changes.c): every mutating syscall
 * family announces the right Change with its own arguments, before the kernel runs it; an errno from
 * a hook is the syscall's and the kernel never ran it; local access is told nothing.
 */
class FileAccessHooksTest {
    private static final long NOW = (1L << 30) - 1, OMIT = (1L << 30) - 2;

    @TempDir Path tmp;
    TracedRun t;

    @BeforeEach
    void rootfs() throws Exception {
        t = new TracedRun(tmp);
        Files.createDirectories(t.rootfs.resolve("w"));
        Files.writeString(t.rootfs.resolve("w/keep"), "keep\n");
        for (String d : List.of("dev", "proc", "sys")) Files.createDirectories(t.rootfs.resolve(d)); // kernel-rooted mountpoints
        TracerProgramsTest.compile(tmp, t, "changes.c", "changes");
    }

    /** Records every hook call; refuses what names /w/refused* (EACCES, EIO for opens) and changes to /w/keep (EROFS). */
    static final class RecordingAccess implements GuestFileAccess {
        final boolean hooks;
        /** Whether every tree is whole here, so that a run may be kernel-rooted. */
        boolean whole;
        final List<String> changes = Collections.synchronizedList(new ArrayList<>());
        final List<String> opens = Collections.synchronizedList(new ArrayList<>());
        final List<String> execs = Collections.synchronizedList(new ArrayList<>());
        String w;

        RecordingAccess(boolean hooks) {
            this.hooks = hooks;
        }

        @Override public boolean wantsHooks() { return hooks; }
        @Override public boolean wholeUnder(String hostDir) { return whole || !hooks; }
        @Override public FileKind kind(String hostPath) throws ErrnoException { return LocalFileAccess.INSTANCE.kind(hostPath); }
        @Override public String readlink(String hostPath) throws ErrnoException { return LocalFileAccess.INSTANCE.readlink(hostPath); }
        @Override public byte[] read(String hostPath, long offset, int length) throws ErrnoException {
            return LocalFileAccess.INSTANCE.read(hostPath, offset, length);
        }
        @Override public void createDirectories(String hostPath) throws ErrnoException { LocalFileAccess.INSTANCE.createDirectories(hostPath); }

        @Override
        public void beforeOpen(String hostPath, int flags, int mode) throws ErrnoException {
            if (!hostPath.startsWith(w)) return;
            opens.add(rel(hostPath) + " " + Integer.toOctalString(flags) + " " + Integer.toOctalString(mode));
            if (hostPath.endsWith("/refused-open")) throw new ErrnoException(Errno.EIO, "open", hostPath);
        }

        @Override
        public void beforeExec(String hostPath) {
            execs.add(hostPath);
        }

        @Override
        public void beforeChange(Change c) throws ErrnoException {
            String d = describe(c);
            changes.add(d);
            if (d.contains(" w/refused")) throw new ErrnoException(Errno.EACCES, "change", d);
            if (d.contains(" w/keep")) throw new ErrnoException(Errno.EROFS, "change", d);
        }

        private String rel(String hostPath) {
            return hostPath.startsWith(w) ? "w" + hostPath.substring(w.length()) : hostPath;
        }

        private String describe(Change c) {
            if (c instanceof Change.Mkdir m) return "mkdir " + rel(m.hostPath()) + " " + Integer.toOctalString(m.mode());
            if (c instanceof Change.Mknod m) return "mknod " + rel(m.hostPath()) + " " + Integer.toOctalString(m.mode()) + " " + m.dev();
            if (c instanceof Change.Unlink u) return "unlink " + rel(u.hostPath());
            if (c instanceof Change.Rmdir r) return "rmdir " + rel(r.hostPath());
            if (c instanceof Change.Rename r) return "rename " + rel(r.fromHostPath()) + " " + rel(r.toHostPath()) + " " + r.flags();
            if (c instanceof Change.Link l) return "link " + rel(l.existingHostPath()) + " " + rel(l.newHostPath());
            if (c instanceof Change.Symlink s) return "symlink " + s.target() + " " + rel(s.hostPath());
            if (c instanceof Change.Chmod m) return "chmod " + rel(m.hostPath()) + " " + Integer.toOctalString(m.mode());
            if (c instanceof Change.Chown o) return "chown " + rel(o.hostPath()) + " " + o.uid() + " " + o.gid() + " " + o.follow();
            if (c instanceof Change.Truncate tr) return "truncate " + rel(tr.hostPath()) + " " + tr.size();
            if (c instanceof Change.Utimes u) {
                return "utimes " + rel(u.hostPath()) + " " + time(u.atimeS(), u.atimeNs()) + " " + time(u.mtimeS(), u.mtimeNs())
                        + " " + u.follow();
            }
            if (c instanceof Change.SetXattr x) {
                return "setxattr " + rel(x.hostPath()) + " " + x.name() + "=" + new String(x.value(), StandardCharsets.ISO_8859_1)
                        + " " + x.flags() + " " + x.follow();
            }
            Change.RemoveXattr x = (Change.RemoveXattr) c;
            return "removexattr " + rel(x.hostPath()) + " " + x.name() + " " + x.follow();
        }

        private static String time(long s, long ns) {
            return ns == NOW ? "now" : ns == OMIT ? "omit" : s + "." + ns;
        }
    }

    private TracedRun.Result run(RecordingAccess access) throws Exception {
        GuestView view = GuestView.builder(t.rootfs.toString()).glueDir(t.work.resolve("glue").toString())
                .fileAccess(access).build();
        access.w = view.rootHostPath() + "/w";
        return t.run(view, Handlers.standard(Arches.X86_64), "/", c -> { }, "/bin/changes");
    }

    /**
     * Kernel-rooted, with /w a bind of another host directory at its existing mountpoint: the hooks get
     * that directory's paths (the kernel reports root + guest path for /proc links, mapped back through
     * the binds), never the empty mountpoint's, and the tracee's paths are not rewritten.
     */
    private TracedRun.Result runKernelRooted(RecordingAccess access) throws Exception {
        Path hostW = Files.createDirectories(tmp.resolve("host-w"));
        Files.move(t.rootfs.resolve("w/keep"), hostW.resolve("keep"));
        access.whole = true;
        t.kernelRooted = true;
        GuestView view = GuestView.builder(t.rootfs.toString()).glueDir(t.work.resolve("glue").toString())
                .bind(new io.tether.daemon.guest.Bind(hostW.toString(), "/w")).fileAccess(access).build();
        access.w = hostW.toRealPath().toString();
        return t.run(view, Handlers.standard(Arches.X86_64), "/", c -> { }, "/bin/changes");
    }

    @ParameterizedTest(name = "kernel-rooted {0}")
    @ValueSource(booleans = {false, true})
    void everyMutatingFamilyAnnouncesItsChangeWithTheSyscallsOwnArguments(boolean kernelRooted) throws Exception {
        RecordingAccess access = new RecordingAccess(true);
        TracedRun.Result r = kernelRooted ? runKernelRooted(access) : run(access);
        assertEquals(kernelRooted, r.kernelRooted());
        assertEquals(List.of(
                "mkdir w/d 750", "mkdir w/d2 755", "mknod w/fifo 10644 0", "mknod w/f2 100600 0",
                "symlink target/x w/l", "symlink /abs w/l2", "link w/f2 w/f3", "link w/f2 w/f4",
                "rename w/f3 w/f5 0", "rename w/f4 w/f5 1", "rename w/f4 w/f6 0",
                "chmod w/f2 640", "chmod w/f2 4755", "chmod w/f2 600",
                "chown w/f2 1 2 true", "chown w/l -1 3 false", "chown w/l 4 -1 false", "truncate w/f2 123",
                "utimes w/f2 1000.0 2000.0 true", "utimes w/f2 now now true", "utimes w/f2 10.5000 20.6000 true",
                "utimes w/f2 10.5000 20.6000 true", "utimes w/l 1.2 omit false", "utimes w/f2 5.6 7.8 true",
                "setxattr w/f2 user.k=val 0 true", "setxattr w/l trusted.x= 1 false",
                "removexattr w/f2 user.k true", "removexattr w/l trusted.x false",
                "setxattr w/f2 user.at=ab 2 true", "removexattr w/l user.at false",
                "chmod w/f2 644", "chown w/f2 5 6 true", "setxattr w/f2 user.fd=v 0 true", "removexattr w/f2 user.fd true",
                "unlink w/f5", "unlink w/f6", "rmdir w/d2", "rmdir w/d",
                "mkdir w/refused 755", "unlink w/keep", "rename w/keep w/refused 0"), access.changes);
        // Kernel-rooted, a read-only open of a directory (O_DIRECTORY, 200000) runs unstopped: the trees are whole.
        List<String> opens = new java.util.ArrayList<>(List.of("w/f2 0 0", "w/f2 10000000 0", "w/c 1101 644", "w/o 301 640",
                "w/o2 102 604", "w/keep 0 0", "w/refused-open 101 644"));
        if (!kernelRooted) opens.add(0, "w 200000 0");
        assertEquals(opens, access.opens);
        String root = t.rootfs.toRealPath().toString();
        assertEquals(List.of(root + "/bin/changes", root + "/bin/busybox"), access.execs);
        assertEquals(expectedOutput(true), r.output());
        assertEquals(0, r.exitCode());
    }

    @Test
    void fdAttributeCallsAreTrappedOnlyForAccessThatWantsHooks() {
        GuestView local = GuestView.builder(t.rootfs.toString()).fileAccess(new RecordingAccess(false)).build();
        GuestView hooked = GuestView.builder(t.rootfs.toString()).fileAccess(new RecordingAccess(true)).build();
        assertFalse(Handlers.trappedOnDemand(local).contains(Sys.FCHMOD));
        assertTrue(Handlers.trappedOnDemand(hooked).containsAll(List.of(Sys.FCHMOD, Sys.FCHOWN, Sys.FSETXATTR, Sys.FREMOVEXATTR)));
    }

    @Test
    void localAccessIsToldNothingAndTheProgramSeesTheSameResults() throws Exception {
        RecordingAccess access = new RecordingAccess(false);
        TracedRun.Result r = run(access);
        assertEquals(List.of(), access.changes);
        assertEquals(List.of(), access.opens);
        assertEquals(expectedOutput(false), r.output());
    }

    private static String expectedOutput(boolean refusing) {
        Map<String, String> refused = refusing
                ? Map.of("mkdir refused", "EACCES", "refused dir", "ENOENT", "unlink refused", "EROFS", "keep", "exists",
                        "rename refused", "EACCES", "open refused", "EIO", "refused-open", "ENOENT")
                : Map.of("mkdir refused", "ok", "refused dir", "exists", "unlink refused", "ok", "keep", "ENOENT",
                        "rename refused", "ENOENT", "open refused", "ok", "refused-open", "exists");
        return String.join("\n",
                "open /w ok", "mkdir ok", "mkdirat ok", "mknod ok", "mknodat ok", "symlink ok", "symlinkat ok", "link ok",
                "linkat ok", "rename ok", "renameat2 EEXIST", "renameat ok", "mkdir dot EEXIST",
                "chmod ok", "fchmodat ok", "fchmodat2 ok", "chown ok", "lchown ok", "fchownat ok", "truncate ok",
                "utime ok", "utimes now ok", "utimes ok", "futimesat ok", "utimensat nofollow ok", "futimens ok",
                "utimensat omit ok", "utimensat bad nsec EINVAL", "setxattr empty name ERANGE",
                "fchmod ok", "fchown ok", "fchmod O_PATH EBADF", "bind ok", "unlink socket ok",
                "unlink ok", "unlinkat ok", "unlinkat removedir ok", "rmdir ok",
                "creat ok", "openat create ok", "openat2 create ok", "open ok", "open missing ENOENT",
                "mkdir refused " + refused.get("mkdir refused"), "refused dir " + refused.get("refused dir"),
                "unlink refused " + refused.get("unlink refused"), "keep " + refused.get("keep"),
                "rename refused " + refused.get("rename refused"), "keep " + refused.get("keep"),
                "open refused " + refused.get("open refused"), "refused-open " + refused.get("refused-open"),
                "exec 0", "");
    }
}
