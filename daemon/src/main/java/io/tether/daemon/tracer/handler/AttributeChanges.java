package io.tether.daemon.tracer.handler;

import io.tether.daemon.guest.Change;
import io.tether.daemon.tracer.SyscallContext;
import io.tether.daemon.tracer.arch.Sys;

/** The changes of the attribute family: chmod, chown, truncate. */
final class AttributeChanges {
    private AttributeChanges() {}

    /** chmod(path, mode), fchmodat(dirfd, path, mode), fchmodat2(dirfd, path, mode, flags). */
    static ChangeOf chmod(int modeArg) {
        return (ctx, p) -> new Change.Chmod(p.get(0), ctx.intArg(modeArg) & 07777);
    }

    /**
     * chown, lchown (and their 32 forms), fchownat: uid and gid arguments, whether the final link is
     * followed ({@code flagsArg} >= 0: unless AT_SYMLINK_NOFOLLOW there).
     */
    static ChangeOf chown(int uidArg, int gidArg, boolean follow, int flagsArg) {
        return (ctx, p) -> {
            boolean f = flagsArg < 0 ? follow : (ctx.intArg(flagsArg) & PathArg.AT_SYMLINK_NOFOLLOW) == 0;
            return new Change.Chown(p.get(0), id(ctx, uidArg), id(ctx, gidArg), f);
        };
    }

    /** An id argument; -1 (leave unchanged) stays -1. 32-bit ARM's chown/lchown/fchown take 16-bit ids. */
    private static long id(SyscallContext ctx, int arg) {
        boolean uid16 = ctx.arch().wordSize() == 4 && (ctx.sys() == Sys.CHOWN || ctx.sys() == Sys.LCHOWN || ctx.sys() == Sys.FCHOWN);
        long v = uid16 ? ctx.arg(arg) & 0xffff : ctx.arg(arg) & 0xffffffffL;
        return v == (uid16 ? 0xffff : 0xffffffffL) ? -1 : v;
    }

    /**
     * truncate(path, length); truncate64 on 32-bit ABIs takes the 64-bit length in an aligned register
     * pair (arguments 2 and 3, EABI), truncate there a signed 32-bit one.
     */
    static ChangeOf truncate() {
        return (ctx, p) -> {
            long size;
            if (ctx.arch().wordSize() == 8) {
                size = ctx.arg(1);
            } else if (ctx.sys() == Sys.TRUNCATE64) {
                size = (ctx.arg(2) & 0xffffffffL) | (ctx.arg(3) << 32);
            } else {
                size = ctx.intArg(1);
            }
            return new Change.Truncate(p.get(0), size);
        };
    }
}
