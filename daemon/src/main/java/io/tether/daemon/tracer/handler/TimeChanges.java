package io.tether.daemon.tracer.handler;

import io.tether.daemon.guest.Change;
import io.tether.daemon.tracer.SyscallContext;
import io.tether.daemon.tracer.arch.Sys;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The changes of the time family: utime, utimes, futimesat, utimensat (and its time64 form), times
 * read from the tracee as its ABI lays them out. A NULL times pointer means "now" (UTIME_NOW), a call
 * that sets neither time (both UTIME_OMIT) changes nothing. Arguments the kernel refuses with EINVAL or
 * EFAULT are refused here first, so no change reaches the source of truth for a call that fails.
 */
final class TimeChanges {
    static final long UTIME_NOW = (1L << 30) - 1, UTIME_OMIT = (1L << 30) - 2;
    private static final int NANOS = 1_000_000_000, MICROS = 1_000_000;

    private TimeChanges() {}

    /** utime(path, struct utimbuf *): seconds only. */
    static ChangeOf utime() {
        return (ctx, p) -> {
            long address = ctx.arg(1);
            if (address == 0) return now(p.get(0));
            long[] t = words(ctx, address, 2, ctx.arch().wordSize());
            return new Change.Utimes(p.get(0), t[0], 0, t[1], 0, true);
        };
    }

    /** utimes(path, struct timeval[2]), futimesat(dirfd, path, struct timeval[2]). */
    static ChangeOf utimes(int timesArg, int pathArg, int dirfdArg) {
        return (ctx, p) -> {
            refuseNullPathAtCwd(ctx, pathArg, dirfdArg);
            long address = ctx.arg(timesArg);
            if (address == 0) return now(p.get(0));
            long[] t = words(ctx, address, 4, ctx.arch().wordSize());
            for (int i = 1; i < 4; i += 2) {
                if (t[i] < 0 || t[i] >= MICROS) throw new ErrnoException(Errno.EINVAL, ctx.sys().kernelName(), "tv_usec " + t[i]);
            }
            return new Change.Utimes(p.get(0), t[0], t[1] * 1000, t[2], t[3] * 1000, true);
        };
    }

    /** utimensat(dirfd, path, struct timespec[2], flags), utimensat_time64 (64-bit fields on 32-bit ABIs). */
    static ChangeOf utimensat() {
        return (ctx, p) -> {
            int flags = ctx.intArg(3);
            boolean fdItself = ctx.arg(1) == 0;
            if (fdItself ? flags != 0 : (flags & ~(PathArg.AT_SYMLINK_NOFOLLOW | PathArg.AT_EMPTY_PATH)) != 0) {
                throw new ErrnoException(Errno.EINVAL, ctx.sys().kernelName(), "flags " + Integer.toHexString(flags));
            }
            refuseNullPathAtCwd(ctx, 1, 0);
            boolean follow = (flags & PathArg.AT_SYMLINK_NOFOLLOW) == 0;
            long address = ctx.arg(2);
            if (address == 0) return new Change.Utimes(p.get(0), 0, UTIME_NOW, 0, UTIME_NOW, follow);
            int field = ctx.arch().wordSize() == 8 || ctx.sys() == Sys.UTIMENSAT_TIME64 ? 8 : 4;
            long[] t = words(ctx, address, 4, field);
            if (field == 8 && ctx.arch().wordSize() == 4) t[1] = (int) t[1]; // compat: the upper half of tv_nsec is ignored
            if (field == 8 && ctx.arch().wordSize() == 4) t[3] = (int) t[3];
            for (int i = 1; i < 4; i += 2) {
                if (t[i] != UTIME_NOW && t[i] != UTIME_OMIT && (t[i] < 0 || t[i] >= NANOS)) {
                    throw new ErrnoException(Errno.EINVAL, ctx.sys().kernelName(), "tv_nsec " + t[i]);
                }
            }
            if (t[1] == UTIME_OMIT && t[3] == UTIME_OMIT) return null;
            return new Change.Utimes(p.get(0), t[0], t[1], t[2], t[3], follow);
        };
    }

    /** A NULL path names the dirfd itself, but never the cwd: the kernel looks NULL up and fails. */
    private static void refuseNullPathAtCwd(SyscallContext ctx, int pathArg, int dirfdArg) throws ErrnoException {
        if (dirfdArg >= 0 && ctx.arg(pathArg) == 0 && ctx.intArg(dirfdArg) == SyscallContext.AT_FDCWD) {
            throw new ErrnoException(Errno.EFAULT, ctx.sys().kernelName(), "NULL path");
        }
    }

    private static Change.Utimes now(String targetPath) {
        return new Change.Utimes(targetPath, 0, UTIME_NOW, 0, UTIME_NOW, true);
    }

    /** {@code count} signed little-endian fields of {@code size} bytes. */
    private static long[] words(SyscallContext ctx, long address, int count, int size) throws ErrnoException {
        ByteBuffer b = ByteBuffer.wrap(ctx.read(address, count * size)).order(ByteOrder.LITTLE_ENDIAN);
        long[] v = new long[count];
        for (int i = 0; i < count; i++) v[i] = size == 8 ? b.getLong(i * 8) : b.getInt(i * 4);
        return v;
    }
}
