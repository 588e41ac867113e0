package io.tether.posix;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;

/**
 * What the client needs from the C library to relay its own descriptors: raw read/write on
 * inherited fd numbers (no Java buffering, so pipes stay back-pressured), access modes,
 * termios raw mode, window sizes, and a few process calls. JNA direct mapping; a failing
 * call becomes an {@link ErrnoException}, EINTR is retried where a retry is always right.
 *
 * <p>termios is handled as an opaque byte array (glibc's struct is 60 bytes on x86_64 and
 * aarch64; we reserve more): the client only saves, {@code cfmakeraw}s and restores it.
 */
public final class Terminal {
    public static final int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_ACCMODE = 3, O_NONBLOCK = 04000, O_CLOEXEC = 02000000;
    public static final int F_DUPFD_CLOEXEC = 1030, F_GETFL = 3;
    public static final int TCSANOW = 0, TCSADRAIN = 1;
    public static final int SHUT_WR = 1;
    public static final short POLLIN = 1, POLLOUT = 4;
    private static final long TIOCGWINSZ = 0x5413;
    private static final int TERMIOS_BYTES = 128;
    private static final int AF_UNIX = 1, SOCK_STREAM = 1;
    private static final int SA_RESTART = 0x10000000, SA_SIGINFO = 4;
    private static final int SIGACTION_BYTES = 152;

    private Terminal() {}

    /** The raw calls; kept apart so the Java-facing methods can use the natural names. */
    private static final class C {
        static {
            Native.register(C.class, Platform.C_LIBRARY_NAME);
        }

        static long read(int fd, long buf, long count) {
            return NativeLibC.read(fd, buf, count);
        }

        static long write(int fd, long buf, long count) {
            return NativeLibC.write(fd, buf, count);
        }

        static native int close(int fd);
        static native int pipe2(int[] fds, int flags);
        static native int socketpair(int domain, int type, int protocol, int[] fds);
        static int fcntl(int fd, int cmd, long arg) {
            return NativeLibC.fcntl(fd, cmd, arg);
        }

        static native int isatty(int fd);
        static native int tcgetattr(int fd, byte[] termios);
        static native int tcsetattr(int fd, int action, byte[] termios);
        static native void cfmakeraw(byte[] termios);
        static int ioctl(int fd, long request, short[] winsize) {
            return NativeLibC.ioctl(fd, request, winsize);
        }

        static int poll(long fds, long nfds, int timeout) {
            return NativeWord.LP64 ? Poll64.poll(fds, nfds, timeout) : Poll32.poll((int) fds, (int) nfds, timeout);
        }
        static native int shutdown(int fd, int how);
        static native int getpid();
        static native int kill(int pid, int sig);
        static native int eventfd(int initval, int flags);
        static native int dup3(int oldfd, int newfd, int flags);
        static native int sigaction(int signum, long act, long oldact);
        static native String strerror(int errnum);
    }

    /** poll(2) with a 64-bit and a 32-bit ABI's nfds_t and pointer ({@link NativeWord}). */
    private static final class Poll64 {
        static {
            Native.register(Poll64.class, Platform.C_LIBRARY_NAME);
        }

        static native int poll(long fds, long nfds, int timeout);
    }

    private static final class Poll32 {
        static {
            Native.register(Poll32.class, Platform.C_LIBRARY_NAME);
        }

        static native int poll(int fds, int nfds, int timeout);
    }

    private static ErrnoException fail(String op, int fd) {
        return new ErrnoException(Native.getLastError(), op, "fd " + fd);
    }

    /** Reads up to {@code count} bytes into native memory at {@code address}; 0 at end of file. */
    public static int read(int fd, long address, int count) throws ErrnoException {
        while (true) {
            long n = C.read(fd, address, count);
            if (n >= 0) return (int) n;
            int errno = Native.getLastError();
            if (errno != Errno.EINTR) throw new ErrnoException(errno, "read", "fd " + fd);
        }
    }

