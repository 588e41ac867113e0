package io.tether.daemon.tracer.handler;

import io.tether.daemon.tracer.SyscallContext;
import io.tether.daemon.tracer.arch.Sys;
import io.tether.posix.ErrnoException;
import java.util.Optional;

/**
 * Addresses going in: bind, connect and sendto take a sockaddr in registers, sendmsg in its msghdr's
 * msg_name, sendmmsg in each msghdr of its vector. An AF_UNIX address with a path names a file, so the path becomes its host path (a new
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
        if (sys == Sys.SENDMMSG) return enterSendmmsg(ctx);
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

    /** At most this many messages of a sendmmsg/recvmmsg vector are translated per call (scratch room). */
    static final int MAX_VECTOR = 64;
    /** The kernel's cap on a vector (UIO_MAXIOV). */
    static final int UIO_MAXIOV = 1024;

    private record SentVector(SavedArgs saved, long callerVector, long copy, int count) {}

    /**
     * sendmmsg(fd, vec, vlen, flags): each message may name its own address. Only a Unix socket can
     * take a Unix address (the kernel refuses it on any other), so other sockets run at once. The
     * vector is copied with its path names translated, at most {@link #MAX_VECTOR} messages per call
     * (sendmmsg may send fewer than asked; the caller sends the rest), and the msg_len values the
     * kernel writes go back to the caller's vector at the exit stop.
     */
    private static Disposition enterSendmmsg(SyscallContext ctx) throws ErrnoException {
        long vector = ctx.arg(1);
        long asked = Math.min(ctx.arg(2) & 0xffffffffL, UIO_MAXIOV);
        if (vector == 0 || asked == 0 || !SocketNameHandler.mayBeUnix(ctx)) return Disposition.RUN;
        int size = Msghdr.mmsgSize(ctx.arch());
        byte[] all = ctx.read(vector, (int) asked * size);
        boolean any = false;
        for (int i = 0; i < asked && !any; i++) any = Msghdr.entry(all, i, ctx.arch()).name() != 0;
        if (!any) return Disposition.RUN;
        int count = (int) Math.min(asked, MAX_VECTOR);
        byte[] copy = java.util.Arrays.copyOf(all, count * size);
        boolean translated = false;
        for (int i = 0; i < count; i++) {
            Msghdr h = Msghdr.entry(copy, i, ctx.arch());
            int length = h.namelen();
            if (h.name() == 0 || length <= SockaddrUn.SUN_PATH_OFFSET) continue;
            byte[] sa = ctx.read(h.name(), Math.min(length, SockaddrUn.SIZE));
            Optional<byte[]> host = SockaddrUn.toHost(ctx, sa, length, true);
            if (host.isEmpty()) continue;
            h.name(ctx.push(host.get()));
            h.namelen(host.get().length);
            h.into(copy, i, ctx.arch());
            translated = true;
        }
        // Nothing to translate among the first messages, but perhaps later: those wait for the next call.
        if (!translated && count == asked) return Disposition.RUN;
        SavedArgs saved = SavedArgs.of(ctx, 1, 2);
        long copyAddress = ctx.push(copy);
        ctx.setArg(1, copyAddress);
        ctx.setArg(2, count);
        ctx.exitState(new SentVector(saved, vector, copyAddress, count));
        return Disposition.RUN_AND_STOP_AT_EXIT;
    }

    @Override
    public void exit(SyscallContext ctx) throws ErrnoException {
        if (ctx.exitState() instanceof SentVector v) {
            v.saved().restore(ctx);
            long sent = ctx.regs().signed(io.tether.daemon.tracer.arch.Reg.RESULT);
            if (sent <= 0) return;
            int size = Msghdr.mmsgSize(ctx.arch());
            byte[] copy = ctx.read(v.copy(), v.count() * size);
            byte[] caller = ctx.read(v.callerVector(), v.count() * size);
            for (int i = 0; i < sent && i < v.count(); i++) Msghdr.msgLen(caller, i, ctx.arch(), Msghdr.msgLen(copy, i, ctx.arch()));
            ctx.write(v.callerVector(), caller);
            return;
        }
        ((SavedArgs) ctx.exitState()).restore(ctx);
    }
}
