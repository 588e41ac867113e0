package io.tether.daemon.tracer.handler;

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
 * openat2's RESOLVE_* restrictions are relative to the dirfd's tree and would need their own
 * walk; until then such calls fail with ENOSYS, which callers treat as "no openat2" and fall back.
 */
public final class OpenHandler implements SyscallHandler {
    private static final int O_CREAT = 0100, O_EXCL = 0200;
    private static final long RESOLVE_RESTRICTIONS = 0x01 | 0x02 | 0x04 | 0x08 | 0x10;

    @Override
    public Disposition enter(SyscallContext ctx) throws ErrnoException {
        Sys sys = ctx.sys();
        int pathArg = sys == Sys.OPEN || sys == Sys.CREAT ? 0 : 1;
        int dirfd = pathArg == 0 ? SyscallContext.AT_FDCWD : ctx.intArg(0);
        long flags;
        if (sys == Sys.CREAT) {
            flags = O_CREAT | 01000 | 1; // O_CREAT|O_TRUNC|O_WRONLY
        } else if (sys == Sys.OPENAT2) {
            long size = ctx.arg(3);
            if (size < 24) throw new ErrnoException(Errno.EINVAL, "openat2", "open_how size " + size);
            ByteBuffer how = ByteBuffer.wrap(ctx.read(ctx.arg(2), 24)).order(ByteOrder.LITTLE_ENDIAN);
            flags = how.getLong(0);
            if ((how.getLong(16) & RESOLVE_RESTRICTIONS) != 0) {
                throw new ErrnoException(Errno.ENOSYS, "openat2", "RESOLVE_* restrictions not translated yet");
            }
        } else {
            flags = ctx.intArg(sys == Sys.OPEN ? 1 : 2);
        }
        boolean follow = (flags & ctx.arch().oNofollow()) == 0 && (flags & (O_CREAT | O_EXCL)) != (O_CREAT | O_EXCL);
        long address = ctx.arg(pathArg);
        String guestPath = ctx.readString(address);
        if (guestPath.isEmpty()) throw new ErrnoException(Errno.ENOENT, sys.kernelName(), "empty path");
        if (sys != Sys.OPENAT2 && ctx.kernelResolvesAlike(dirfd, guestPath, follow)) return Disposition.RUN;
        Resolved r = ctx.resolve(dirfd, guestPath, follow);
        ctx.setArg(pathArg, ctx.pushString(r.hostPath()));
        return Disposition.RUN;
    }
}