    /** Writes up to {@code count} bytes from native memory; returns how many were written. */
    public static int write(int fd, long address, int count) throws ErrnoException {
        while (true) {
            long n = C.write(fd, address, count);
            if (n >= 0) return (int) n;
            int errno = Native.getLastError();
            if (errno != Errno.EINTR) throw new ErrnoException(errno, "write", "fd " + fd);
        }
    }

    /** Writes all of {@code bytes}, waiting for a non-blocking descriptor to become writable. */
    public static void writeFully(int fd, byte[] bytes) throws ErrnoException {
        if (bytes.length == 0) return;
        try (Memory m = new Memory(bytes.length)) {
            m.write(0, bytes, 0, bytes.length);
            long base = Pointer.nativeValue(m);
            int done = 0;
            while (done < bytes.length) {
                try {
                    done += write(fd, base + done, bytes.length - done);
                } catch (ErrnoException e) {
                    if (e.errno() != Errno.EAGAIN) throw e;
                    poll(fd, POLLOUT, -1);
                }
            }
        }
    }

    public static void close(int fd) throws ErrnoException {
        if (C.close(fd) < 0) throw fail("close", fd);
    }

    public static void closeQuietly(int fd) {
        C.close(fd);
    }

    /** A close-on-exec pipe: [read end, write end]. */
    public static int[] pipe() throws ErrnoException {
        int[] fds = new int[2];
        if (C.pipe2(fds, O_CLOEXEC) < 0) throw new ErrnoException(Native.getLastError(), "pipe2");
        return fds;
    }

    /** A connected pair of Unix stream sockets (read-write descriptors). */
    public static int[] socketpair() throws ErrnoException {
        int[] fds = new int[2];
        if (C.socketpair(AF_UNIX, SOCK_STREAM | O_CLOEXEC, 0, fds) < 0) throw new ErrnoException(Native.getLastError(), "socketpair");
        return fds;
    }

    /** The file status flags (F_GETFL); {@code & O_ACCMODE} gives the access mode. */
    public static int statusFlags(int fd) throws ErrnoException {
        int flags = C.fcntl(fd, F_GETFL, 0L);
        if (flags < 0) throw fail("fcntl(F_GETFL)", fd);
        return flags;
    }

    /** A close-on-exec duplicate of {@code fd} numbered at least {@code lowest}. */
    public static int duplicate(int fd, int lowest) throws ErrnoException {
        int n = C.fcntl(fd, F_DUPFD_CLOEXEC, (long) lowest);
        if (n < 0) throw fail("fcntl(F_DUPFD_CLOEXEC)", fd);
        return n;
    }

    /** Makes {@code newFd} a close-on-exec copy of {@code oldFd} (dup3), closing what was there. */
    public static void duplicateTo(int oldFd, int newFd) throws ErrnoException {
        while (C.dup3(oldFd, newFd, O_CLOEXEC) < 0) {
            if (Native.getLastError() != Errno.EINTR) throw fail("dup3", oldFd);
        }
    }

    public static boolean isTerminal(int fd) {
        return C.isatty(fd) == 1;
    }

    /** The terminal settings of {@code fd}, as an opaque struct termios. */
    public static byte[] getAttributes(int fd) throws ErrnoException {
        byte[] t = new byte[TERMIOS_BYTES];
        if (C.tcgetattr(fd, t) < 0) throw fail("tcgetattr", fd);
        return t;
    }

    public static void setAttributes(int fd, int action, byte[] termios) throws ErrnoException {
        while (C.tcsetattr(fd, action, termios) < 0) {
            if (Native.getLastError() != Errno.EINTR) throw fail("tcsetattr", fd);
        }
    }

    /** A raw-mode copy of {@code termios} (cfmakeraw: no echo, no line editing, no signals). */
    public static byte[] makeRaw(byte[] termios) {
        byte[] raw = termios.clone();
        C.cfmakeraw(raw);
        return raw;
    }

