package io.tether.posix;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;
import com.sun.jna.StringArray;

import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The Java-facing C library API over {@link NativeLibC}: a failing call throws
 * {@link ErrnoException} with its errno, the operation and what it was applied to;
 * EINTR is retried where the call is restartable. Constants are Linux generic values
 * (x86_64, aarch64, arm share them).
 */
public final class LibC {
    public static final int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0100, O_EXCL = 0200,
            O_NOCTTY = 0400, O_TRUNC = 01000, O_APPEND = 02000, O_NONBLOCK = 04000, O_CLOEXEC = 02000000;
    public static final int F_GETFD = 1, F_SETFD = 2, F_GETFL = 3, F_SETFL = 4, FD_CLOEXEC = 1;
    public static final int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = O_CLOEXEC, SHUT_RD = 0, SHUT_WR = 1, SHUT_RDWR = 2;
    public static final int WNOHANG = 1, WUNTRACED = 2, WCONTINUED = 8, __WNOTHREAD = 0x20000000, __WALL = 0x40000000;
    public static final short POSIX_SPAWN_RESETIDS = 0x01, POSIX_SPAWN_SETPGROUP = 0x02, POSIX_SPAWN_SETSIGDEF = 0x04,
            POSIX_SPAWN_SETSIGMASK = 0x08, POSIX_SPAWN_USEVFORK = 0x40, POSIX_SPAWN_SETSID = 0x80;
    public static final long TIOCGWINSZ = 0x5413, TIOCSWINSZ = 0x5414;

    /** Opaque glibc types, over-allocated so one size fits every ABI (x86_64: 80, 336, 128 bytes). */
    static final int FILE_ACTIONS_SIZE = 512, SPAWNATTR_SIZE = 512, SIGSET_SIZE = 128;

    private static final long SYS_GETTID = switch (Platform.ARCH) {
        case "x86-64" -> 186;
        case "aarch64", "riscv64", "loongarch64" -> 178;
        case "arm", "x86" -> 224;
        case "ppc", "ppc64", "ppc64le" -> 207;
        default -> -1;
    };

    private LibC() {}

    /** errno of the last failed call on this thread. */
    public static int errno() {
        return Native.getLastError();
    }

    // ---- files ----

    public static int open(String path, int flags, int mode) throws ErrnoException {
        while (true) {
            int fd = NativeLibC.open(path, flags, mode);
            if (fd >= 0) return fd;
            int e = errno();
            if (e != Errno.EINTR) throw new ErrnoException(e, "open", path);
        }
    }

    public static void close(int fd) throws ErrnoException {
        // Never retry close: on Linux the fd is gone even when it reports EINTR.
        if (NativeLibC.close(fd) != 0) {
            int e = errno();
            if (e != Errno.EINTR) throw new ErrnoException(e, "close", "fd " + fd);
        }
    }

    /** Closes fd if it is >= 0, ignoring errors: for clean-up paths. */
    public static void closeQuietly(int fd) {
        if (fd >= 0) NativeLibC.close(fd);
    }

    /** Reads at most {@code len} bytes into {@code buf}; 0 at end of file. */
    public static int read(int fd, Memory buf, int len) throws ErrnoException {
        if (len > buf.size()) throw new IllegalArgumentException("len " + len + " > buffer " + buf.size());
        while (true) {
            long n = NativeLibC.read(fd, Pointer.nativeValue(buf), len);
            if (n >= 0) return (int) n;
            int e = errno();
            if (e != Errno.EINTR) throw new ErrnoException(e, "read", "fd " + fd);
        }
    }

    /** Writes all {@code len} bytes of {@code buf}. */
    public static void writeFully(int fd, Memory buf, int len) throws ErrnoException {
        if (len > buf.size()) throw new IllegalArgumentException("len " + len + " > buffer " + buf.size());
        long base = Pointer.nativeValue(buf);
        long done = 0;
        while (done < len) {
            long n = NativeLibC.write(fd, base + done, len - done);
            if (n >= 0) {
                done += n;
                continue;
            }
            int e = errno();
            if (e != Errno.EINTR) throw new ErrnoException(e, "write", "fd " + fd);
        }
    }

    /** Writes all of {@code bytes} (through a temporary native buffer). */
    public static void writeFully(int fd, byte[] bytes, int off, int len) throws ErrnoException {
        if (len == 0) return;
        Memory m = new Memory(len);
        try {
            m.write(0, bytes, off, len);
            writeFully(fd, m, len);
        } finally {
            m.close();
        }
    }

    /** {read end, write end}. */
    public static int[] pipe(int flags) throws ErrnoException {
        int[] fds = new int[2];
        if (NativeLibC.pipe2(fds, flags) != 0) throw new ErrnoException(errno(), "pipe2");
        return fds;
    }

    public static int[] socketpair(int domain, int type, int protocol) throws ErrnoException {
        int[] fds = new int[2];
        if (NativeLibC.socketpair(domain, type, protocol, fds) != 0) throw new ErrnoException(errno(), "socketpair");
        return fds;
    }

