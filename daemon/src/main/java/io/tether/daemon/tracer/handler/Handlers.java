package io.tether.daemon.tracer.handler;

import static io.tether.daemon.tracer.handler.PathArg.AT_EMPTY_PATH;
import static io.tether.daemon.tracer.handler.PathArg.AT_SYMLINK_FOLLOW;
import static io.tether.daemon.tracer.handler.PathArg.AT_SYMLINK_NOFOLLOW;
import static io.tether.daemon.tracer.handler.PathArg.follow;
import static io.tether.daemon.tracer.handler.PathArg.nofollow;

import io.tether.daemon.guest.GuestView;
import io.tether.daemon.tracer.arch.Arch;
import io.tether.daemon.tracer.arch.Sys;
import io.tether.posix.Errno;
import java.util.Collections;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

/**
 * The handler of each logical syscall. {@link #standard(Arch)} covers every trapped syscall: this
 * table is the list of translated path syscalls. A trapped syscall without a handler is refused
 * with ENOSYS by the tracer, never run untranslated.
 */
public final class Handlers {
    private static final int IN_DONT_FOLLOW = 0x02000000, FAN_MARK_DONT_FOLLOW = 0x4;

    private final Map<Sys, SyscallHandler> map;

    private Handlers(Map<Sys, SyscallHandler> map) {
        this.map = Collections.unmodifiableMap(map);
    }

    public SyscallHandler get(Sys sys) {
        return map.get(sys);
    }

    public Map<Sys, SyscallHandler> all() {
        return map;
    }

    /** A copy with {@code handler} for {@code sys} instead of the standard one. */
    public Handlers with(Sys sys, SyscallHandler handler) {
        Map<Sys, SyscallHandler> copy = new EnumMap<>(map);
        copy.put(sys, handler);
        return new Handlers(copy);
    }

    /** A copy without the handler of {@code sys} (tests of the ENOSYS refusal). */
    public Handlers without(Sys sys) {
        Map<Sys, SyscallHandler> copy = new EnumMap<>(map);
        copy.remove(sys);
        return new Handlers(copy);
    }

    /** The {@link Sys#trappedOnDemand()} syscalls a run over {@code view} needs stopped on. */
    public static Set<Sys> trappedOnDemand(GuestView view) {
        Set<Sys> s = EnumSet.noneOf(Sys.class);
        s.addAll(DirectoryEntriesHandler.trappedFor(view));
        s.addAll(FdChangeHandler.trappedFor(view));
        return s;
    }

    /**
     * What a kernel-rooted run over {@code view} stops on (the kernel resolves every guest path itself
     * inside the chroot): always the refused family (a chroot or mount there would leave the guest);
     * with hooks also the open family, execve/execveat, every call naming a {@link ChangeOf}, the fd
     * changes and the xattr reads. Lookups, listings, the cwd and socket paths never stop.
     */
    public static Set<Sys> trappedWhenKernelRooted(Handlers handlers, GuestView view) {
        boolean hooks = view.fileAccess().wantsHooks();
        Set<Sys> s = EnumSet.noneOf(Sys.class);
        handlers.all().forEach((sys, handler) -> {
            if (handler instanceof RefusedHandler) s.add(sys);
            if (!hooks) return;
            if (handler instanceof OpenHandler || handler instanceof ExecHandler || XATTR_READS.contains(sys)) s.add(sys);
            if (handler instanceof PathHandler p && p.changes()) s.add(sys);
        });
        if (hooks) {
            for (Sys sys : new Sys[] {Sys.OPEN, Sys.OPENAT, Sys.OPENAT2, Sys.CREAT, Sys.EXECVE, Sys.EXECVEAT}) {
                if (handlers.get(sys) != null) s.add(sys); // wrapped handlers (qemu, host exec) included
            }
            s.addAll(FdChangeHandler.trappedFor(view));
        }
        return s;
    }

    /**
     * What a kernel-rooted run over {@code view} stops on behind the mirror's open gate ({@code GuestFileAccess.openGate}):
     * as {@link #trappedWhenKernelRooted} less execve and execveat with the standard {@link ExecHandler}. The kernel's
     * own opens of the program, its "#!" interpreter and its ELF loader are held at the gate, which asks for them and
     * what the loader will need, as the exec's hook did; nothing else of a rooted exec needed the tracer.
     */
    public static Set<Sys> trappedBehindOpenGate(Handlers handlers, GuestView view) {
        Set<Sys> s = trappedWhenKernelRooted(handlers, view);
        for (Sys sys : new Sys[] {Sys.EXECVE, Sys.EXECVEAT}) {
            if (handlers.get(sys) != null && handlers.get(sys).getClass() == ExecHandler.class) s.remove(sys);
        }
        return s;
    }