    /** {rows, cols} of the terminal {@code fd}, or null when it is not a terminal. */
    public static int[] windowSize(int fd) {
        short[] ws = new short[4];
        if (C.ioctl(fd, TIOCGWINSZ, ws) < 0) return null;
        return new int[] {ws[0] & 0xffff, ws[1] & 0xffff};
    }

    /** Waits until {@code fd} has one of {@code events}; returns revents (0 on timeout). */
    public static int poll(int fd, short events, int timeoutMillis) throws ErrnoException {
        try (Memory pfd = new Memory(8)) {
            pfd.setInt(0, fd);
            pfd.setShort(4, events);
            pfd.setShort(6, (short) 0);
            while (true) {
                int n = C.poll(Pointer.nativeValue(pfd), 1, timeoutMillis);
                if (n >= 0) return n == 0 ? 0 : pfd.getShort(6);
                if (Native.getLastError() != Errno.EINTR) throw fail("poll", fd);
            }
        }
    }

    /** Half-closes a socket; ENOTSOCK (a file, a pipe) is not an error worth reporting. */
    public static void shutdownWrite(int fd) throws ErrnoException {
        if (C.shutdown(fd, SHUT_WR) < 0) {
            int errno = Native.getLastError();
            if (errno != 88 /* ENOTSOCK */ && errno != Errno.ENOTCONN) throw new ErrnoException(errno, "shutdown", "fd " + fd);
        }
    }

    public static int pid() {
        return C.getpid();
    }

    public static void kill(int pid, int sig) throws ErrnoException {
        if (C.kill(pid, sig) < 0) throw new ErrnoException(Native.getLastError(), "kill", "pid " + pid);
    }

    /** The C library's text for {@code errno}: "No such file or directory". */
    public static String describe(int errno) {
        String s = C.strerror(errno);
        return s == null ? "errno " + errno : s;
    }

    /**
     * Makes the C library function {@code symbol} the native handler of {@code signo}
     * (SA_RESTART | SA_SIGINFO, empty mask), for a signal the JVM will not let Java code
     * handle. The function must be async-signal-safe; it receives (signo, siginfo*, ucontext*).
     *
     * @return the previous disposition, opaque, for {@link #restoreHandler}
     */
    public static byte[] setNativeHandler(int signo, String symbol) throws ErrnoException {
        Pointer fn = NativeLibrary.getInstance(Platform.C_LIBRARY_NAME).getFunction(symbol);
        try (Memory act = new Memory(SIGACTION_BYTES); Memory old = new Memory(SIGACTION_BYTES)) {
            act.clear();
            // glibc struct sigaction on x86_64 and aarch64: handler, 128-byte mask, int flags, restorer.
            act.setLong(0, Pointer.nativeValue(fn));
            act.setInt(8 + 128, SA_RESTART | SA_SIGINFO);
            if (C.sigaction(signo, Pointer.nativeValue(act), Pointer.nativeValue(old)) < 0) {
                throw new ErrnoException(Native.getLastError(), "sigaction", Signals.name(signo));
            }
            return old.getByteArray(0, SIGACTION_BYTES);
        }
    }

    /** Puts back a disposition saved by {@link #setNativeHandler}. */
    public static void restoreHandler(int signo, byte[] previous) throws ErrnoException {
        try (Memory act = new Memory(SIGACTION_BYTES)) {
            act.write(0, previous, 0, SIGACTION_BYTES);
            if (C.sigaction(signo, Pointer.nativeValue(act), 0L) < 0) {
                throw new ErrnoException(Native.getLastError(), "sigaction", Signals.name(signo));
            }
        }
    }

    /** A close-on-exec, non-blocking eventfd: a counter a signal handler can bump without blocking. */
    public static int eventfd() throws ErrnoException {
        int fd = C.eventfd(0, O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) throw new ErrnoException(Native.getLastError(), "eventfd");
        return fd;
    }
}
