package io.tether.daemon.guest;

import com.sun.jna.Native;
import com.sun.jna.NativeLong;
import com.sun.jna.Platform;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.nio.charset.StandardCharsets;

/** {@link GuestFileAccess} on this machine's files, through statx(2) and readlink(2). */
public final class LocalFileAccess implements GuestFileAccess {
    private static final int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, STATX_TYPE = 1;
    private static final int STATX_SIZE = 256, STX_MODE_OFFSET = 28;
    private static final int PATH_MAX = 4096;
    private static final int O_RDONLY = 0, O_CLOEXEC = 02000000;

    public static final LocalFileAccess INSTANCE = new LocalFileAccess();

    private LocalFileAccess() {}

    @Override
    public FileKind kind(String hostPath) throws ErrnoException {
        byte[] buf = new byte[STATX_SIZE];
        if (Libc.statx(AT_FDCWD, cString(hostPath), AT_SYMLINK_NOFOLLOW, STATX_TYPE, buf) != 0) {
            throw new ErrnoException(Native.getLastError(), "lstat", hostPath);
        }
        int mode = (buf[STX_MODE_OFFSET] & 0xff) | (buf[STX_MODE_OFFSET + 1] & 0xff) << 8;
        return FileKind.ofMode(mode);
    }

    @Override
    public String readlink(String hostPath) throws ErrnoException {
        byte[] buf = new byte[PATH_MAX];
        long n = Libc.readlink(cString(hostPath), buf, new NativeLong(buf.length)).longValue();
        if (n < 0) throw new ErrnoException(Native.getLastError(), "readlink", hostPath);
        return new String(buf, 0, (int) n, StandardCharsets.ISO_8859_1);
    }

    @Override
    public byte[] read(String hostPath, long offset, int length) throws ErrnoException {
        int fd = Libc.open(cString(hostPath), O_RDONLY | O_CLOEXEC);
        if (fd < 0) throw new ErrnoException(Native.getLastError(), "open", hostPath);
        try {
            byte[] buf = new byte[length];
            long n = Libc.pread64(fd, buf, new NativeLong(length), offset).longValue();
            if (n < 0) throw new ErrnoException(Native.getLastError(), "pread", hostPath);
            return n == length ? buf : java.util.Arrays.copyOf(buf, (int) n);
        } finally {
            Libc.close(fd);
        }
    }

    @Override
    public void createDirectories(String hostPath) throws ErrnoException {
        if (hostPath.isEmpty() || hostPath.equals("/")) return;
        int slash = hostPath.lastIndexOf('/');
        if (slash > 0) createDirectories(hostPath.substring(0, slash));
        if (Libc.mkdir(cString(hostPath), 0755) != 0) {
            int errno = Native.getLastError();
            if (errno != Errno.EEXIST) throw new ErrnoException(errno, "mkdir", hostPath);
        }
    }

    static byte[] cString(String path) {
        byte[] b = new byte[path.length() + 1];
        for (int i = 0; i < path.length(); i++) b[i] = (byte) path.charAt(i);
        return b;
    }

    private static final class Libc {
        static {
            Native.register(Libc.class, Platform.C_LIBRARY_NAME);
        }

        static native int statx(int dirfd, byte[] path, int flags, int mask, byte[] statxbuf);

        static native NativeLong readlink(byte[] path, byte[] buf, NativeLong size);

        static native int mkdir(byte[] path, int mode);

        static native int open(byte[] path, int flags);

        // pread64: off64_t on 32-bit ABIs too, where pread's off_t is 32 bits.
        static native NativeLong pread64(int fd, byte[] buf, NativeLong count, long offset);

        static native int close(int fd);
    }
}
