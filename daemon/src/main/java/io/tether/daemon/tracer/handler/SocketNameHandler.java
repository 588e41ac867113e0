package io.tether.daemon.tracer.handler;

import io.tether.daemon.tracer.SyscallContext;
import io.tether.daemon.tracer.arch.Reg;
import io.tether.daemon.tracer.arch.Sys;
import io.tether.daemon.tracer.handler.SocketAddressHandler.SavedArgs;
import io.tether.posix.ErrnoException;

/**
 * Addresses coming out: getsockname, getpeername, accept, accept4 and recvfrom write a sockaddr and
 * its length through two pointer arguments, recvmsg through its msghdr, recvmmsg through each msghdr
 * of its vector. On an AF_UNIX socket a path
 * the kernel reports is a host path, shown to the guest as its guest path.
 *
 * <p>At entry the socket's family is asked (pidfd_getfd + SO_DOMAIN, no stop): other families run
 * untouched with no exit stop. For a Unix socket the kernel writes into a scratch buffer of
 * sockaddr_storage size instead (the host path may be longer than the caller's buffer holds), and at
 * the exit stop the guest address goes to the caller's buffer with the kernel's truncation rule:
 * at most the caller's length is copied, and the length written back is the full one.
 *
 * <p>The kernel reports a name as it was bound. A plain name bound in the cwd is left relative (see
 * SockaddrUn.toHost) and reads back as under chroot; a longer relative one ("dir/sock") was made
 * absolute at bind and reads back as its absolute guest path.
 */
public final class SocketNameHandler implements SyscallHandler {
    /** Where the kernel wrote (scratch) and where the guest wants it. */
    private record Pending(SavedArgs saved, long callerAddress, long callerLength, int capacity,
                           long scratchAddress, long scratchLength, long callerMsg, Msghdr callerHeader) {}

    @Override
    public Disposition enter(SyscallContext ctx) throws ErrnoException {
        if (ctx.sys() == Sys.RECVMSG) return enterRecvmsg(ctx);
        if (ctx.sys() == Sys.RECVMMSG || ctx.sys() == Sys.RECVMMSG_TIME64) return enterRecvmmsg(ctx);
        // recvfrom(fd, buf, n, flags, addr, &len); accept/accept4/getsockname/getpeername(fd, addr, &len, ...)
        int addrArg = ctx.sys() == Sys.RECVFROM ? 4 : 1;
        long address = ctx.arg(addrArg);
        long lengthAddress = ctx.arg(addrArg + 1);
        if (address == 0 || lengthAddress == 0 || !mayBeUnix(ctx)) return Disposition.RUN;
        int capacity;
        try {
            capacity = Msghdr.u32(ctx.read(lengthAddress, 4));
        } catch (ErrnoException e) {
            return Disposition.RUN; // the kernel reports the bad pointer itself
        }
        if (capacity < 0) return Disposition.RUN; // EINVAL from the kernel
        SavedArgs saved = SavedArgs.of(ctx, addrArg, addrArg + 1);
        long scratch = ctx.push(new byte[SockaddrUn.CAPACITY]);
        long scratchLength = ctx.push(Msghdr.u32(SockaddrUn.CAPACITY));
        ctx.setArg(addrArg, scratch);
        ctx.setArg(addrArg + 1, scratchLength);
        ctx.exitState(new Pending(saved, address, lengthAddress, capacity, scratch, scratchLength, 0, null));
        return Disposition.RUN_AND_STOP_AT_EXIT;
    }

    /** recvmsg(fd, msg, flags): the kernel gets a copy of the msghdr whose msg_name is the scratch buffer. */
    private static Disposition enterRecvmsg(SyscallContext ctx) throws ErrnoException {
        long msg = ctx.arg(1);
        if (msg == 0) return Disposition.RUN;
        Msghdr h;
        try {
            h = Msghdr.of(ctx.read(msg, Msghdr.size(ctx.arch())), ctx.arch());
        } catch (ErrnoException e) {
            return Disposition.RUN;
        }
        if (h.name() == 0 || h.namelen() < 0 || !mayBeUnix(ctx)) return Disposition.RUN;
        SavedArgs saved = SavedArgs.of(ctx, 1);
        long scratch = ctx.push(new byte[SockaddrUn.CAPACITY]);
        Msghdr copy = Msghdr.of(h.bytes, ctx.arch());
        copy.name(scratch);
        copy.namelen(SockaddrUn.CAPACITY);
        long scratchMsg = ctx.push(copy.bytes);
        ctx.setArg(1, scratchMsg);
        ctx.exitState(new Pending(saved, h.name(), 0, h.namelen(), scratch, scratchMsg, msg, h));
        return Disposition.RUN_AND_STOP_AT_EXIT;
    }

    static boolean mayBeUnix(SyscallContext ctx) {
        int domain = ctx.socketDomain(ctx.intArg(0));
        return domain == SockaddrUn.AF_UNIX || domain == SyscallContext.UNKNOWN_DOMAIN;
    }