    /**
     * Whether a kernel-rooted run lets a read-only open of a directory run without a stop
     * ({@link io.tether.daemon.tracer.seccomp.SeccompProgram#forSyscalls(Arch, Set, boolean)}): when open and
     * openat have the standard {@link OpenHandler}. Its hook has nothing to do there: a kernel-rooted run's trees
     * are whole (every directory listed, every name made), and a directory a push marks unlisted during the run is
     * listed again at once, so the kernel's own listing is as current as a stat's. A walk (find, ls -R, os.walk)
     * opens every directory it lists: one stop each was most of a warm walk's cost.
     */
    public static boolean directoryOpensPassWhenKernelRooted(Handlers handlers, GuestView view) {
        if (!view.fileAccess().wantsHooks()) return false; // no open stops at all then
        SyscallHandler open = handlers.get(Sys.OPEN), openat = handlers.get(Sys.OPENAT);
        return (open == null || open instanceof OpenHandler) && openat instanceof OpenHandler;
    }

    private static final Set<Sys> XATTR_READS = Set.copyOf(EnumSet.of(Sys.GETXATTR, Sys.LGETXATTR, Sys.LISTXATTR,
            Sys.LLISTXATTR, Sys.GETXATTRAT, Sys.LISTXATTRAT));

    public static Handlers standard(Arch arch) {
        Map<Sys, SyscallHandler> m = new EnumMap<>(Sys.class);
        // open family
        SyscallHandler open = new OpenHandler();
        for (Sys s : new Sys[] {Sys.OPEN, Sys.OPENAT, Sys.OPENAT2, Sys.CREAT}) m.put(s, open);
        m.put(Sys.NAME_TO_HANDLE_AT, PathHandler.of(nofollow(1).dirfd(0).followIf(4, AT_SYMLINK_FOLLOW).emptyPathIf(AT_EMPTY_PATH)));
        // stat family
        m.put(Sys.STAT, PathHandler.of(follow(0)));
        m.put(Sys.STAT64, PathHandler.of(follow(0)));
        m.put(Sys.LSTAT, PathHandler.of(nofollow(0)));
        m.put(Sys.LSTAT64, PathHandler.of(nofollow(0)));
        SyscallHandler fstatat = PathHandler.of(follow(1).dirfd(0).nofollowIf(3, AT_SYMLINK_NOFOLLOW).emptyPathIf(AT_EMPTY_PATH));
        m.put(Sys.NEWFSTATAT, fstatat);
        m.put(Sys.FSTATAT64, fstatat);
        m.put(Sys.STATX, PathHandler.of(follow(1).dirfd(0).nofollowIf(2, AT_SYMLINK_NOFOLLOW).emptyPathIf(AT_EMPTY_PATH)));
        m.put(Sys.STATFS, PathHandler.of(follow(0)));
        m.put(Sys.STATFS64, PathHandler.of(follow(0)));
        m.put(Sys.ACCESS, PathHandler.of(follow(0)));
        m.put(Sys.FACCESSAT, PathHandler.of(follow(1).dirfd(0)));
        m.put(Sys.FACCESSAT2, PathHandler.of(follow(1).dirfd(0).nofollowIf(3, AT_SYMLINK_NOFOLLOW).emptyPathIf(AT_EMPTY_PATH)));
        SyscallHandler readlink = new ReadlinkHandler();
        m.put(Sys.READLINK, readlink);
        m.put(Sys.READLINKAT, readlink);
        // exec and cwd
        SyscallHandler exec = new ExecHandler();
        m.put(Sys.EXECVE, exec);
        m.put(Sys.EXECVEAT, exec);
        m.put(Sys.CHDIR, PathHandler.of(follow(0)));
        m.put(Sys.GETCWD, new GetcwdHandler());
        // directory entries: each mutating call names the Change a remote source of truth applies first
        m.put(Sys.MKDIR, PathHandler.of(nofollow(0)).changingEntries(EntryChanges.mkdir(1)));
        m.put(Sys.MKDIRAT, PathHandler.of(nofollow(1).dirfd(0)).changingEntries(EntryChanges.mkdir(2)));
        m.put(Sys.RMDIR, PathHandler.of(nofollow(0)).removing().changingEntries(EntryChanges.rmdir()));
        m.put(Sys.MKNOD, PathHandler.of(nofollow(0)).changingEntries(EntryChanges.mknod(1, 2)));
        m.put(Sys.MKNODAT, PathHandler.of(nofollow(1).dirfd(0)).changingEntries(EntryChanges.mknod(2, 3)));
        m.put(Sys.UNLINK, PathHandler.of(nofollow(0)).removing().changingEntries(EntryChanges.unlink()));
        m.put(Sys.UNLINKAT, PathHandler.of(nofollow(1).dirfd(0)).removing().changingEntries(EntryChanges.unlinkat(2)));
        m.put(Sys.RENAME, PathHandler.acrossMounts(nofollow(0), nofollow(1)).removing().changingEntries(EntryChanges.rename(-1)));
        PathHandler renameat = PathHandler.acrossMounts(nofollow(1).dirfd(0), nofollow(3).dirfd(2)).removing();
        m.put(Sys.RENAMEAT, renameat.changingEntries(EntryChanges.rename(-1)));
        m.put(Sys.RENAMEAT2, renameat.changingEntries(EntryChanges.rename(4)));
        m.put(Sys.LINK, PathHandler.acrossMounts(nofollow(0), nofollow(1)).changingEntries(EntryChanges.link()));
        m.put(Sys.LINKAT, PathHandler.acrossMounts(
                nofollow(1).dirfd(0).followIf(4, AT_SYMLINK_FOLLOW).emptyPathIf(AT_EMPTY_PATH), nofollow(3).dirfd(2))
                .changingEntries(EntryChanges.link()));
        // the target is stored as written
        m.put(Sys.SYMLINK, PathHandler.of(nofollow(1)).changingEntries(EntryChanges.symlink(0)));
        m.put(Sys.SYMLINKAT, PathHandler.of(nofollow(2).dirfd(1)).changingEntries(EntryChanges.symlink(0)));
        // attributes
        m.put(Sys.CHMOD, PathHandler.of(follow(0)).changing(AttributeChanges.chmod(1)));
        m.put(Sys.FCHMODAT, PathHandler.of(follow(1).dirfd(0)).changing(AttributeChanges.chmod(2)));
        m.put(Sys.FCHMODAT2, PathHandler.of(follow(1).dirfd(0).nofollowIf(3, AT_SYMLINK_NOFOLLOW).emptyPathIf(AT_EMPTY_PATH))
                .changing(AttributeChanges.chmod(2)));
        m.put(Sys.CHOWN, PathHandler.of(follow(0)).changing(AttributeChanges.chown(1, 2, true, -1)));
        m.put(Sys.CHOWN32, PathHandler.of(follow(0)).changing(AttributeChanges.chown(1, 2, true, -1)));
        m.put(Sys.LCHOWN, PathHandler.of(nofollow(0)).changing(AttributeChanges.chown(1, 2, false, -1)));
        m.put(Sys.LCHOWN32, PathHandler.of(nofollow(0)).changing(AttributeChanges.chown(1, 2, false, -1)));
        m.put(Sys.FCHOWNAT, PathHandler.of(follow(1).dirfd(0).nofollowIf(4, AT_SYMLINK_NOFOLLOW).emptyPathIf(AT_EMPTY_PATH))
                .changing(AttributeChanges.chown(2, 3, true, 4)));
        m.put(Sys.TRUNCATE, PathHandler.of(follow(0)).changing(AttributeChanges.truncate()));
        m.put(Sys.TRUNCATE64, PathHandler.of(follow(0)).changing(AttributeChanges.truncate()));
        m.put(Sys.UTIME, PathHandler.of(follow(0)).changing(TimeChanges.utime()));
        m.put(Sys.UTIMES, PathHandler.of(follow(0)).changing(TimeChanges.utimes(1, 0, -1)));
        m.put(Sys.FUTIMESAT, PathHandler.of(follow(1).dirfd(0).nullable()).changing(TimeChanges.utimes(2, 1, 0)));
        SyscallHandler utimensat = PathHandler.of(
                follow(1).dirfd(0).nofollowIf(3, AT_SYMLINK_NOFOLLOW).emptyPathIf(AT_EMPTY_PATH).nullable())
                .changing(TimeChanges.utimensat());
        m.put(Sys.UTIMENSAT, utimensat);
        m.put(Sys.UTIMENSAT_TIME64, utimensat);
        m.put(Sys.SETXATTR, PathHandler.of(follow(0)).changing(XattrChanges.setxattr(true)));
        m.put(Sys.REMOVEXATTR, PathHandler.of(follow(0)).changing(XattrChanges.removexattr(true)));
        m.put(Sys.LSETXATTR, PathHandler.of(nofollow(0)).changing(XattrChanges.setxattr(false)));
        m.put(Sys.LREMOVEXATTR, PathHandler.of(nofollow(0)).changing(XattrChanges.removexattr(false)));
        for (Sys s : new Sys[] {Sys.GETXATTR, Sys.LISTXATTR}) m.put(s, PathHandler.of(follow(0)));
        for (Sys s : new Sys[] {Sys.LGETXATTR, Sys.LLISTXATTR}) m.put(s, PathHandler.of(nofollow(0)));
        PathHandler xattrat = PathHandler.of(follow(1).dirfd(0).nofollowIf(2, AT_SYMLINK_NOFOLLOW).emptyPathIf(AT_EMPTY_PATH));
        for (Sys s : new Sys[] {Sys.GETXATTRAT, Sys.LISTXATTRAT}) m.put(s, xattrat);
        m.put(Sys.SETXATTRAT, xattrat.changing(XattrChanges.setxattrat()));
        m.put(Sys.REMOVEXATTRAT, xattrat.changing(XattrChanges.removexattrat()));
        SyscallHandler fileattr = PathHandler.of(follow(1).dirfd(0).nofollowIf(4, AT_SYMLINK_NOFOLLOW).emptyPathIf(AT_EMPTY_PATH));
        m.put(Sys.FILE_GETATTR, fileattr);
        m.put(Sys.FILE_SETATTR, fileattr);
        // watches and libraries
        m.put(Sys.INOTIFY_ADD_WATCH, PathHandler.of(follow(1).nofollowIf(2, IN_DONT_FOLLOW)));
        // fanotify_mark(fd, flags, u64 mask, dirfd, path): the 64-bit mask takes two registers on 32-bit ABIs.
        int shift = arch.wordSize() == 4 ? 1 : 0;
        m.put(Sys.FANOTIFY_MARK, PathHandler.of(follow(4 + shift).dirfd(3 + shift).nofollowIf(1, FAN_MARK_DONT_FOLLOW).nullable()));
        m.put(Sys.USELIB, PathHandler.of(follow(0)));
        // sockets
        SyscallHandler sockets = new SocketAddressHandler();
        m.put(Sys.BIND, sockets);
        m.put(Sys.CONNECT, sockets);
        m.put(Sys.SENDTO, sockets);
        m.put(Sys.SENDMSG, sockets);
        m.put(Sys.SENDMMSG, sockets);
        SyscallHandler socketNames = new SocketNameHandler();
        for (Sys s : new Sys[] {Sys.GETSOCKNAME, Sys.GETPEERNAME, Sys.ACCEPT, Sys.ACCEPT4, Sys.RECVFROM, Sys.RECVMSG,
                Sys.RECVMMSG, Sys.RECVMMSG_TIME64}) {
            m.put(s, socketNames);
        }
        // directory listings (trapped only in runs with binds the host listings lack)
        SyscallHandler listings = new DirectoryEntriesHandler();
        for (Sys s : DirectoryEntriesHandler.SYSCALLS) m.put(s, listings);
        // attribute changes through an fd (trapped only when the file access wants hooks)
        m.put(Sys.FCHMOD, new FdChangeHandler(AttributeChanges.chmod(1)));
        m.put(Sys.FCHOWN, new FdChangeHandler(AttributeChanges.chown(1, 2, true, -1)));
        m.put(Sys.FCHOWN32, new FdChangeHandler(AttributeChanges.chown(1, 2, true, -1)));
        m.put(Sys.FSETXATTR, new FdChangeHandler(XattrChanges.setxattr(true)));
        m.put(Sys.FREMOVEXATTR, new FdChangeHandler(XattrChanges.removexattr(true)));
        // refused: they would act outside the guest
        SyscallHandler refused = new RefusedHandler(Errno.EPERM);
        for (Sys s : new Sys[] {Sys.CHROOT, Sys.MOUNT, Sys.UMOUNT2, Sys.PIVOT_ROOT, Sys.OPEN_TREE, Sys.OPEN_TREE_ATTR,
                Sys.MOVE_MOUNT, Sys.FSOPEN, Sys.FSCONFIG, Sys.FSPICK, Sys.MOUNT_SETATTR, Sys.ACCT, Sys.SWAPON,
                Sys.SWAPOFF, Sys.QUOTACTL, Sys.QUOTACTL_FD, Sys.OPEN_BY_HANDLE_AT}) {
            m.put(s, refused);
        }
        return new Handlers(m);
    }
}
