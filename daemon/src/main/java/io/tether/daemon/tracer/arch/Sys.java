package io.tether.daemon.tracer.arch;

import java.util.Locale;

/**
 * Logical system calls the tracer knows by meaning, independent of any architecture's numbering.
 * Each constant is named after the kernel's own name ({@code __NR_<name>}); per-arch {@link SyscallTable}s
 * map raw numbers to these. Every syscall that takes a path, executes, changes or reports the cwd, or
 * names a file through a socket address is here and {@link #trapped()}: the seccomp filter stops on it,
 * so none can slip through untranslated. A few untrapped ones exist because the tracer itself issues
 * them in a tracee (seccomp filter injection).
 */
public enum Sys {
    // open family: create fds from paths
    OPEN, OPENAT, OPENAT2, CREAT, OPEN_BY_HANDLE_AT, NAME_TO_HANDLE_AT,
    // stat family
    STAT, LSTAT, NEWFSTATAT, FSTATAT64, STAT64, LSTAT64, STATX, STATFS, STATFS64,
    ACCESS, FACCESSAT, FACCESSAT2,
    READLINK, READLINKAT,
    // exec and cwd (fchdir needs no stop: the cwd is read back from /proc/PID/cwd)
    EXECVE, EXECVEAT, CHDIR, FCHDIR(false), GETCWD, CHROOT,
    // directory entries
    MKDIR, MKDIRAT, RMDIR, MKNOD, MKNODAT, UNLINK, UNLINKAT, RENAME, RENAMEAT, RENAMEAT2,
    LINK, LINKAT, SYMLINK, SYMLINKAT,
    // attributes
    CHMOD, FCHMODAT, FCHMODAT2, CHOWN, LCHOWN, CHOWN32, LCHOWN32, FCHOWNAT,
    TRUNCATE, TRUNCATE64, UTIME, UTIMES, FUTIMESAT, UTIMENSAT, UTIMENSAT_TIME64,
    SETXATTR, LSETXATTR, GETXATTR, LGETXATTR, LISTXATTR, LLISTXATTR, REMOVEXATTR, LREMOVEXATTR,
    SETXATTRAT, GETXATTRAT, LISTXATTRAT, REMOVEXATTRAT, FILE_GETATTR, FILE_SETATTR,
    // watches, accounting, swap, quota
    INOTIFY_ADD_WATCH, FANOTIFY_MARK, USELIB, ACCT, SWAPON, SWAPOFF, QUOTACTL, QUOTACTL_FD,
    // mounts: refused cleanly inside a guest
    MOUNT, UMOUNT2, PIVOT_ROOT, OPEN_TREE, OPEN_TREE_ATTR, MOVE_MOUNT, FSOPEN, FSCONFIG, FSPICK, MOUNT_SETATTR,
    // AF_UNIX socket paths: addresses in (bind, connect, sendto, sendmsg) and out (the rest). Those
    // with an address-pointer argument stop only when it is non-NULL: send(), recv() and accept(fd,
    // NULL, NULL) on every socket run at native speed. sendmsg/recvmsg and sendmmsg/recvmmsg carry their
    // addresses in memory the filter cannot read, so they always stop (see SeccompProgram).
    BIND, CONNECT, SENDTO(4), SENDMSG, RECVFROM(4), RECVMSG, ACCEPT(1), ACCEPT4(1), GETSOCKNAME(1), GETPEERNAME(1),
    SENDMMSG, RECVMMSG, RECVMMSG_TIME64,
    // directory listings: stopped on only in runs with binds the host listings lack (see trappedOnDemand)
    GETDENTS(Trap.ON_DEMAND, -1), GETDENTS64(Trap.ON_DEMAND, -1),
    // attribute changes through an fd: stopped on only when a remote source of truth must see them (FdChangeHandler)
    FCHMOD(Trap.ON_DEMAND, -1), FCHOWN(Trap.ON_DEMAND, -1), FCHOWN32(Trap.ON_DEMAND, -1), FSETXATTR(Trap.ON_DEMAND, -1),
    FREMOVEXATTR(Trap.ON_DEMAND, -1),
    // issued by the tracer in a tracee, never trapped (unshare: kernel-rooted runs, see KernelRoot)
    PRCTL(false), SECCOMP(false), UNSHARE(false),
    // new mount namespaces: refused by the filter itself behind the mirror's open gate (SeccompProgram), never stopped
    CLONE(false), CLONE3(false), SETNS(false),
    // issued in a tracee whose program runs on the host (tracer.HostRuns): park, then end as the host process did
    PPOLL(false), EXIT_GROUP(false), RT_SIGACTION(false), RT_SIGPROCMASK(false), TGKILL(false);

    private enum Trap { ALWAYS, NEVER, ON_DEMAND }

    private final Trap trap;
    private final int pointerArg;

    Sys() {
        this(Trap.ALWAYS, -1);
    }

    Sys(boolean trapped) {
        this(trapped ? Trap.ALWAYS : Trap.NEVER, -1);
    }

    /** Trapped only when argument {@code pointerArg} (an address) is non-NULL. */
    Sys(int pointerArg) {
        this(Trap.ALWAYS, pointerArg);
    }

    Sys(Trap trap, int pointerArg) {
        this.trap = trap;
        this.pointerArg = pointerArg;
    }

    /** Whether the standard seccomp filter stops the tracee on this syscall (perhaps only for some arguments). */
    public boolean trapped() {
        return trap == Trap.ALWAYS;
    }

    /**
     * Whether the filter stops on it only in runs that need it, and then for every call: the caller
     * names them to {@link io.tether.daemon.tracer.seccomp.SeccompProgram} (getdents of a guest with
     * binds onto locations the rootfs lacks).
     */
    public boolean trappedOnDemand() {
        return trap == Trap.ON_DEMAND;
    }

    /** The argument (an address) that must be non-NULL for the filter to stop, or -1: every call stops. */
    public int trapOnlyIfArgSet() {
        return pointerArg;
    }

    /** The kernel's name, as in {@code __NR_<name>}. */
    public String kernelName() {
        return name().toLowerCase(Locale.ROOT);
    }
}
