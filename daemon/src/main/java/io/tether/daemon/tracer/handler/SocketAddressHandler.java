package io.tether.daemon.tracer.handler;

import io.tether.daemon.tracer.SyscallContext;
import io.tether.daemon.tracer.arch.Sys;
import io.tether.posix.ErrnoException;
import java.util.Optional;

/**
 * Addresses going in: bind, connect and sendto take a sockaddr in registers, sendmsg in its msghdr's
 * msg_name. An AF_UNIX address with a path names a file, so the path becomes its host path (a new
 * sockaddr_un below the stack; for sendmsg a copy of the msghdr pointing at it, since the caller's
 * must not change). Other families, abstract and unnamed addresses pass untouched.
 *
 * <p>Where an argument was rewritten the call stops again at its exit to put the caller's argument
 * registers back: the x86_64 syscall ABI preserves them, and a call restarted after a signal
 * (a blocking connect or datagram send) must be trapped and translated again rather than re-run on
 * scratch memory the signal frame has since overwritten. Only Unix path addresses pay that stop.
 */
public final class SocketAddressHandler implements SyscallHandler {
    /** Argument registers to put back at the exit stop. */
    record SavedArgs(int[] index, long[] value) {
        static SavedArgs of(SyscallContext ctx, int... index) {
            long[] value = new long[index.length];
            for (int i = 0; i < index.length; i++) value[i] = ctx.arg(index[i]);
            return new SavedArgs(index, value);
        }

        void restore(SyscallContext ctx) {
            for (int i = 0; i < index.length; i++) ctx.setArg(index[i], value[i]);
        }
    }

    @Override
    public Disposition enter(SyscallContext ctx) throws ErrnoException {
        Sys sys = ctx.sys();
        if (sys == Sys.SENDMSG) return enterSendmsg(ctx);
        // bind(fd, addr, len), connect(fd, addr, len), sendto(fd, buf, n, flags, addr, len)
        int addrArg = sys == Sys.SENDTO ? 4 : 1;
        long address = ctx.arg(addrArg);
        int length = ctx.intArg(addrArg + 1);
        if (address == 0 || length <= SockaddrUn.SUN_PATH_OFFSET) return Disposition.RUN;
        byte[] sa = ctx.read(address, Math.min(length, SockaddrUn.SIZE));
        // bind creates the name (no final symlink followed); connect and sendto follow one.
        Optional<byte[]> host = SockaddrUn.toHost(ctx, sa, length, sys != Sys.BIND);
        if (host.isEmpty()) return Disposition.RUN;
        ctx.exitState(SavedArgs.of(ctx, addrArg, addrArg + 1));
        ctx.setArg(addrArg, ctx.push(host.get()));
        ctx.setArg(addrArg + 1, host.get().length);
        return Disposition.RUN_AND_STOP_AT_EXIT;
    }

    /** sendmsg(fd, msg, flags): msg_name is in memory, so the msghdr is copied with it translated. */
    private static Disposition enterSendmsg(SyscallContext ctx) throws ErrnoException {
        long msg = ctx.arg(1);
        if (msg == 0) return Disposition.RUN;
        Msghdr h = Msghdr.of(ctx.read(msg, Msghdr.size(ctx.arch())), ctx.arch());
        int length = h.namelen();
        if (h.name() == 0 || length <= SockaddrUn.SUN_PATH_OFFSET) return Disposition.RUN;
        byte[] sa = ctx.read(h.name(), Math.min(length, SockaddrUn.SIZE));
        Optional<byte[]> host = SockaddrUn.toHost(ctx, sa, length, true);
        if (host.isEmpty()) return Disposition.RUN;
        h.name(ctx.push(host.get()));
        h.namelen(host.get().length);
        ctx.exitState(SavedArgs.of(ctx, 1));
        ctx.setArg(1, ctx.push(h.bytes));
        return Disposition.RUN_AND_STOP_AT_EXIT;
    }

    @Override
    public void exit(SyscallContext ctx) {
        ((SavedArgs) ctx.exitState()).restore(ctx);
    }
}
