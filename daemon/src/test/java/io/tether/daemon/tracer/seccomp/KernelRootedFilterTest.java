package io.tether.daemon.tracer.seccomp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tether.daemon.guest.GuestView;
import io.tether.daemon.guest.LocalFileAccess;
import io.tether.daemon.tracer.arch.Arch;
import io.tether.daemon.tracer.arch.Arches;
import io.tether.daemon.tracer.arch.Sys;
import io.tether.daemon.tracer.handler.Handlers;
import io.tether.posix.Errno;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A kernel-rooted run's filter (the kernel resolves guest paths in the chroot): lookups, listings, the cwd
 * and socket paths never stop; the refused family always does; opens, execs and changes only for a file
 * access with hooks.
 */
class KernelRootedFilterTest {
    static List<Arch> arches() {
        return Arches.all();
    }

    private static final Set<Sys> NEVER = EnumSet.of(Sys.STAT, Sys.LSTAT, Sys.NEWFSTATAT, Sys.FSTATAT64, Sys.STATX, Sys.ACCESS,
            Sys.FACCESSAT, Sys.FACCESSAT2, Sys.READLINK, Sys.READLINKAT, Sys.CHDIR, Sys.GETCWD, Sys.GETDENTS, Sys.GETDENTS64,
            Sys.STATFS, Sys.STATFS64, Sys.INOTIFY_ADD_WATCH, Sys.FANOTIFY_MARK, Sys.BIND, Sys.CONNECT, Sys.SENDTO, Sys.SENDMSG,
            Sys.RECVFROM, Sys.RECVMSG, Sys.ACCEPT, Sys.GETSOCKNAME, Sys.NAME_TO_HANDLE_AT);
    private static final Set<Sys> REFUSED = EnumSet.of(Sys.CHROOT, Sys.MOUNT, Sys.UMOUNT2, Sys.PIVOT_ROOT, Sys.MOVE_MOUNT,
            Sys.FSOPEN, Sys.ACCT, Sys.SWAPON, Sys.QUOTACTL, Sys.OPEN_BY_HANDLE_AT);
    private static final Set<Sys> HOOKED = EnumSet.of(Sys.OPEN, Sys.OPENAT, Sys.OPENAT2, Sys.CREAT, Sys.EXECVE, Sys.EXECVEAT,
            Sys.MKDIR, Sys.MKDIRAT, Sys.UNLINKAT, Sys.RENAMEAT2, Sys.SYMLINKAT, Sys.LINKAT, Sys.FCHMODAT, Sys.FCHOWNAT,
            Sys.UTIMENSAT, Sys.TRUNCATE, Sys.SETXATTR, Sys.REMOVEXATTRAT, Sys.FCHMOD, Sys.FCHOWN, Sys.FSETXATTR,
            Sys.GETXATTR, Sys.LGETXATTR, Sys.LISTXATTR, Sys.GETXATTRAT);

    /** A file access that wants hooks (a mirror's), with whole trees. */
    static final class Hooked extends io.tether.daemon.tracer.HookedLocalAccess {
    }

    private static int verdict(Arch arch, byte[] program, Sys sys) {
        long[] pointers = {0x7ffd0000L, 0x7ffd1000L, 0x7ffd2000L, 0x7ffd3000L, 0x7ffd4000L, 0x7ffd5000L};
        return BpfInterpreter.run(program, arch.table().number(sys), arch.auditArch(), pointers);
    }

    @ParameterizedTest
    @MethodSource("arches")
    void withHooksOnlyOpensExecsChangesAndRefusalsStop(Arch arch) {
        GuestView view = GuestView.builder("/tmp").fileAccess(new Hooked()).build();
        byte[] program = SeccompProgram.forSyscalls(arch, Handlers.trappedWhenKernelRooted(Handlers.standard(arch), view)).toBytes();
        for (Sys sys : Sys.values()) {
            if (arch.table().number(sys) < 0) continue;
            if (NEVER.contains(sys)) assertEquals(Bpf.RET_ALLOW, verdict(arch, program, sys), arch + " " + sys);
            if (REFUSED.contains(sys) || HOOKED.contains(sys)) assertEquals(Bpf.RET_TRACE, verdict(arch, program, sys), arch + " " + sys);
        }
    }

