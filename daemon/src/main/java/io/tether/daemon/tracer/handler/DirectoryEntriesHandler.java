package io.tether.daemon.tracer.handler;

import io.tether.daemon.guest.FileKind;
import io.tether.daemon.guest.GuestView;
import io.tether.daemon.guest.Resolved;
import io.tether.daemon.tracer.SyscallContext;
import io.tether.daemon.tracer.arch.Reg;
import io.tether.daemon.tracer.arch.Sys;
import io.tether.daemon.tracer.handler.SocketAddressHandler.SavedArgs;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * getdents64 and getdents: a bind onto a location the rootfs lacks ({@code -b HOST:/newdir}) is found
 * by path lookups, but the kernel lists the host directory, which has no {@code newdir}. The listing
 * of such a directory gets the missing names added (d_type of what the guest finds there: DT_DIR for
 * glue directories and directory binds), once per pass over it; names the host directory has are
 * never added twice.
 *
 * <p>The filter traps these calls only in runs that need it ({@link #trappedFor}). The names are added
 * to the first batch, the one read from position 0 (so a rewind lists them again): at entry the count
 * is lowered by their size so the kernel leaves room, and at the exit stop they are appended after the
 * kernel's entries, with the d_off of its last one so telldir/seekdir stay the kernel's positions.
 * Every other getdents costs one stop and no exit stop.
 */
public final class DirectoryEntriesHandler implements SyscallHandler {
    /** The listing syscalls, trapped on demand. */
    public static final Set<Sys> SYSCALLS = Set.copyOf(EnumSet.of(Sys.GETDENTS, Sys.GETDENTS64));

    private static final Logger log = LoggerFactory.getLogger(DirectoryEntriesHandler.class);
    private static final int DT_UNKNOWN = 0, DT_DIR = 4, DT_REG = 8, DT_LNK = 10;
    /** Room always left for the kernel: one entry with a 255-byte name, so it never fails with EINVAL. */
    private static final int KERNEL_ROOM = 24 + 256 + 8;

    private record Added(String name, int type, long inode) {}

    private record Pending(SavedArgs saved, long buffer, byte[] entries, List<Integer> offsetFields) {}

    /** What the seccomp filter must trap for this view beyond the standard set: nothing for most runs. */
    public static Set<Sys> trappedFor(GuestView view) {
        return view.listingsLackBinds() ? SYSCALLS : Set.of();
    }

    @Override
    public Disposition enter(SyscallContext ctx) throws ErrnoException {
        int fd = ctx.intArg(0);
        String hostDir = ctx.hostPathOfFd(fd);
        if (hostDir == null || !hostDir.startsWith("/")) return Disposition.RUN;
        String guestDir = ctx.view().toGuest(hostDir).orElse(null);
        if (guestDir == null) return Disposition.RUN;
        Map<String, String> below = ctx.view().bindEntriesBelow(guestDir);
        if (below.isEmpty()) return Disposition.RUN;
        List<Added> added = missing(ctx, hostDir, below);
        if (added.isEmpty() || ctx.filePosition(fd) != 0) return Disposition.RUN;
        List<Integer> offsetFields = new ArrayList<>();
        byte[] entries = encode(ctx, added, offsetFields);
        long count = ctx.arg(2) & 0xffffffffL;
        if (count < entries.length + KERNEL_ROOM) {
            log.debug("getdents of {} with {} bytes: no room to add {}", guestDir, count, below.keySet());
            return Disposition.RUN;
        }
        ctx.exitState(new Pending(SavedArgs.of(ctx, 2), ctx.arg(1), entries, offsetFields));
        ctx.setArg(2, count - entries.length);
        return Disposition.RUN_AND_STOP_AT_EXIT;
    }

    /** The bind entries the host directory has no entry for, with what the guest finds there. */
    private static List<Added> missing(SyscallContext ctx, String hostDir, Map<String, String> below) {
        List<Added> added = new ArrayList<>();
        for (Map.Entry<String, String> e : below.entrySet()) {
            try {
                ctx.view().fileAccess().kind(hostDir.equals("/") ? "/" + e.getKey() : hostDir + "/" + e.getKey());
                continue; // listed by the kernel already
            } catch (ErrnoException absent) {
                if (absent.errno() != Errno.ENOENT) continue;
            }
            try {
                Resolved r = ctx.resolve(SyscallContext.AT_FDCWD, e.getValue(), false);
                if (!r.exists()) continue;
                added.add(new Added(e.getKey(), type(r.kind()), inode(r.hostPath(), e.getValue())));
            } catch (ErrnoException unreachable) {
                // a bind whose host side is gone: nothing to show
            }
        }
        return added;
    }

    private static int type(FileKind kind) {
        switch (kind) {
            case DIRECTORY: return DT_DIR;
            case REGULAR: return DT_REG;
            case SYMLINK: return DT_LNK;
            default: return DT_UNKNOWN;
        }
    }

    /** The inode stat shows; never 0, which readdir implementations skip as a deleted entry. */
    private static long inode(String hostPath, String guestPath) {
        try {
            Object ino = Files.getAttribute(Path.of(hostPath), "unix:ino", LinkOption.NOFOLLOW_LINKS);
            if (ino instanceof Long l && l != 0) return l;
        } catch (Exception e) {
            // fall through to a made-up number
        }
        return (guestPath.hashCode() & 0x7fffffffL) | 1;
    }

    /**
     * linux_dirent64 {u64 ino; s64 off; u16 reclen; u8 type; name; NUL} padded to 8, or the old
     * linux_dirent {ulong ino; ulong off; u16 reclen; name; NUL; pad; u8 type} padded to a word.
     */
    private static byte[] encode(SyscallContext ctx, List<Added> added, List<Integer> offsetFields) {
        boolean wide = ctx.sys() == Sys.GETDENTS64;
        int word = wide ? 8 : ctx.arch().wordSize();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (Added a : added) {
            int nameAt = wide ? 19 : 2 * word + 2;
            int reclen = align(nameAt + a.name().length() + (wide ? 1 : 2), word);
            byte[] e = new byte[reclen];
            put(e, 0, word, a.inode());
            offsetFields.add(out.size() + word);
            put(e, 2 * word, 2, reclen);
            for (int i = 0; i < a.name().length(); i++) e[nameAt + i] = (byte) a.name().charAt(i);
            if (wide) e[18] = (byte) a.type();
            else e[reclen - 1] = (byte) a.type();
            out.writeBytes(e);
        }
        return out.toByteArray();
    }

    @Override
    public void exit(SyscallContext ctx) throws ErrnoException {
        Pending p = (Pending) ctx.exitState();
        p.saved().restore(ctx);
        long got = ctx.regs().signed(Reg.RESULT);
        // An error, or nothing at position 0 (a removed directory): add nothing, or a reader would loop.
        if (got <= 0) return;
        boolean wide = ctx.sys() == Sys.GETDENTS64;
        int word = wide ? 8 : ctx.arch().wordSize();
        byte[] listed = ctx.read(p.buffer(), (int) got);
        long lastOffset = 0;
        for (int at = 0; at + 2 * word + 2 <= got; ) {
            int reclen = (int) get(listed, at + 2 * word, 2);
            lastOffset = get(listed, at + word, word);
            if (reclen <= 0) break;
            at += reclen;
        }
        byte[] entries = p.entries().clone();
        for (int field : p.offsetFields()) put(entries, field, word, lastOffset);
        ctx.write(p.buffer() + got, entries);
        ctx.regs().set(Reg.RESULT, got + entries.length);
    }

    private static int align(int n, int to) {
        return (n + to - 1) / to * to;
    }

    private static void put(byte[] b, int at, int length, long value) {
        for (int i = 0; i < length; i++) b[at + i] = (byte) (value >>> (8 * i));
    }

    private static long get(byte[] b, int at, int length) {
        long v = 0;
        for (int i = length - 1; i >= 0; i--) v = (v << 8) | (b[at + i] & 0xff);
        return v;
    }
}
