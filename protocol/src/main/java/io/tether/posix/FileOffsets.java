package io.tether.posix;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;

/**
 * Offsets of open files and in-memory files: lseek, pread and memfd_create (host execution gives a host
 * program a seekable copy of a target file and moves the target's offset by what the program consumed).
 */
public final class FileOffsets {
    public static final int SEEK_SET = 0, SEEK_CUR = 1, SEEK_END = 2;
    public static final int MFD_CLOEXEC = 1;

    static {
        Native.register(FileOffsets.class, Platform.C_LIBRARY_NAME);
    }

    private FileOffsets() {}

    // The 64-bit-offset entry points (off64_t), also on 32-bit ABIs, where lseek's off_t is 32 bits.
    private static native long lseek64(int fd, long offset, int whence);
    private static native int memfd_create(String name, int flags);

    private static long pread(int fd, long buf, long count, long offset) {
        return NativeWord.LP64 ? Lp64.pread64(fd, buf, count, offset) : Ilp32.pread64(fd, (int) buf, (int) count, offset);
    }

    private static final class Lp64 {
        static {
            Native.register(Lp64.class, Platform.C_LIBRARY_NAME);
        }

        static native long pread64(int fd, long buf, long count, long offset);
    }

    private static final class Ilp32 {
        static {
            Native.register(Ilp32.class, Platform.C_LIBRARY_NAME);
        }

        static native int pread64(int fd, int buf, int count, long offset);
    }

    /** lseek(2): the new offset. */
    public static long seek(int fd, long offset, int whence) throws ErrnoException {
        long r = lseek64(fd, offset, whence);
        if (r < 0) throw new ErrnoException(Native.getLastError(), "lseek", "fd " + fd);
        return r;
    }

    /** pread(2) into {@code buf}: the bytes read, 0 at end of file. The fd's offset does not move. */
    public static int pread(int fd, Memory buf, int len, long offset) throws ErrnoException {
        if (len > buf.size()) throw new IllegalArgumentException("len " + len + " > buffer " + buf.size());
        while (true) {
            long n = pread(fd, Pointer.nativeValue(buf), len, offset);
            if (n >= 0) return (int) n;
            int e = Native.getLastError();
            if (e != Errno.EINTR) throw new ErrnoException(e, "pread", "fd " + fd);
        }
    }

    /** memfd_create(2) (glibc 2.27; Linux 3.17): an anonymous regular file in memory. */
    public static int memfd(String name, int flags) throws ErrnoException {
        int fd = memfd_create(name, flags);
        if (fd < 0) throw new ErrnoException(Native.getLastError(), "memfd_create", name);
        return fd;
    }
}
