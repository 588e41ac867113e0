package io.tether.client.files;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.protocol.proto.Attr;
import io.tether.protocol.proto.StatFsReply;

import java.util.Arrays;

/**
 * The Java-facing layer over {@link HostNative}: a failing call throws {@link ErrnoException} with
 * its errno; EINTR is retried. Constants are Linux values; the open flags that differ between
 * architectures (O_DIRECTORY, O_NOFOLLOW) are chosen here, once.
 */
final class HostCalls {
    private static final boolean ARM = Platform.ARCH.startsWith("arm") || Platform.ARCH.equals("aarch64");

    static final int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0100, O_EXCL = 0200, O_NOCTTY = 0400,
            O_TRUNC = 01000, O_NONBLOCK = 04000, O_CLOEXEC = 02000000, O_PATH = 010000000;
    static final int O_DIRECTORY = ARM ? 040000 : 0200000;
    static final int O_NOFOLLOW = ARM ? 0100000 : 0400000;
    static final int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200, AT_EMPTY_PATH = 0x1000;
    static final long RESOLVE_NO_MAGICLINKS = 0x02, RESOLVE_IN_ROOT = 0x10;
    static final int S_IFMT = 0170000, S_IFDIR = 0040000, S_IFREG = 0100000, S_IFLNK = 0120000;
    static final long UTIME_NOW = (1L << 30) - 1, UTIME_OMIT = (1L << 30) - 2;
    private static final int STATX_BASIC_STATS = 0x7ff, STATX_SIZE = 256, STATFS_SIZE = 120;
    private static final byte[] EMPTY = {0};
    /** Linux's limit on a symlink's target (PATH_MAX less the NUL). */
    private static final int LINK_MAX = 4096;

    private static final ThreadLocal<Memory> SMALL = ThreadLocal.withInitial(() -> new Memory(LINK_MAX + 64));

    private HostCalls() {}

    static int errno() {
        return Native.getLastError();
    }

    /** A NUL-terminated copy of {@code name} for C; a name with a NUL in it is EINVAL. */
    static byte[] c(byte[] name) throws ErrnoException {
        for (byte b : name) {
            if (b == 0) throw new ErrnoException(Errno.EINVAL, "path", "with a NUL byte");
        }
        return Arrays.copyOf(name, name.length + 1);
    }

    /** openat2(2); ENOSYS where the kernel predates 5.6. EAGAIN (a rename raced the walk) is retried. */
    static int openat2(int dirFd, byte[] rel, int flags, int mode, long resolve) throws ErrnoException {
        byte[] path = c(rel);
        try (Memory how = new Memory(24); Memory p = new Memory(path.length)) {
            how.setLong(0, Integer.toUnsignedLong(flags));
            how.setLong(8, (flags & O_CREAT) != 0 ? mode : 0);
            how.setLong(16, resolve);
            p.write(0, path, 0, path.length);
            for (int attempt = 0; ; attempt++) {
                long fd = HostNative.syscall(HostNative.SYS_OPENAT2, dirFd, Pointer.nativeValue(p), Pointer.nativeValue(how), 24);
                if (fd >= 0) return (int) fd;
                int e = errno();
                if (e == Errno.EINTR || (e == Errno.EAGAIN && attempt < 64)) continue;
                throw new ErrnoException(e, "openat2");
            }
        }
    }

    static int openat(int dirFd, byte[] name, int flags, int mode) throws ErrnoException {
        byte[] path = c(name);
        while (true) {
            int fd = HostNative.openat(dirFd, path, flags | O_CLOEXEC, mode);
            if (fd >= 0) return fd;
            int e = errno();
            if (e != Errno.EINTR) throw new ErrnoException(e, "openat");
        }
    }

    static void closeQuietly(int fd) {
        if (fd >= 0) HostNative.close(fd);
    }

    /** statx of {@code name} under {@code dirFd} ("" with AT_EMPTY_PATH: the fd itself). */
    static Attr stat(int dirFd, byte[] name, int flags) throws ErrnoException {
        Memory m = SMALL.get();
        if (HostNative.statx(dirFd, c(name), flags, STATX_BASIC_STATS, Pointer.nativeValue(m)) != 0) {
            throw new ErrnoException(errno(), "statx");
        }
        return Attr.newBuilder()
                .setMode((m.getShort(28) & 0xffff))
                .setUid(m.getInt(20))
                .setGid(m.getInt(24))
                .setNlink(m.getInt(16))
                .setIno(m.getLong(32))
                .setSize(m.getLong(40))
                .setBlocks(m.getLong(48))
                .setAtimeNs(timeNs(m, 64))
                .setCtimeNs(timeNs(m, 96))
                .setMtimeNs(timeNs(m, 112))
                .setRdev(makedev(m.getInt(128), m.getInt(132)))
                .setDev(makedev(m.getInt(136), m.getInt(140)))
                .build();
    }

