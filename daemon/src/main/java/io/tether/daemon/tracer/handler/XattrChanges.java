package io.tether.daemon.tracer.handler;

import io.tether.daemon.guest.Change;
import io.tether.daemon.tracer.SyscallContext;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The changes of the xattr family: setxattr, lsetxattr, setxattrat, removexattr, lremovexattr,
 * removexattrat. The name and value are read from the tracee; what the kernel refuses before touching
 * the file (bad flags, empty or overlong names, values over 64 KiB) is refused here first.
 */
final class XattrChanges {
    private static final int XATTR_NAME_MAX = 255, XATTR_SIZE_MAX = 65536, XATTR_CREATE = 1, XATTR_REPLACE = 2;
    private static final int XATTR_ARGS_SIZE = 16; // struct xattr_args { u64 value; u32 size; u32 flags; }

    private XattrChanges() {}

    /** setxattr(path, name, value, size, flags) and lsetxattr ({@code follow} false). */
    static ChangeOf setxattr(boolean follow) {
        return (ctx, p) -> set(ctx, p.get(0), ctx.arg(1), ctx.arg(2), ctx.arg(3), ctx.intArg(4), follow);
    }

    /** setxattrat(dirfd, path, at_flags, name, struct xattr_args *, size). */
    static ChangeOf setxattrat() {
        return (ctx, p) -> {
            if (ctx.arg(5) < XATTR_ARGS_SIZE) throw new ErrnoException(Errno.EINVAL, "setxattrat", "xattr_args size " + ctx.arg(5));
            ByteBuffer args = ByteBuffer.wrap(ctx.read(ctx.arg(4), XATTR_ARGS_SIZE)).order(ByteOrder.LITTLE_ENDIAN);
            return set(ctx, p.get(0), ctx.arg(3), args.getLong(0), Integer.toUnsignedLong(args.getInt(8)), args.getInt(12),
                    followAt(ctx));
        };
    }

    /** removexattr(path, name) and lremovexattr ({@code follow} false). */
    static ChangeOf removexattr(boolean follow) {
        return (ctx, p) -> new Change.RemoveXattr(p.get(0), name(ctx, ctx.arg(1)), follow);
    }

    /** removexattrat(dirfd, path, at_flags, name). */
    static ChangeOf removexattrat() {
        return (ctx, p) -> new Change.RemoveXattr(p.get(0), name(ctx, ctx.arg(3)), followAt(ctx));
    }

    private static boolean followAt(SyscallContext ctx) {
        return (ctx.intArg(2) & PathArg.AT_SYMLINK_NOFOLLOW) == 0;
    }

    private static Change set(SyscallContext ctx, String targetPath, long nameAddress, long valueAddress, long size, int flags,
                              boolean follow) throws ErrnoException {
        String op = ctx.sys().kernelName();
        if ((flags & ~(XATTR_CREATE | XATTR_REPLACE)) != 0) throw new ErrnoException(Errno.EINVAL, op, "flags " + flags);
        String name = name(ctx, nameAddress);
        if (size > XATTR_SIZE_MAX) throw new ErrnoException(Errno.E2BIG, op, "value of " + size + " bytes");
        byte[] value = size == 0 ? new byte[0] : ctx.read(valueAddress, (int) size);
        return new Change.SetXattr(targetPath, name, value, flags, follow);
    }

    private static String name(SyscallContext ctx, long address) throws ErrnoException {
        String name = ctx.readString(address);
        if (name.isEmpty() || name.length() > XATTR_NAME_MAX) throw new ErrnoException(Errno.ERANGE, ctx.sys().kernelName(), "xattr name");
        return name;
    }
}
