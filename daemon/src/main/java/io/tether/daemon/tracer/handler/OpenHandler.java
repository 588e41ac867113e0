package io.tether.daemon.tracer.handler;

import io.tether.daemon.guest.FileKind;
import io.tether.daemon.guest.GuestFileAccess;
import io.tether.daemon.guest.GuestView;
import io.tether.daemon.guest.Resolved;
import io.tether.daemon.tracer.SyscallContext;
import io.tether.daemon.tracer.arch.Sys;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * open, openat, creat and openat2: the path becomes its host path. A final symlink is followed
 * unless O_NOFOLLOW, or O_CREAT|O_EXCL (which must fail with EEXIST on any existing name).
 * openat2's RESOLVE_* restrictions are applied by the guest walk (binds are the mounts) and then
 * cleared, since the kernel would apply them to host paths.
 *
 * <p>When the guest's file access wants hooks, every open is resolved here (never left to the kernel
 * alone) and {@link GuestFileAccess#beforeOpen} gets the target path, the flags and, for O_CREAT and
 * O_TMPFILE, the mode less the tracee's umask; its errno fails the open unrun. Opens of missing files
 * without O_CREAT are left to the kernel's ENOENT.
 */
public final class OpenHandler implements SyscallHandler {
    private static final int O_CREAT = 0100, O_EXCL = 0200;
    private static final int O_PATH = 010000000;
    private static final int O_TMPFILE = 020000000;
    private static final int OPEN_HOW_SIZE = 24;

    @Override
    public Disposition enter(SyscallContext ctx) throws ErrnoException {
        Sys sys = ctx.sys();
        int pathArg = sys == Sys.OPEN || sys == Sys.CREAT ? 0 : 1;
        int dirfd = pathArg == 0 ? SyscallContext.AT_FDCWD : ctx.intArg(0);
        long flags;
        long mode;
        ByteBuffer how = null;
        int resolve = 0;
        if (sys == Sys.CREAT) {
            flags = O_CREAT | 01000 | 1; // O_CREAT|O_TRUNC|O_WRONLY
            mode = ctx.arg(1);
        } else if (sys == Sys.OPENAT2) {
            long size = ctx.arg(3);
            if (size < OPEN_HOW_SIZE) throw new ErrnoException(Errno.EINVAL, "openat2", "open_how size " + size);
            how = ByteBuffer.wrap(ctx.read(ctx.arg(2), OPEN_HOW_SIZE)).order(ByteOrder.LITTLE_ENDIAN);
            flags = how.getLong(0);
            mode = how.getLong(8);
            long resolveFlags = how.getLong(16);
            if ((resolveFlags & ~0x3fL) != 0) throw new ErrnoException(Errno.EINVAL, "openat2", "unknown RESOLVE_ flags");
            resolve = (int) resolveFlags;
        } else {
            flags = ctx.intArg(sys == Sys.OPEN ? 1 : 2);
            mode = ctx.arg(sys == Sys.OPEN ? 2 : 3);
        }
        boolean nofollow = (flags & ctx.arch().oNofollow()) != 0;
        boolean follow = !nofollow && (flags & (O_CREAT | O_EXCL)) != (O_CREAT | O_EXCL);
        boolean noSymlinks = (resolve & GuestView.RESOLVE_NO_SYMLINKS) != 0;
        long address = ctx.arg(pathArg);
        String guestPath = ctx.readString(address);
        if (guestPath.isEmpty()) throw new ErrnoException(Errno.ENOENT, sys.kernelName(), "empty path");
        GuestFileAccess fs = ctx.view().fileAccess();
        boolean hooked = fs.wantsHooks();
        if (sys != Sys.OPENAT2 && !hooked && ctx.kernelResolvesAlike(dirfd, guestPath, follow)) return Disposition.RUN;
        Resolved r = ctx.resolve(dirfd, guestPath, follow && !noSymlinks, resolve);
        if (noSymlinks && follow && r.kind() == FileKind.SYMLINK && !((flags & O_PATH) != 0 && nofollow)) {
            throw new ErrnoException(Errno.ELOOP, "openat2", guestPath);
        }
        if (hooked) beforeOpen(ctx, fs, r, (int) flags, (int) mode);
        if (ctx.kernelRooted()) return Disposition.RUN; // the kernel resolves the same path in the chroot
        if (!r.hostPath().equals(guestPath)) ctx.setArg(pathArg, ctx.pushString(r.hostPath()));
        if (how != null && resolve != 0) {
            how.putLong(16, 0); // applied in the guest; on the host path they would mean something else
            ctx.setArg(2, ctx.push(how.array()));
            ctx.setArg(3, OPEN_HOW_SIZE);
        }
        return Disposition.RUN;
    }

    private static void beforeOpen(SyscallContext ctx, GuestFileAccess fs, Resolved r, int flags, int mode) throws ErrnoException {
        boolean creates = (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
        if (!r.exists() && !creates) return; // ENOENT: the kernel says so itself
        String target = HookArgs.targetPath(r, false);
        int created = creates ? HookArgs.created(ctx, mode) : 0;
        HookArgs.call("beforeOpen", () -> fs.beforeOpen(target, flags, created));
    }
}