    /** recvmmsg: per message with a name, where the kernel writes it (scratch) and where the guest wants it. */
    private record PendingVector(SavedArgs saved, long callerVector, long copy, int count, long[] scratch) {}

    /**
     * recvmmsg(fd, vec, vlen, flags, timeout): as recvmsg for each message of the vector, through a
     * copy of it whose names point at scratch buffers; at most {@link SocketAddressHandler#MAX_VECTOR}
     * messages per call (recvmmsg may return fewer than asked).
     */
    private static Disposition enterRecvmmsg(SyscallContext ctx) throws ErrnoException {
        long vector = ctx.arg(1);
        long asked = ctx.arg(2) & 0xffffffffL;
        if (vector == 0 || asked == 0 || !mayBeUnix(ctx)) return Disposition.RUN;
        int count = (int) Math.min(asked, SocketAddressHandler.MAX_VECTOR);
        byte[] copy;
        try {
            copy = ctx.read(vector, count * Msghdr.mmsgSize(ctx.arch()));
        } catch (ErrnoException e) {
            return Disposition.RUN;
        }
        long[] scratch = new long[count];
        boolean any = false;
        for (int i = 0; i < count; i++) {
            Msghdr h = Msghdr.entry(copy, i, ctx.arch());
            if (h.name() == 0 || h.namelen() < 0) continue;
            scratch[i] = ctx.push(new byte[SockaddrUn.CAPACITY]);
            h.name(scratch[i]);
            h.namelen(SockaddrUn.CAPACITY);
            h.into(copy, i, ctx.arch());
            any = true;
        }
        if (!any) return Disposition.RUN;
        SavedArgs saved = SavedArgs.of(ctx, 1, 2);
        long copyAddress = ctx.push(copy);
        ctx.setArg(1, copyAddress);
        ctx.setArg(2, count);
        ctx.exitState(new PendingVector(saved, vector, copyAddress, count, scratch));
        return Disposition.RUN_AND_STOP_AT_EXIT;
    }

    private static void exitRecvmmsg(SyscallContext ctx, PendingVector p) throws ErrnoException {
        p.saved().restore(ctx);
        long received = ctx.regs().signed(Reg.RESULT);
        if (received <= 0) return;
        int size = Msghdr.mmsgSize(ctx.arch());
        byte[] kernel = ctx.read(p.copy(), p.count() * size);
        byte[] caller = ctx.read(p.callerVector(), p.count() * size);
        for (int i = 0; i < received && i < p.count(); i++) {
            Msghdr mine = Msghdr.entry(caller, i, ctx.arch());
            Msghdr theirs = Msghdr.entry(kernel, i, ctx.arch());
            if (p.scratch()[i] != 0) {
                int reported = Math.max(0, Math.min(theirs.namelen(), SockaddrUn.CAPACITY));
                byte[] sa = SockaddrUn.toGuest(ctx, ctx.read(p.scratch()[i], reported), reported);
                int copied = Math.min(mine.namelen(), sa.length);
                if (copied > 0) ctx.write(mine.name(), java.util.Arrays.copyOf(sa, copied));
                mine.namelen(sa.length);
            }
            mine.resultsFrom(theirs);
            mine.into(caller, i, ctx.arch());
            Msghdr.msgLen(caller, i, ctx.arch(), Msghdr.msgLen(kernel, i, ctx.arch()));
        }
        ctx.write(p.callerVector(), caller);
    }

    @Override
    public void exit(SyscallContext ctx) throws ErrnoException {
        if (ctx.exitState() instanceof PendingVector v) {
            exitRecvmmsg(ctx, v);
            return;
        }
        Pending p = (Pending) ctx.exitState();
        p.saved().restore(ctx);
        // Failed, or interrupted and about to restart (then trapped and translated afresh): nothing written.
        if (ctx.regs().signed(Reg.RESULT) < 0) return;
        int reported;
        Msghdr kernelHeader = null;
        if (p.callerHeader() == null) {
            reported = Msghdr.u32(ctx.read(p.scratchLength(), 4));
        } else {
            kernelHeader = Msghdr.of(ctx.read(p.scratchLength(), Msghdr.size(ctx.arch())), ctx.arch());
            reported = kernelHeader.namelen();
        }
        reported = Math.max(0, Math.min(reported, SockaddrUn.CAPACITY));
        byte[] sa = SockaddrUn.toGuest(ctx, ctx.read(p.scratchAddress(), reported), reported);
        int copied = Math.min(p.capacity(), sa.length);
        if (copied > 0) ctx.write(p.callerAddress(), java.util.Arrays.copyOf(sa, copied));
        if (p.callerHeader() == null) {
            ctx.write(p.callerLength(), Msghdr.u32(sa.length));
        } else {
            Msghdr back = Msghdr.of(p.callerHeader().bytes, ctx.arch());
            back.namelen(sa.length);
            back.resultsFrom(kernelHeader);
            ctx.write(p.callerMsg(), back.bytes);
        }
    }
}