    /**
     * With directory opens passing (a mirror's whole trees), an open or openat that only looks into a directory
     * runs without a stop; any open that could create, write, make a temporary file or fetch contents stops.
     */
    @ParameterizedTest
    @MethodSource("arches")
    void readOnlyDirectoryOpensPassEveryOtherOpenStops(Arch arch) {
        GuestView view = GuestView.builder("/tmp").fileAccess(new Hooked()).build();
        Handlers handlers = Handlers.standard(arch);
        assertTrue(Handlers.directoryOpensPassWhenKernelRooted(handlers, view));
        byte[] program = SeccompProgram.forSyscalls(arch, Handlers.trappedWhenKernelRooted(handlers, view), true).toBytes();
        int dir = arch.oDirectory(), nofollow = arch.oNofollow();
        int cloexec = 02000000, nonblock = 04000, noctty = 0400, largefile = arch == Arches.X86_64 ? 0100000 : 0400000;
        int creat = 0100, excl = 0200, trunc = 01000, tmpfile = 020000000, path = 010000000;
        int[] pass = {dir, dir | cloexec, dir | nofollow | nonblock | noctty | cloexec, dir | path, dir | largefile};
        int[] stop = {0, cloexec, 1, 2, dir | 1, dir | 2, dir | creat, dir | creat | excl, dir | tmpfile | 2, dir | trunc | 1,
                tmpfile | dir | 1, creat | 1};
        assertOpens(arch, program, pass, stop);
        // openat2's flags are in memory, creat always creates, exec and changes stop as before.
        for (Sys sys : HOOKED) {
            if (arch.table().number(sys) < 0 || sys == Sys.OPEN || sys == Sys.OPENAT) continue;
            assertEquals(Bpf.RET_TRACE, verdict(arch, program, sys), arch + " " + sys);
        }
        for (Sys sys : NEVER) {
            if (arch.table().number(sys) >= 0) assertEquals(Bpf.RET_ALLOW, verdict(arch, program, sys), arch + " " + sys);
        }
    }

    /**
     * Behind the mirror's open gate every read-only open of open and openat runs without a stop (the kernel holds
     * a file's first open until its contents are here), and so do execve and execveat; an open that could create,
     * write, truncate or make a temporary file still stops, and openat2 (flags in memory) and creat always do.
     */
    @ParameterizedTest
    @MethodSource("arches")
    void behindTheGateReadOnlyOpensPassEveryOtherOpenStops(Arch arch) {
        GuestView view = GuestView.builder("/tmp").fileAccess(new Hooked()).build();
        Handlers handlers = Handlers.standard(arch);
        byte[] program = SeccompProgram.forSyscalls(arch, Handlers.trappedBehindOpenGate(handlers, view),
                SeccompProgram.OpensPass.READ_ONLY).toBytes();
        int dir = arch.oDirectory(), nofollow = arch.oNofollow();
        int cloexec = 02000000, nonblock = 04000, noctty = 0400, largefile = arch == Arches.X86_64 ? 0100000 : 0400000;
        int creat = 0100, excl = 0200, trunc = 01000, tmpfile = 020000000, path = 010000000;
        int[] pass = {0, cloexec, dir, dir | cloexec, nofollow | nonblock | noctty | cloexec, path, path | nofollow, largefile};
        int[] stop = {1, 2, 3, cloexec | 1, trunc, trunc | cloexec, creat, creat | excl, creat | excl | 1, dir | 1, dir | trunc,
                tmpfile | dir | 1, tmpfile | dir | 2, nofollow | 2};
        assertOpens(arch, program, pass, stop);
        // The gate holds an exec's opens of its program, interpreter and loader: execve and execveat run unstopped.
        for (Sys sys : HOOKED) {
            if (arch.table().number(sys) < 0 || sys == Sys.OPEN || sys == Sys.OPENAT) continue;
            int expected = sys == Sys.EXECVE || sys == Sys.EXECVEAT ? Bpf.RET_ALLOW : Bpf.RET_TRACE;
            assertEquals(expected, verdict(arch, program, sys), arch + " " + sys);
        }
        for (Sys sys : NEVER) {
            if (arch.table().number(sys) >= 0) assertEquals(Bpf.RET_ALLOW, verdict(arch, program, sys), arch + " " + sys);
        }
        for (Sys sys : REFUSED) {
            if (arch.table().number(sys) >= 0) assertEquals(Bpf.RET_TRACE, verdict(arch, program, sys), arch + " " + sys);
        }
        // No new mount namespace, whose copied mounts would carry no mark of the gate; everything else of them runs.
        int newns = 0x00020000, newuts = 0x04000000, sigchld = 17;
        for (Sys sys : new Sys[] {Sys.UNSHARE, Sys.CLONE}) {
            int nr = arch.table().number(sys);
            assertEquals(Bpf.RET_ERRNO | Errno.EPERM, BpfInterpreter.run(program, nr, arch.auditArch(), new long[] {newns | sigchld, 0, 0, 0, 0, 0}),
                    arch + " " + sys + " CLONE_NEWNS");
            assertEquals(Bpf.RET_ALLOW, BpfInterpreter.run(program, nr, arch.auditArch(), new long[] {newuts | sigchld, 0x7ffd0000L, 0, 0, 0, 0}),
                    arch + " " + sys);
        }
        assertEquals(Bpf.RET_ERRNO | Errno.EPERM, verdict(arch, program, Sys.SETNS), arch + " setns");
        assertEquals(Bpf.RET_ERRNO | Errno.ENOSYS, verdict(arch, program, Sys.CLONE3), arch + " clone3");
        // Without a gate (every open stops), all of them run.
        byte[] ungated = SeccompProgram.forSyscalls(arch, Handlers.trappedWhenKernelRooted(handlers, view), true).toBytes();
        for (Sys sys : new Sys[] {Sys.UNSHARE, Sys.CLONE, Sys.SETNS, Sys.CLONE3}) {
            long[] args = {newns, 0, 0, 0, 0, 0};
            assertEquals(Bpf.RET_ALLOW, BpfInterpreter.run(ungated, arch.table().number(sys), arch.auditArch(), args), arch + " " + sys);
        }
    }

