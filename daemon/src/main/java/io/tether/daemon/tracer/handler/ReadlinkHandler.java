package io.tether.daemon.tracer.handler;

import io.tether.daemon.guest.Resolved;
import io.tether.daemon.tracer.SyscallContext;
import io.tether.daemon.tracer.arch.Sys;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;

/**
 * readlink and readlinkat, emulated at the entry stop: the tracer reads the link itself and writes
 * what the guest must see (ordinary targets as stored, /proc magic links as guest paths), so no
 * exit stop is needed. Truncated to the buffer size without a NUL, as readlink(2) does.
 */
public final class ReadlinkHandler implements SyscallHandler {
    @Override
    public Disposition enter(SyscallContext ctx) throws ErrnoException {
        boolean at = ctx.sys() == Sys.READLINKAT;
        int dirfd = at ? ctx.intArg(0) : SyscallContext.AT_FDCWD;
        int pathArg = at ? 1 : 0;
        long buffer = ctx.arg(pathArg + 1);
        long size = ctx.arg(pathArg + 2);
        String guestPath = ctx.readString(ctx.arg(pathArg));
        if (guestPath.isEmpty()) {
            if (at) return Disposition.RUN; // the dirfd itself (an O_PATH fd on a link): kernel's business
            throw new ErrnoException(Errno.ENOENT, "readlink", "empty path");
        }
        if ((int) size <= 0) throw new ErrnoException(Errno.EINVAL, "readlink", "buffer size " + size);
        Resolved r = ctx.resolve(dirfd, guestPath, false);
        if (!r.exists()) throw new ErrnoException(Errno.ENOENT, "readlink", guestPath);
        String target = ctx.view().readlink(r, ctx.ids());
        int n = (int) Math.min(target.length(), size);
        byte[] out = new byte[n];
        for (int i = 0; i < n; i++) out[i] = (byte) target.charAt(i);
        ctx.write(buffer, out);
        return ctx.skip(n);
    }
}
