package io.tether.daemon.tracer.handler;

import io.tether.daemon.tracer.SyscallContext;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;

/** getcwd, emulated: the guest path of the tracee's cwd, with the kernel's length and ERANGE rules. */
public final class GetcwdHandler implements SyscallHandler {
    @Override
    public Disposition enter(SyscallContext ctx) throws ErrnoException {
        String cwd = ctx.guestCwd();
        long size = ctx.arg(1);
        if (cwd.length() + 1 > size) throw new ErrnoException(Errno.ERANGE, "getcwd", cwd);
        byte[] out = new byte[cwd.length() + 1];
        for (int i = 0; i < cwd.length(); i++) out[i] = (byte) cwd.charAt(i);
        ctx.write(ctx.arg(0), out);
        return ctx.skip(out.length);
    }
}
