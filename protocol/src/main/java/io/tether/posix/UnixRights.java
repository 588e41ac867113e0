package io.tether.posix;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Unix stream sockets on raw descriptors, and passing descriptors over them (SCM_RIGHTS): what
 * the front door needs to take over a front end's stdio. The JDK's Unix socket channels hide
 * their descriptor and cannot carry ancillary data, hence these few calls.
 *
 * <p>Layouts are LP64 Linux (x86_64, aarch64): msghdr 56 bytes, iovec 16, cmsghdr 16 before
 * its data. {@link #supported()} is false elsewhere.
 */
public final class UnixRights {
    /** The kernel's limit of descriptors in one SCM_RIGHTS message (SCM_MAX_FD). */
    public static final int MAX_FDS = 253;
    private static final int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 02000000;
    private static final int SOL_SOCKET = 1, SCM_RIGHTS = 1, SO_PEERCRED = 17;
    private static final int MSG_CTRUNC = 0x8, MSG_NOSIGNAL = 0x4000, MSG_CMSG_CLOEXEC = 0x40000000;
    private static final int SUN_PATH = 108;
    private static final int MSGHDR = 56, IOVEC = 16, CMSGHDR = 16;

    private UnixRights() {}

    /** What one {@link #receive} got: the bytes read and the descriptors that came with them. */
    public record Received(byte[] data, int[] fds, boolean truncated) {
        public Received {
            fds = fds.clone();
        }

        @Override
        public int[] fds() { return fds.clone(); }
    }

    /** Peer credentials of a connected socket (SO_PEERCRED). */
    public record Credentials(int pid, int uid, int gid) {}

    public static boolean supported() {
        return Platform.isLinux() && Platform.is64Bit();
    }

    /** A listening socket bound to {@code path} (which must not exist), close-on-exec. */
    public static int listen(String path, int backlog) throws ErrnoException {
        int fd = socket();
        byte[] addr = address(path);
        if (UnixNative.bind(fd, addr, addr.length) != 0 || UnixNative.listen(fd, backlog) != 0) {
            int errno = Native.getLastError();
            UnixNative.close(fd);
            throw new ErrnoException(errno, "bind", path);
        }
        return fd;
    }

    /** Accepts one connection (close-on-exec); EINTR is retried. */
    public static int accept(int listenFd) throws ErrnoException {
        while (true) {
            int fd = UnixNative.accept4(listenFd, 0, 0, SOCK_CLOEXEC);
            if (fd >= 0) return fd;
            int errno = Native.getLastError();
            if (errno != Errno.EINTR) throw new ErrnoException(errno, "accept", "fd " + listenFd);
        }
    }

    /** A socket connected to {@code path}, close-on-exec. */
    public static int connect(String path) throws ErrnoException {
        int fd = socket();
        byte[] addr = address(path);
        while (UnixNative.connect(fd, addr, addr.length) != 0) {
            int errno = Native.getLastError();
            if (errno == Errno.EINTR) continue;
            UnixNative.close(fd);
            throw new ErrnoException(errno, "connect", path);
        }
        return fd;
    }

    public static Credentials peer(int fd) throws ErrnoException {
        int[] v = new int[3];
        int[] len = {12};
        if (UnixNative.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, v, len) != 0) {
            throw new ErrnoException(Native.getLastError(), "getsockopt(SO_PEERCRED)", "fd " + fd);
        }
        return new Credentials(v[0], v[1], v[2]);
    }

    /**
     * One recvmsg of up to {@code maxBytes}, accepting up to {@code maxFds} descriptors (received
     * close-on-exec). Zero bytes and no descriptors: end of stream. If the sender passed more
     * descriptors than fit, the kernel closes the rest and {@code truncated} is true. EINTR is
     * retried.
     */
    public static Received receive(int fd, int maxBytes, int maxFds) throws ErrnoException {
        checkSupported();
        int space = cmsgSpace(Math.max(1, maxFds));
        try (Memory msg = new Memory(MSGHDR + IOVEC); Memory data = new Memory(Math.max(1, maxBytes));
             Memory control = new Memory(space)) {
            msg.clear();
            control.clear();
            long iov = Pointer.nativeValue(msg) + MSGHDR;
            msg.setLong(MSGHDR, Pointer.nativeValue(data));
            msg.setLong(MSGHDR + 8, maxBytes);
            msg.setLong(16, iov);
            msg.setLong(24, 1);
            msg.setLong(32, Pointer.nativeValue(control));
            msg.setLong(40, space);
            long n;
            while ((n = UnixNative.recvmsg(fd, Pointer.nativeValue(msg), MSG_CMSG_CLOEXEC)) < 0) {
                int errno = Native.getLastError();
                if (errno != Errno.EINTR) throw new ErrnoException(errno, "recvmsg", "fd " + fd);
            }
            int flags = msg.getInt(48);
            int[] fds = descriptors(control, msg.getLong(40));
            return new Received(data.getByteArray(0, (int) n), fds, (flags & MSG_CTRUNC) != 0);
        }
    }

    /** Sends {@code data} (at least one byte) with {@code fds} attached to it; returns bytes sent. */
    public static int send(int fd, byte[] data, int[] fds) throws ErrnoException {
        checkSupported();
        if (data.length == 0) throw new IllegalArgumentException("descriptors need at least one byte to travel with");
        if (fds.length > MAX_FDS) throw new IllegalArgumentException(fds.length + " descriptors: at most " + MAX_FDS);
        int space = fds.length == 0 ? 0 : cmsgSpace(fds.length);
        try (Memory msg = new Memory(MSGHDR + IOVEC); Memory buf = new Memory(data.length);
             Memory control = new Memory(Math.max(1, space))) {
            msg.clear();
            control.clear();
            buf.write(0, data, 0, data.length);
            msg.setLong(MSGHDR, Pointer.nativeValue(buf));
            msg.setLong(MSGHDR + 8, data.length);
            msg.setLong(16, Pointer.nativeValue(msg) + MSGHDR);
            msg.setLong(24, 1);
            if (space > 0) {
                control.setLong(0, CMSGHDR + 4L * fds.length);
                control.setInt(8, SOL_SOCKET);
                control.setInt(12, SCM_RIGHTS);
                control.write(CMSGHDR, fds, 0, fds.length);
                msg.setLong(32, Pointer.nativeValue(control));
                msg.setLong(40, space);
            }
            long n;
            while ((n = UnixNative.sendmsg(fd, Pointer.nativeValue(msg), MSG_NOSIGNAL)) < 0) {
                int errno = Native.getLastError();
                if (errno != Errno.EINTR) throw new ErrnoException(errno, "sendmsg", "fd " + fd);
            }
            return (int) n;
        }
    }

    /** Closes a socket this class opened. */
    public static void close(int fd) {
        UnixNative.close(fd);
    }

    private static int[] descriptors(Memory control, long length) {
        int[] all = new int[0];
        long off = 0;
        while (off + CMSGHDR <= length) {
            long len = control.getLong(off);
            if (len < CMSGHDR || off + len > length) break;
            if (control.getInt(off + 8) == SOL_SOCKET && control.getInt(off + 12) == SCM_RIGHTS) {
                int n = (int) ((len - CMSGHDR) / 4);
                int[] got = control.getIntArray(off + CMSGHDR, n);
                int[] merged = Arrays.copyOf(all, all.length + n);
                System.arraycopy(got, 0, merged, all.length, n);
                all = merged;
            }
            off += (len + 7) & ~7L;
        }
        return all;
    }

    private static int cmsgSpace(int fds) {
        return CMSGHDR + ((4 * fds + 7) & ~7);
    }

    private static int socket() throws ErrnoException {
        checkSupported();
        int fd = UnixNative.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) throw new ErrnoException(Native.getLastError(), "socket", "AF_UNIX");
        return fd;
    }

    /** sockaddr_un: the family, then the path NUL-terminated. */
    private static byte[] address(String path) throws ErrnoException {
        byte[] p = path.getBytes(StandardCharsets.UTF_8);
        if (p.length >= SUN_PATH) throw new ErrnoException(Errno.ENAMETOOLONG, "socket address", path);
        byte[] addr = new byte[2 + p.length + 1];
        addr[java.nio.ByteOrder.nativeOrder() == java.nio.ByteOrder.LITTLE_ENDIAN ? 0 : 1] = (byte) AF_UNIX; // sa_family_t
        System.arraycopy(p, 0, addr, 2, p.length);
        return addr;
    }

    private static void checkSupported() {
        if (!supported()) throw new UnsupportedOperationException("descriptor passing is implemented for 64-bit Linux only");
    }
}
