package io.tether.posix;

import com.sun.jna.Native;
import com.sun.jna.Platform;

/**
 * Raw libc calls behind {@link UnixRights}: Unix stream sockets and recvmsg/sendmsg with
 * SCM_RIGHTS. Direct-mapped; addresses are native memory the caller owns. Errors are -1 with
 * errno in {@code Native.getLastError()}; the Java API turns them into ErrnoExceptions.
 */
final class UnixNative {
    static {
        Native.register(UnixNative.class, Platform.C_LIBRARY_NAME);
    }

    private UnixNative() {}

    static native int socket(int domain, int type, int protocol);
    static native int bind(int fd, byte[] addr, int len);
    static native int listen(int fd, int backlog);
    static native int accept4(int fd, long addr, long len, int flags);
    static native int connect(int fd, byte[] addr, int len);
    static native long recvmsg(int fd, long msghdr, int flags);
    static native long sendmsg(int fd, long msghdr, int flags);
    static native int getsockopt(int fd, int level, int name, int[] value, int[] len);
    static native int close(int fd);
}
