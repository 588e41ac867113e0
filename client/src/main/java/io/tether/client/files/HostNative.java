package io.tether.client.files;

import com.sun.jna.Native;
import com.sun.jna.Platform;

/**
 * Raw C library calls of the host file server, by JNA direct mapping: results exactly as C returns
 * them, errno in {@link Native#getLastError()}. Paths are NUL-terminated byte arrays (file names are
 * bytes, not text); buffers are native addresses. {@link HostCalls} is the Java-facing layer.
 */
final class HostNative {
    static {
        Native.register(HostNative.class, Platform.C_LIBRARY_NAME);
    }

    /** Syscall numbers without a portable glibc wrapper: openat2 is 437 on every architecture. */
    static final long SYS_OPENAT2 = 437;
    static final long SYS_GETDENTS64 = switch (Platform.ARCH) {
        case "x86-64" -> 217;
        case "aarch64", "riscv64", "loongarch64" -> 61;
        default -> -1;
    };

    private HostNative() {}

    static native long syscall(long number, long a1, long a2, long a3, long a4);

    static native int openat(int dirFd, byte[] path, int flags, int mode);
    static native int close(int fd);
    static native int statx(int dirFd, byte[] path, int flags, int mask, long buf);
    static native long readlinkat(int dirFd, byte[] path, long buf, long size);
    static native int mkdirat(int dirFd, byte[] path, int mode);
    static native int mknodat(int dirFd, byte[] path, int mode, long dev);
    static native int unlinkat(int dirFd, byte[] path, int flags);
    static native int renameat2(int oldDirFd, byte[] oldPath, int newDirFd, byte[] newPath, int flags);
    static native int linkat(int oldDirFd, byte[] oldPath, int newDirFd, byte[] newPath, int flags);
    static native int symlinkat(byte[] target, int dirFd, byte[] path);
    static native int fchmod(int fd, int mode);
    static native int chmod(byte[] path, int mode);
    static native int fchownat(int dirFd, byte[] path, int uid, int gid, int flags);
    static native int utimensat(int dirFd, byte[] path, long times, int flags);
    static native int fstatfs(int fd, long buf);
    static native int fsync(int fd);
    static native int ftruncate(int fd, long length);
    static native long pread(int fd, long buf, long count, long offset);
    static native long pwrite(int fd, long buf, long count, long offset);

    static native int inotify_init1(int flags);
    static native int inotify_add_watch(int fd, byte[] path, int mask);
    static native int poll(long fds, long nfds, int timeoutMs);
    static native long read(int fd, long buf, long count);

    static native long getxattr(byte[] path, byte[] name, long value, long size);
    static native long lgetxattr(byte[] path, byte[] name, long value, long size);
    static native int setxattr(byte[] path, byte[] name, long value, long size, int flags);
    static native int lsetxattr(byte[] path, byte[] name, long value, long size, int flags);
    static native long listxattr(byte[] path, long list, long size);
    static native long llistxattr(byte[] path, long list, long size);
    static native int removexattr(byte[] path, byte[] name);
    static native int lremovexattr(byte[] path, byte[] name);
}