    public static void shutdown(int fd, int how) throws ErrnoException {
        if (NativeLibC.shutdown(fd, how) != 0) throw new ErrnoException(errno(), "shutdown", "fd " + fd);
    }

    public static int fcntl(int fd, int cmd, long arg) throws ErrnoException {
        int r = NativeLibC.fcntl(fd, cmd, arg);
        if (r < 0) throw new ErrnoException(errno(), "fcntl", "fd " + fd);
        return r;
    }

    public static void mkfifo(String path, int mode) throws ErrnoException {
        if (NativeLibC.mkfifo(path, mode) != 0) throw new ErrnoException(errno(), "mkfifo", path);
    }

    /** Sets the process-wide umask and returns the previous one. Cannot fail. */
    public static int umask(int mask) {
        return NativeLibC.umask(mask);
    }

    // ---- processes ----

    public static void kill(int pid, int sig) throws ErrnoException {
        if (NativeLibC.kill(pid, sig) != 0) throw new ErrnoException(errno(), "kill", Integer.toString(pid));
    }

    /** waitpid, retrying EINTR; with WNOHANG a pid of 0 in the result means nothing changed yet. */
    public static WaitStatus waitpid(int pid, int options) throws ErrnoException {
        int[] status = new int[1];
        while (true) {
            int r = NativeLibC.waitpid(pid, status, options);
            if (r >= 0) return new WaitStatus(r, status[0]);
            int e = errno();
            if (e != Errno.EINTR) throw new ErrnoException(e, "waitpid", Integer.toString(pid));
        }
    }

    public static int getpid() {
        return NativeLibC.getpid();
    }

    public static int getuid() {
        return NativeLibC.getuid();
    }

    public static int geteuid() {
        return NativeLibC.geteuid();
    }

    /** The calling OS thread's id (what /proc/self/task lists). */
    public static int gettid() throws ErrnoException {
        if (SYS_GETTID < 0) throw new ErrnoException(Errno.ENOSYS, "gettid", Platform.ARCH);
        long r = NativeLibC.syscall(SYS_GETTID);
        if (r < 0) throw new ErrnoException(errno(), "gettid");
        return (int) r;
    }

    // ---- terminals ----

    /** A new pty master, granted and unlocked. */
    public static int openPtyMaster(int flags) throws ErrnoException {
        int fd = NativeLibC.posix_openpt(flags);
        if (fd < 0) throw new ErrnoException(errno(), "posix_openpt");
        try {
            if (NativeLibC.grantpt(fd) != 0) throw new ErrnoException(errno(), "grantpt", "fd " + fd);
            if (NativeLibC.unlockpt(fd) != 0) throw new ErrnoException(errno(), "unlockpt", "fd " + fd);
        } catch (ErrnoException e) {
            closeQuietly(fd);
            throw e;
        }
        return fd;
    }

    /** The slave device path of a pty master ("/dev/pts/3"). */
    public static String ptsname(int masterFd) throws ErrnoException {
        byte[] buf = new byte[128];
        int rc = NativeLibC.ptsname_r(masterFd, buf, buf.length);
        if (rc != 0) throw new ErrnoException(rc, "ptsname_r", "fd " + masterFd);
        int n = 0;
        while (n < buf.length && buf[n] != 0) n++;
        return new String(buf, 0, n, StandardCharsets.UTF_8);
    }

    public static void setWindowSize(int fd, int rows, int cols) throws ErrnoException {
        short[] ws = {(short) rows, (short) cols, 0, 0};
        if (NativeLibC.ioctl(fd, TIOCSWINSZ, ws) != 0) throw new ErrnoException(errno(), "ioctl(TIOCSWINSZ)", "fd " + fd);
    }

    /** {rows, cols}. */
    public static int[] getWindowSize(int fd) throws ErrnoException {
        short[] ws = new short[4];
        if (NativeLibC.ioctl(fd, TIOCGWINSZ, ws) != 0) throw new ErrnoException(errno(), "ioctl(TIOCGWINSZ)", "fd " + fd);
        return new int[] {ws[0] & 0xffff, ws[1] & 0xffff};
    }

    // ---- posix_spawn ----

    /**
     * posix_spawn(path, actions, attr, argv, env): the child's pid. posix_spawn returns the
     * errno itself (including execve's: ENOENT, EACCES, ENOEXEC), never -1.
     */
    public static int posixSpawn(String path, SpawnFileActions actions, SpawnAttributes attr, List<String> argv, List<String> env)
            throws ErrnoException {
        StringArray cArgv = new StringArray(argv.toArray(new String[0]), "UTF-8");
        StringArray cEnv = new StringArray(env.toArray(new String[0]), "UTF-8");
        int[] pid = new int[1];
        int rc = NativeLibC.posix_spawn(pid, path, actions.pointer(), attr.pointer(), cArgv, cEnv);
        if (rc != 0) throw new ErrnoException(rc, "posix_spawn", path);
        return pid[0];
    }

    static void check(int rc, String op) throws ErrnoException {
        if (rc != 0) throw new ErrnoException(rc, op);
    }
}