    /** open and openat with each of {@code pass} run (whatever the flags register's upper half holds), with each of {@code stop} stop. */
    private static void assertOpens(Arch arch, byte[] program, int[] pass, int[] stop) {
        long high = 0xdead_beefL << 32; // open's flags are an int: the register's upper half means nothing
        for (Sys sys : new Sys[] {Sys.OPEN, Sys.OPENAT}) {
            int nr = arch.table().number(sys);
            if (nr < 0) continue;
            int flagsArg = sys == Sys.OPEN ? 1 : 2;
            for (int flags : pass) {
                long[] args = {0x7ffd0000L, 0x7ffd1000L, 0x7ffd2000L, 0, 0, 0};
                args[flagsArg] = flags | high;
                assertEquals(Bpf.RET_ALLOW, BpfInterpreter.run(program, nr, arch.auditArch(), args),
                        arch + " " + sys + " flags 0" + Integer.toOctalString(flags));
            }
            for (int flags : stop) {
                long[] args = {0x7ffd0000L, 0x7ffd1000L, 0x7ffd2000L, 0, 0, 0};
                args[flagsArg] = flags;
                assertEquals(Bpf.RET_TRACE, BpfInterpreter.run(program, nr, arch.auditArch(), args),
                        arch + " " + sys + " flags 0" + Integer.toOctalString(flags));
            }
        }
    }

    @ParameterizedTest
    @MethodSource("arches")
    void locallyOnlyTheRefusedFamilyStops(Arch arch) {
        GuestView view = GuestView.builder("/tmp").fileAccess(LocalFileAccess.INSTANCE).build();
        byte[] program = SeccompProgram.forSyscalls(arch, Handlers.trappedWhenKernelRooted(Handlers.standard(arch), view)).toBytes();
        for (Sys sys : Sys.values()) {
            if (arch.table().number(sys) < 0) continue;
            int expected = REFUSED.contains(sys) || sys == Sys.QUOTACTL_FD || sys == Sys.SWAPOFF || sys == Sys.OPEN_TREE
                    || sys == Sys.OPEN_TREE_ATTR || sys == Sys.FSCONFIG || sys == Sys.FSPICK || sys == Sys.MOUNT_SETATTR
                    ? Bpf.RET_TRACE : Bpf.RET_ALLOW;
            assertEquals(expected, verdict(arch, program, sys), arch + " " + sys);
        }
    }
}
