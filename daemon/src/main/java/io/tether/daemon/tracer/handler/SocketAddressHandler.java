package io.tether.daemon.tracer.handler;

import io.tether.daemon.guest.Resolved;
import io.tether.daemon.tracer.SyscallContext;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;

/**
 * bind and connect: an AF_UNIX address with a path names a file, so the path becomes its host path
 * (a new sockaddr_un below the stack). Other families and abstract names pass untouched.
 */
public final class SocketAddressHandler implements SyscallHandler {
    private static final int AF_UNIX = 1, SUN_PATH_OFFSET = 2, SUN_PATH_MAX = 108;

    @Override
    public Disposition enter(SyscallContext ctx) throws ErrnoException {
        long address = ctx.arg(1);
        int length = ctx.intArg(2);
        if (address == 0 || length <= SUN_PATH_OFFSET) return Disposition.RUN;
        byte[] sa = ctx.read(address, Math.min(length, SUN_PATH_OFFSET + SUN_PATH_MAX));
        int family = (sa[0] & 0xff) | (sa[1] & 0xff) << 8;
        if (family != AF_UNIX || sa[SUN_PATH_OFFSET] == 0) return Disposition.RUN;
        StringBuilder path = new StringBuilder();
        for (int i = SUN_PATH_OFFSET; i < sa.length && sa[i] != 0; i++) path.append((char) (sa[i] & 0xff));
        // connect follows a final symlink; bind creates the name and fails with EADDRINUSE on any.
        boolean follow = ctx.sys() == io.tether.daemon.tracer.arch.Sys.CONNECT;
        Resolved r = ctx.resolve(SyscallContext.AT_FDCWD, path.toString(), follow);
        String host = r.hostPath();
        if (host.length() >= SUN_PATH_MAX) throw new ErrnoException(Errno.ENAMETOOLONG, ctx.sys().kernelName(), host);
        byte[] out = new byte[SUN_PATH_OFFSET + host.length() + 1];
        out[0] = (byte) AF_UNIX;
        for (int i = 0; i < host.length(); i++) out[SUN_PATH_OFFSET + i] = (byte) host.charAt(i);
        ctx.setArg(1, ctx.push(out));
        ctx.setArg(2, out.length);
        return Disposition.RUN;
    }
}