    /** The attributes of an open fd (O_PATH ones too). */
    static Attr fstat(int fd) throws ErrnoException {
        return stat(fd, new byte[0], AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
    }

    private static long timeNs(Memory m, int offset) {
        return m.getLong(offset) * 1_000_000_000L + (m.getInt(offset + 8) & 0xffffffffL);
    }

    /** glibc's encoding of a device number. */
    static long makedev(int major, int minor) {
        long ma = Integer.toUnsignedLong(major), mi = Integer.toUnsignedLong(minor);
        return ((ma & 0xfffff000L) << 32) | ((ma & 0xfffL) << 8) | ((mi & 0xffffff00L) << 12) | (mi & 0xffL);
    }

    /** The target of the symlink {@code name} under {@code dirFd} ("" on an O_PATH fd of the link). */
    static byte[] readlink(int dirFd, byte[] name) throws ErrnoException {
        Memory m = SMALL.get();
        long n = HostNative.readlinkat(dirFd, c(name), Pointer.nativeValue(m), LINK_MAX);
        if (n < 0) throw new ErrnoException(errno(), "readlinkat");
        return m.getByteArray(0, (int) n);
    }

    static void mkdir(int dirFd, byte[] name, int mode) throws ErrnoException {
        check(HostNative.mkdirat(dirFd, c(name), mode), "mkdirat");
    }

    static void mknod(int dirFd, byte[] name, int mode, long dev) throws ErrnoException {
        check(HostNative.mknodat(dirFd, c(name), mode, dev), "mknodat");
    }

    static void unlink(int dirFd, byte[] name, int flags) throws ErrnoException {
        check(HostNative.unlinkat(dirFd, c(name), flags), "unlinkat");
    }

    static void rename(int fromDir, byte[] from, int toDir, byte[] to, int flags) throws ErrnoException {
        check(HostNative.renameat2(fromDir, c(from), toDir, c(to), flags), "renameat2");
    }

    static void link(int fromDir, byte[] from, int toDir, byte[] to) throws ErrnoException {
        check(HostNative.linkat(fromDir, c(from), toDir, c(to), 0), "linkat");
    }

    static void symlink(byte[] target, int dirFd, byte[] name) throws ErrnoException {
        check(HostNative.symlinkat(c(target), dirFd, c(name)), "symlinkat");
    }

    static void fchmod(int fd, int mode) throws ErrnoException {
        check(HostNative.fchmod(fd, mode), "fchmod");
    }

    /**
     * chmod of what the O_PATH descriptor {@code fd} names, by its /proc/self/fd link (fchmod refuses
     * O_PATH descriptors); a symlink is EOPNOTSUPP, as glibc's fchmodat(AT_SYMLINK_NOFOLLOW).
     */
    static void chmodPath(int fd, int mode) throws ErrnoException {
        if ((fstat(fd).getMode() & S_IFMT) == S_IFLNK) throw new ErrnoException(Errno.EOPNOTSUPP, "chmod", "a symlink");
        check(HostNative.chmod(c(procPath(fd)), mode), "chmod");
    }

    static void chown(int dirFd, byte[] name, int uid, int gid, int flags) throws ErrnoException {
        check(HostNative.fchownat(dirFd, c(name), uid, gid, flags), "fchownat");
    }

    static void utimens(int dirFd, byte[] name, long atimeS, long atimeNs, long mtimeS, long mtimeNs, int flags)
            throws ErrnoException {
        try (Memory times = new Memory(32)) {
            times.setLong(0, atimeS);
            times.setLong(8, atimeNs);
            times.setLong(16, mtimeS);
            times.setLong(24, mtimeNs);
            check(HostNative.utimensat(dirFd, c(name), Pointer.nativeValue(times), flags), "utimensat");
        }
    }

    static StatFsReply fstatfs(int fd) throws ErrnoException {
        if (Native.LONG_SIZE != 8) throw new ErrnoException(Errno.ENOSYS, "fstatfs", "on a 32-bit host");
        Memory m = SMALL.get();
        check(HostNative.fstatfs(fd, Pointer.nativeValue(m)), "fstatfs");
        // struct statfs on LP64: type bsize blocks bfree bavail files ffree fsid namelen frsize flags
        return StatFsReply.newBuilder().setType(m.getLong(0)).setBsize(m.getLong(8)).setBlocks(m.getLong(16))
                .setBfree(m.getLong(24)).setBavail(m.getLong(32)).setFiles(m.getLong(40)).setFfree(m.getLong(48))
                .setNamelen(m.getLong(64)).setFrsize(m.getLong(72)).setFlags(m.getLong(80)).build();
    }

    static void fsync(int fd) throws ErrnoException {
        while (HostNative.fsync(fd) != 0) {
            int e = errno();
            if (e != Errno.EINTR) throw new ErrnoException(e, "fsync");
        }
    }

    static void ftruncate(int fd, long size) throws ErrnoException {
        while (HostNative.ftruncate(fd, size) != 0) {
            int e = errno();
            if (e != Errno.EINTR) throw new ErrnoException(e, "ftruncate");
        }
    }

    /** Up to {@code len} bytes at {@code offset} into {@code buf}; 0 at the end of the file. */
    static int pread(int fd, Memory buf, int len, long offset) throws ErrnoException {
        while (true) {
            long n = HostNative.pread(fd, Pointer.nativeValue(buf), len, offset);
            if (n >= 0) return (int) n;
            int e = errno();
            if (e != Errno.EINTR) throw new ErrnoException(e, "pread");
        }
    }

    static void pwriteFully(int fd, byte[] data, long offset) throws ErrnoException {
        if (data.length == 0) return;
        try (Memory m = new Memory(data.length)) {
            m.write(0, data, 0, data.length);
            long done = 0;
            while (done < data.length) {
                long n = HostNative.pwrite(fd, Pointer.nativeValue(m) + done, data.length - done, offset + done);
                if (n < 0) {
                    int e = errno();
                    if (e == Errno.EINTR) continue;
                    throw new ErrnoException(e, "pwrite");
                }
                done += n;
            }
        }
    }

    /** getdents64 into {@code buf}: bytes filled, 0 at the end of the directory. */
    static int getdents(int fd, Memory buf) throws ErrnoException {
        if (HostNative.SYS_GETDENTS64 < 0) throw new ErrnoException(Errno.ENOSYS, "getdents64", Platform.ARCH);
        while (true) {
            long n = HostNative.syscall(HostNative.SYS_GETDENTS64, fd, Pointer.nativeValue(buf), buf.size(), 0);
            if (n >= 0) return (int) n;
            int e = errno();
            if (e != Errno.EINTR) throw new ErrnoException(e, "getdents64");
        }
    }

    // ---- xattrs, by a /proc/self/fd path (no *at variants before Linux 6.13) ----

    static byte[] getxattr(byte[] path, byte[] name, boolean follow) throws ErrnoException {
        byte[] p = c(path), n = c(name);
        for (int attempt = 0; ; attempt++) {
            long size = follow ? HostNative.getxattr(p, n, 0, 0) : HostNative.lgetxattr(p, n, 0, 0);
            if (size < 0) throw new ErrnoException(errno(), "getxattr");
            if (size == 0) return new byte[0];
            try (Memory m = new Memory(size)) {
                long got = follow ? HostNative.getxattr(p, n, Pointer.nativeValue(m), size)
                        : HostNative.lgetxattr(p, n, Pointer.nativeValue(m), size);
                if (got >= 0) return m.getByteArray(0, (int) got);
                int e = errno();
                if (e != Errno.ERANGE || attempt > 8) throw new ErrnoException(e, "getxattr"); // grew meanwhile: again
            }
        }
    }

    static void setxattr(byte[] path, byte[] name, byte[] value, int flags, boolean follow) throws ErrnoException {
        byte[] p = c(path), n = c(name);
        try (Memory m = new Memory(Math.max(1, value.length))) {
            if (value.length > 0) m.write(0, value, 0, value.length);
            long addr = Pointer.nativeValue(m);
            check(follow ? HostNative.setxattr(p, n, addr, value.length, flags) : HostNative.lsetxattr(p, n, addr, value.length, flags),
                    "setxattr");
        }
    }

    /** The names, each without its NUL. */
    static java.util.List<byte[]> listxattr(byte[] path, boolean follow) throws ErrnoException {
        byte[] p = c(path);
        for (int attempt = 0; ; attempt++) {
            long size = follow ? HostNative.listxattr(p, 0, 0) : HostNative.llistxattr(p, 0, 0);
            if (size < 0) throw new ErrnoException(errno(), "listxattr");
            if (size == 0) return java.util.List.of();
            try (Memory m = new Memory(size)) {
                long got = follow ? HostNative.listxattr(p, Pointer.nativeValue(m), size) : HostNative.llistxattr(p, Pointer.nativeValue(m), size);
                if (got < 0) {
                    int e = errno();
                    if (e != Errno.ERANGE || attempt > 8) throw new ErrnoException(e, "listxattr");
                    continue;
                }
                byte[] all = m.getByteArray(0, (int) got);
                java.util.List<byte[]> names = new java.util.ArrayList<>();
                int start = 0;
                for (int i = 0; i < all.length; i++) {
                    if (all[i] == 0) {
                        if (i > start) names.add(Arrays.copyOfRange(all, start, i));
                        start = i + 1;
                    }
                }
                return names;
            }
        }
    }

    static void removexattr(byte[] path, byte[] name, boolean follow) throws ErrnoException {
        byte[] p = c(path), n = c(name);
        check(follow ? HostNative.removexattr(p, n) : HostNative.lremovexattr(p, n), "removexattr");
    }

    /** The path that reaches exactly what {@code fd} is open on (a magic link: no re-walk of names). */
    static byte[] procPath(int fd) {
        return ("/proc/self/fd/" + fd).getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    }

    private static void check(int rc, String op) throws ErrnoException {
        if (rc != 0) throw new ErrnoException(errno(), op);
    }
}
