package io.tether.daemon.mirror;

import com.sun.jna.Native;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;
import io.tether.daemon.tracer.arch.Arches;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.posix.NativeWord;
import java.util.ArrayList;
import java.util.List;

/**
 * The mirror's own file operations on this machine, by byte paths (a Java String one char per byte,
 * ISO-8859-1) so no host file name is mangled by a charset, as java.nio would with non-UTF-8 names.
 * Raw libc by JNA direct mapping; every failure is an {@link ErrnoException}. Assumes a 64-bit ABI
 * (off_t, size_t, time_t are 64-bit), as the statx layout below does.
 */
final class MirrorFs {
    static final int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100;
    static final int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_ACCMODE = 3, O_CREAT = 0100, O_EXCL = 0200,
            O_TRUNC = 01000, O_CLOEXEC = 02000000;
    /**
     * These two differ between architectures (on arm, x86_64's O_DIRECTORY is O_DIRECT): this machine's,
     * which are also its tracees' (the tracer traces native processes only; qemu-user's are native too).
     * Elsewhere the asm-generic values, as x86_64's.
     */
    static final int O_NOFOLLOW = Arches.host().orElse(Arches.X86_64).oNofollow(),
            O_DIRECTORY = Arches.host().orElse(Arches.X86_64).oDirectory();
    static final long UTIME_NOW = (1L << 30) - 1, UTIME_OMIT = (1L << 30) - 2;
    private static final int STATX_BASIC = 0x7ff, STATX_MNT_ID = 0x1000, STATX_SIZE = 256;

    private MirrorFs() {}

    /** lstat of a local file: what the mirror holds now. */
    record LocalStat(int mode, int uid, int gid, long ino, long size, long blocks, long mtimeNs, long ctimeNs) {
        boolean isDirectory() { return (mode & 0170000) == 0040000; }

        boolean isRegular() { return (mode & 0170000) == 0100000; }

        boolean isSymlink() { return (mode & 0170000) == 0120000; }

        int type() { return mode & 0170000; }

        /** Same file, same contents as far as metadata tells (a write changes mtime or ctime). */
        boolean sameVersion(LocalStat o) {
            return o != null && ino == o.ino && size == o.size && mtimeNs == o.mtimeNs && ctimeNs == o.ctimeNs;
        }
    }

    static byte[] c(String path) {
        byte[] b = new byte[path.length() + 1];
        for (int i = 0; i < path.length(); i++) b[i] = (byte) path.charAt(i);
        return b;
    }

    static LocalStat lstat(String path) throws ErrnoException {
        return statAt(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW);
    }

    /** Room on a file system: its size and what we may still use (f_bavail, f_favail), in bytes and in inodes. */
    record Room(long sizeBytes, long availBytes, long files, long availFiles) {
        /** The fraction of its blocks still available. */
        double blocks() {
            return sizeBytes <= 0 ? 1 : (double) availBytes / sizeBytes;
        }

        /** The fraction of its inodes still available (1 where the file system has no fixed count). */
        double inodes() {
            return files <= 0 ? 1 : (double) availFiles / files;
        }
    }

