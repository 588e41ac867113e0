package io.tether.posix;

import com.sun.jna.Native;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;

/**
 * Raw C library bindings by JNA direct mapping ({@link Native#register}): about 0.2 us per call.
 * Results are exactly what C returns; errno is read with {@link Native#getLastError()} right
 * after a failing call on the same thread. Use {@link LibC} unless you need the raw value.
 *
 * <p>Pointers are {@code long} addresses ({@link Pointer#nativeValue}) or {@link Pointer}s;
 * out parameters of a few ints are primitive arrays, which direct mapping copies both ways.
 * Variadic functions (open, fcntl, ioctl, syscall) are declared with their fixed arity: on
 * x86_64, aarch64 and arm Linux integer varargs are passed like named arguments. Calls with C words
 * (long, size_t, pointers) go through {@link NativeWord}'s 64-bit or 32-bit twins.
 */
public final class NativeLibC {
    static {
        Native.register(NativeLibC.class, Platform.C_LIBRARY_NAME);
    }

    private NativeLibC() {}

    // ---- posix_spawn ----
    public static native int posix_spawn(int[] pid, String path, Pointer fileActions, Pointer attr, Pointer argv, Pointer envp);

    public static native int posix_spawn_file_actions_init(Pointer actions);
    public static native int posix_spawn_file_actions_destroy(Pointer actions);
    public static native int posix_spawn_file_actions_addopen(Pointer actions, int fd, String path, int oflag, int mode);
    public static native int posix_spawn_file_actions_adddup2(Pointer actions, int fd, int newfd);
    public static native int posix_spawn_file_actions_addclose(Pointer actions, int fd);
    /** glibc 2.29; check {@link ChdirNp#AVAILABLE} first. */
    public static int posix_spawn_file_actions_addchdir_np(Pointer actions, String path) {
        if (!ChdirNp.AVAILABLE) return Errno.ENOSYS;
        return ChdirNp.posix_spawn_file_actions_addchdir_np(actions, path);
    }

    /** glibc 2.34; check {@link ClosefromNp#AVAILABLE} first. */
    public static int posix_spawn_file_actions_addclosefrom_np(Pointer actions, int from) {
        if (!ClosefromNp.AVAILABLE) return Errno.ENOSYS;
        return ClosefromNp.posix_spawn_file_actions_addclosefrom_np(actions, from);
    }

    public static native int posix_spawnattr_init(Pointer attr);
    public static native int posix_spawnattr_destroy(Pointer attr);
    public static native int posix_spawnattr_setflags(Pointer attr, short flags);
    public static native int posix_spawnattr_setsigmask(Pointer attr, Pointer sigset);
    public static native int posix_spawnattr_setsigdefault(Pointer attr, Pointer sigset);
    public static native int posix_spawnattr_setpgroup(Pointer attr, int pgroup);

    public static native int sigemptyset(Pointer set);
    public static native int sigfillset(Pointer set);

    // ---- files ----
    public static native int mkfifo(String path, int mode);
    public static native int open(String path, int flags, int mode);
    public static native int close(int fd);
    public static long read(int fd, long buf, long count) {
        return NativeWord.LP64 ? Lp64.read(fd, buf, count) : Ilp32.read(fd, (int) buf, (int) count);
    }

    public static long write(int fd, long buf, long count) {
        return NativeWord.LP64 ? Lp64.write(fd, buf, count) : Ilp32.write(fd, (int) buf, (int) count);
    }

    public static native int pipe2(int[] fds, int flags);
    public static native int socketpair(int domain, int type, int protocol, int[] fds);
    public static native int shutdown(int sockfd, int how);
    public static int fcntl(int fd, int cmd, long arg) {
        return NativeWord.LP64 ? Lp64.fcntl(fd, cmd, arg) : Ilp32.fcntl(fd, cmd, (int) arg);
    }

    public static native int umask(int mask);

    // ---- processes ----
    public static native int kill(int pid, int sig);
    public static native int waitpid(int pid, int[] status, int options);
    public static native int getpid();
    public static native int getuid();

    public static native int geteuid();
    public static long syscall(long number) {
        return NativeWord.LP64 ? Lp64.syscall(number) : Ilp32.syscall((int) number);
    }

    // ---- terminals ----
    public static native int posix_openpt(int flags);
    public static native int grantpt(int fd);
    public static native int unlockpt(int fd);
    public static int ptsname_r(int fd, byte[] buf, long buflen) {
        return NativeWord.LP64 ? Lp64.ptsname_r(fd, buf, buflen) : Ilp32.ptsname_r(fd, buf, (int) buflen);
    }

    public static int ioctl(int fd, long request, short[] arg) {
        return NativeWord.LP64 ? Lp64.ioctl(fd, request, arg) : Ilp32.ioctl(fd, (int) request, arg);
    }

    /** The calls above whose arguments or result are C words, as a 64-bit ABI passes them. */
    private static final class Lp64 {
        static {
            Native.register(Lp64.class, Platform.C_LIBRARY_NAME);
        }

        private Lp64() {}

        static native long read(int fd, long buf, long count);
        static native long write(int fd, long buf, long count);
        static native int fcntl(int fd, int cmd, long arg);
        static native long syscall(long number);
        static native int ptsname_r(int fd, byte[] buf, long buflen);
        static native int ioctl(int fd, long request, short[] arg);
    }

    /** The same as a 32-bit ABI passes them ({@link NativeWord}). */
    private static final class Ilp32 {
        static {
            Native.register(Ilp32.class, Platform.C_LIBRARY_NAME);
        }

        private Ilp32() {}

        static native int read(int fd, int buf, int count);
        static native int write(int fd, int buf, int count);
        static native int fcntl(int fd, int cmd, int arg);
        static native int syscall(int number);
        static native int ptsname_r(int fd, byte[] buf, int buflen);
        static native int ioctl(int fd, int request, short[] arg);
    }

    /**
     * Functions newer than the oldest C library a target may have: each in its own class, so a
     * missing symbol (which fails a whole {@link Native#register}) disables only itself.
     */
    public static final class ChdirNp {
        public static final boolean AVAILABLE = register(ChdirNp.class);

        private ChdirNp() {}

        static native int posix_spawn_file_actions_addchdir_np(Pointer actions, String path);
    }

    public static final class ClosefromNp {
        public static final boolean AVAILABLE = register(ClosefromNp.class);

        private ClosefromNp() {}

        static native int posix_spawn_file_actions_addclosefrom_np(Pointer actions, int from);
    }

    private static boolean register(Class<?> c) {
        try {
            Native.register(c, Platform.C_LIBRARY_NAME);
            return true;
        } catch (UnsatisfiedLinkError e) {
            return false;
        }
    }
}
