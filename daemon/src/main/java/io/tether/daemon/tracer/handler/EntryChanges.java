package io.tether.daemon.tracer.handler;

import io.tether.daemon.guest.Change;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;

/**
 * The changes of the directory-entry family: mkdir, mknod, unlink, rmdir, rename, link, symlink.
 * Modes are what the kernel will create: the tracee's umask already cleared. Removing or renaming a
 * Unix socket announces nothing: sockets bound by the program exist on the target only
 * ({@link HookArgs#isSocket}).
 */
final class EntryChanges {
    static final int AT_REMOVEDIR = 0x200;
    private static final int S_IFMT = 0170000, S_IFREG = 0100000;

    private EntryChanges() {}

    /** mkdir(path, mode), mkdirat(dirfd, path, mode). */
    static ChangeOf mkdir(int modeArg) {
        return (ctx, p) -> new Change.Mkdir(p.get(0), ctx.intArg(modeArg) & 01777 & ~HookArgs.umask(ctx));
    }

    /** mknod(path, mode, dev), mknodat(dirfd, path, mode, dev): dev in the syscall's 32-bit encoding. */
    static ChangeOf mknod(int modeArg, int devArg) {
        return (ctx, p) -> {
            int mode = ctx.intArg(modeArg);
            int type = (mode & S_IFMT) == 0 ? S_IFREG : mode & S_IFMT;
            return new Change.Mknod(p.get(0), type | HookArgs.created(ctx, mode), Integer.toUnsignedLong(ctx.intArg(devArg)));
        };
    }

    static ChangeOf unlink() {
        return (ctx, p) -> HookArgs.isSocket(p.get(0)) ? null : new Change.Unlink(p.get(0));
    }

    /** unlinkat(dirfd, path, flags): AT_REMOVEDIR makes it rmdir. */
    static ChangeOf unlinkat(int flagsArg) {
        return (ctx, p) -> (ctx.intArg(flagsArg) & AT_REMOVEDIR) != 0 ? new Change.Rmdir(p.get(0))
                : HookArgs.isSocket(p.get(0)) ? null : new Change.Unlink(p.get(0));
    }

    static ChangeOf rmdir() {
        return (ctx, p) -> new Change.Rmdir(p.get(0));
    }

    /** rename, renameat (flagsArg -1: none), renameat2 (RENAME_NOREPLACE, RENAME_EXCHANGE...). */
    static ChangeOf rename(int flagsArg) {
        return (ctx, p) -> HookArgs.isSocket(p.get(0)) ? null
                : new Change.Rename(p.get(0), p.get(1), flagsArg < 0 ? 0 : ctx.intArg(flagsArg));
    }

    static ChangeOf link() {
        return (ctx, p) -> new Change.Link(p.get(0), p.get(1));
    }

    /** symlink(target, path), symlinkat(target, dirfd, path): the target as the tracee wrote it. */
    static ChangeOf symlink(int targetArg) {
        return (ctx, p) -> {
            long address = ctx.arg(targetArg);
            if (address == 0) throw new ErrnoException(Errno.EFAULT, ctx.sys().kernelName(), "NULL target");
            String target = ctx.readString(address);
            if (target.isEmpty()) throw new ErrnoException(Errno.ENOENT, ctx.sys().kernelName(), "empty target");
            return new Change.Symlink(target, p.get(0));
        };
    }
}