    /** {@link Room} of the file system holding {@code path} (statvfs64: 64-bit counts after two longs, on every ABI). */
    static Room room(String path) throws ErrnoException {
        byte[] b = new byte[256];
        if (Libc.statvfs64(c(path), b) != 0) throw new ErrnoException(Native.getLastError(), "statvfs", path);
        java.nio.ByteBuffer bb = java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.nativeOrder());
        long frsize = Native.LONG_SIZE == 8 ? bb.getLong(8) : bb.getInt(4) & 0xffffffffL;
        int at = 2 * Native.LONG_SIZE; // f_bsize, f_frsize
        long blocks = bb.getLong(at), bavail = bb.getLong(at + 16), files = bb.getLong(at + 24), favail = bb.getLong(at + 40);
        return new Room(blocks * frsize, bavail * frsize, files, favail);
    }

    /**
     * Lowers the calling thread's scheduling priority to {@code nice} (setpriority on its tid: Linux threads
     * have their own); false where that fails. A thread cannot raise its priority again without privileges.
     */
    static boolean niceThisThread(int nice) {
        try {
            return Libc.setpriority(0 /* PRIO_PROCESS */, io.tether.posix.LibC.gettid(), nice) == 0;
        } catch (ErrnoException | RuntimeException e) {
            return false;
        }
    }

    /** lstat, or null if missing (no exception made for the common miss). */
    static LocalStat lstatOrNull(String path) throws ErrnoException {
        byte[] b = new byte[STATX_SIZE];
        if (Libc.statx(AT_FDCWD, c(path), AT_SYMLINK_NOFOLLOW, STATX_BASIC, b) != 0) {
            int e = Native.getLastError();
            if (e == Errno.ENOENT || e == Errno.ENOTDIR) return null;
            throw new ErrnoException(e, "lstat", path);
        }
        return stat(b);
    }

    static LocalStat fstat(int fd) throws ErrnoException {
        return statAt(fd, "", 0x1000 /* AT_EMPTY_PATH */);
    }

    /** An open file's type bits, inode and mount id: {mode, ino, mnt_id} (mnt_id -1 where statx has none). */
    static long[] fstatMount(int fd) throws ErrnoException {
        byte[] b = new byte[STATX_SIZE];
        if (Libc.statx(fd, c(""), 0x1000 /* AT_EMPTY_PATH */, STATX_BASIC | STATX_MNT_ID, b) != 0) throw err("fstat", "fd " + fd);
        return new long[] {u16(b, 28), i64(b, 32), (i32(b, 0) & STATX_MNT_ID) != 0 ? i64(b, 144) : -1};
    }

    private static LocalStat statAt(int dirfd, String path, int flags) throws ErrnoException {
        byte[] b = new byte[STATX_SIZE];
        if (Libc.statx(dirfd, c(path), flags, STATX_BASIC, b) != 0) throw err("lstat", path);
        return stat(b);
    }

    private static LocalStat stat(byte[] b) {
        int mode = u16(b, 28);
        return new LocalStat(mode, i32(b, 20), i32(b, 24), i64(b, 32), i64(b, 40), i64(b, 48),
                i64(b, 112) * 1_000_000_000L + (i32(b, 120) & 0xffffffffL),
                i64(b, 96) * 1_000_000_000L + (i32(b, 104) & 0xffffffffL));
    }

    static void mkdir(String path, int mode) throws ErrnoException {
        if (Libc.mkdir(c(path), mode) != 0) throw err("mkdir", path);
    }

    static void mkdirs(String path) throws ErrnoException {
        if (path.isEmpty() || path.equals("/")) return;
        LocalStat st = lstatOrNull(path);
        if (st != null) {
            if (!st.isDirectory()) throw new ErrnoException(Errno.ENOTDIR, "mkdir", path);
            return;
        }
        int slash = path.lastIndexOf('/');
        if (slash > 0) mkdirs(path.substring(0, slash));
        if (Libc.mkdir(c(path), 0755) != 0 && Native.getLastError() != Errno.EEXIST) throw err("mkdir", path);
    }

    static void unlink(String path) throws ErrnoException {
        if (Libc.unlink(c(path)) != 0) throw err("unlink", path);
    }

    static void rmdir(String path) throws ErrnoException {
        if (Libc.rmdir(c(path)) != 0) throw err("rmdir", path);
    }

    static void rename(String from, String to) throws ErrnoException {
        if (Libc.rename(c(from), c(to)) != 0) throw err("rename", from + " -> " + to);
    }

    static void link(String existing, String newPath) throws ErrnoException {
        if (Libc.link(c(existing), c(newPath)) != 0) throw err("link", existing + " -> " + newPath);
    }

    static void symlink(String target, String path) throws ErrnoException {
        if (Libc.symlink(c(target), c(path)) != 0) throw err("symlink", path);
    }

    static String readlink(String path) throws ErrnoException {
        byte[] buf = new byte[4096];
        long n = NativeWord.LP64 ? Libc.readlink(c(path), buf, buf.length) : Libc32.readlink(c(path), buf, buf.length);
        if (n < 0) throw err("readlink", path);
        return new String(buf, 0, (int) n, java.nio.charset.StandardCharsets.ISO_8859_1);
    }

    static void mknod(String path, int mode, long dev) throws ErrnoException {
        if (Libc.mknod(c(path), mode, dev) != 0) throw err("mknod", path);
    }

    static int open(String path, int flags, int mode) throws ErrnoException {
        while (true) {
            int fd = Libc.open(c(path), flags | O_CLOEXEC, mode);
            if (fd >= 0) return fd;
            int e = Native.getLastError();
            if (e != Errno.EINTR) throw new ErrnoException(e, "open", path);
        }
    }

    static void close(int fd) {
        if (fd >= 0) Libc.close(fd);
    }

    static void ftruncate(int fd, long size, String what) throws ErrnoException {
        if (Libc.ftruncate64(fd, size) != 0) throw err("ftruncate", what);
    }

    /**
     * Owner (when {@code chown}), mode and times of an open file: no path lookups. The owner goes
     * first: chown clears the set-id bits the mode then restores.
     */
    static void fstamp(int fd, int mode, boolean chown, int uid, int gid, long atimeNs, long mtimeNs, String what)
            throws ErrnoException {
        if (chown && Libc.fchown(fd, uid, gid) != 0) {
            // an id this file system refuses: keep ours
        }
        if (Libc.fchmod(fd, mode & 07777) != 0) throw err("fchmod", what);
        long[] ts = {Math.floorDiv(atimeNs, 1_000_000_000L), Math.floorMod(atimeNs, 1_000_000_000L),
                Math.floorDiv(mtimeNs, 1_000_000_000L), Math.floorMod(mtimeNs, 1_000_000_000L)};
        if ((NativeWord.LP64 ? Libc.futimens(fd, ts) : Libc32.futimens(fd, timespec32(ts))) != 0) throw err("futimens", what);
    }

    static void chmod(String path, int mode) throws ErrnoException {
        if (Libc.chmod(c(path), mode & 07777) != 0) throw err("chmod", path);
    }

    static void lchown(String path, int uid, int gid) throws ErrnoException {
        if (Libc.lchown(c(path), uid, gid) != 0) throw err("lchown", path);
    }

    /** Sets atime and mtime (nanoseconds since the epoch) without following a final symlink. */
    static void lutimes(String path, long atimeNs, long mtimeNs) throws ErrnoException {
        long[] ts = {Math.floorDiv(atimeNs, 1_000_000_000L), Math.floorMod(atimeNs, 1_000_000_000L),
                Math.floorDiv(mtimeNs, 1_000_000_000L), Math.floorMod(mtimeNs, 1_000_000_000L)};
        int r = NativeWord.LP64 ? Libc.utimensat(AT_FDCWD, c(path), ts, AT_SYMLINK_NOFOLLOW)
                : Libc32.utimensat(AT_FDCWD, c(path), timespec32(ts), AT_SYMLINK_NOFOLLOW);
        if (r != 0) throw err("utimensat", path);
    }

    static byte[] pread(String path, long offset, int length) throws ErrnoException {
        int fd = open(path, O_RDONLY, 0);
        try {
            byte[] buf = new byte[length];
            int done = 0;
            while (done < length) {
                byte[] part = done == 0 ? buf : new byte[length - done];
                long n = NativeWord.LP64 ? Libc.pread64(fd, part, length - done, offset + done)
                        : Libc32.pread64(fd, part, length - done, offset + done);
                if (n < 0) {
                    if (Native.getLastError() == Errno.EINTR) continue;
                    throw err("pread", path);
                }
                if (n == 0) break;
                if (part != buf) System.arraycopy(part, 0, buf, done, (int) n);
                done += (int) n;
            }
            return done == length ? buf : java.util.Arrays.copyOf(buf, done);
        } finally {
            close(fd);
        }
    }

    static long read(int fd, byte[] buf) throws ErrnoException {
        while (true) {
            long n = NativeWord.LP64 ? Libc.read(fd, buf, buf.length) : Libc32.read(fd, buf, buf.length);
            if (n >= 0) return n;
            if (Native.getLastError() != Errno.EINTR) throw err("read", "fd " + fd);
        }
    }

    /** Whether this process may write {@code path} (access(2) W_OK): what the kernel will decide for a tracee of ours. */
    static boolean writable(String path) {
        return Libc.access(c(path), 2) == 0;
    }

    static boolean isRoot() {
        return Libc.geteuid() == 0;
    }

    static int euid() {
        return Libc.geteuid();
    }

    static int egid() {
        return Libc.getegid();
    }

    /** Names in a directory but "." and "..". */
    static List<String> list(String dir) throws ErrnoException {
        Pointer d = Libc.opendir(c(dir));
        if (d == null) throw err("opendir", dir);
        List<String> names = new ArrayList<>();
        try {
            while (true) {
                Pointer ent = Libc.readdir64(d);
                if (ent == null) break;
                // struct dirent64, on 32-bit ABIs too: d_ino 8, d_off 8, d_reclen 2, d_type 1, then d_name.
                long len = ent.indexOf(19, (byte) 0); // relative to offset 19
                byte[] name = ent.getByteArray(19, (int) len);
                String s = new String(name, java.nio.charset.StandardCharsets.ISO_8859_1);
                if (!s.equals(".") && !s.equals("..")) names.add(s);
            }
        } finally {
            Libc.closedir(d);
        }
        return names;
    }

    /** Removes a file or a whole tree (no error if missing). */
    static void removeTree(String path) throws ErrnoException {
        LocalStat st = lstatOrNull(path);
        if (st == null) return;
        if (st.isDirectory()) {
            if ((st.mode & 0700) != 0700) chmod(path, st.mode | 0700);
            for (String name : list(path)) removeTree(path + "/" + name);
            rmdir(path);
        } else {
            unlink(path);
        }
    }

    // ---- inotify ----
    static final int IN_MODIFY = 0x2, IN_CLOSE_WRITE = 0x8, IN_ONLYDIR = 0x01000000, IN_IGNORED = 0x8000,
            IN_Q_OVERFLOW = 0x4000;

    static int inotifyInit() throws ErrnoException {
        int fd = Libc.inotify_init1(O_CLOEXEC);
        if (fd < 0) throw err("inotify_init1", null);
        return fd;
    }

    static int inotifyAddWatch(int fd, String dir, int mask) throws ErrnoException {
        int wd = Libc.inotify_add_watch(fd, c(dir), mask);
        if (wd < 0) throw err("inotify_add_watch", dir);
        return wd;
    }

    static void write(int fd, byte[] b) throws ErrnoException {
        if ((NativeWord.LP64 ? Libc.write(fd, b, b.length) : Libc32.write(fd, b, b.length)) < 0) throw err("write", "fd " + fd);
    }

    private static ErrnoException err(String op, String path) {
        return new ErrnoException(Native.getLastError(), op, path);
    }

    private static int u16(byte[] b, int o) {
        return (b[o] & 0xff) | (b[o + 1] & 0xff) << 8;
    }

    private static int i32(byte[] b, int o) {
        return (b[o] & 0xff) | (b[o + 1] & 0xff) << 8 | (b[o + 2] & 0xff) << 16 | (b[o + 3] & 0xff) << 24;
    }

    private static long i64(byte[] b, int o) {
        return (i32(b, o) & 0xffffffffL) | ((long) i32(b, o + 4)) << 32;
    }

    /** A 32-bit timespec[2] (bookworm's armhf time_t is 32 bits): seconds past 2038 do not fit there. */
    private static int[] timespec32(long[] ts) {
        return new int[] {(int) ts[0], (int) ts[1], (int) ts[2], (int) ts[3]};
    }

    /** Libc's calls with C words or time_t, as a 32-bit ABI passes them ({@link NativeWord}). */
    private static final class Libc32 {
        static {
            Native.register(Libc32.class, Platform.C_LIBRARY_NAME);
        }

        static native int readlink(byte[] path, byte[] buf, int size);
        static native int futimens(int fd, int[] times);
        static native int utimensat(int dirfd, byte[] path, int[] times, int flags);
        static native int pread64(int fd, byte[] buf, int count, long offset);
        static native int read(int fd, byte[] buf, int count);
        static native int write(int fd, byte[] buf, int count);
    }

    private static final class Libc {
        static {
            Native.register(Libc.class, Platform.C_LIBRARY_NAME);
        }

        static native int statx(int dirfd, byte[] path, int flags, int mask, byte[] buf);
        static native int statvfs64(byte[] path, byte[] buf);
        static native int setpriority(int which, int who, int prio);
        static native int mkdir(byte[] path, int mode);
        static native int rmdir(byte[] path);
        static native int unlink(byte[] path);
        static native int rename(byte[] from, byte[] to);
        static native int link(byte[] existing, byte[] newPath);
        static native int symlink(byte[] target, byte[] path);
        static native long readlink(byte[] path, byte[] buf, long size);
        static native int mknod(byte[] path, int mode, long dev);
        static native int open(byte[] path, int flags, int mode);
        static native int close(int fd);
        static native int ftruncate64(int fd, long size);
        static native int chmod(byte[] path, int mode);
        static native int lchown(byte[] path, int uid, int gid);
        static native int fchown(int fd, int uid, int gid);
        static native int fchmod(int fd, int mode);
        static native int futimens(int fd, long[] times);
        static native int utimensat(int dirfd, byte[] path, long[] times, int flags);
        static native long pread64(int fd, byte[] buf, long count, long offset);
        static native long read(int fd, byte[] buf, long count);
        static native long write(int fd, byte[] buf, long count);
        static native int geteuid();
        static native int getegid();
        static native int access(byte[] path, int mode);
        static native Pointer opendir(byte[] path);
        static native Pointer readdir64(Pointer dir);
        static native int closedir(Pointer dir);
        static native int inotify_init1(int flags);
        static native int inotify_add_watch(int fd, byte[] path, int mask);
    }
}
