package io.tether.posix;

/** Linux errno values used by Tether (asm-generic numbering, shared by x86_64, arm and aarch64). */
public final class Errno {
    public static final int EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EIO = 5, ENXIO = 6, E2BIG = 7,
            ENOEXEC = 8, EBADF = 9, ECHILD = 10, EAGAIN = 11, ENOMEM = 12, EACCES = 13, EFAULT = 14,
            EBUSY = 16, EEXIST = 17, EXDEV = 18, ENODEV = 19, ENOTDIR = 20, EISDIR = 21, EINVAL = 22,
            ENFILE = 23, EMFILE = 24, ENOTTY = 25, ETXTBSY = 26, EFBIG = 27, ENOSPC = 28, ESPIPE = 29,
            EROFS = 30, EMLINK = 31, EPIPE = 32, ERANGE = 34, ENAMETOOLONG = 36, ENOSYS = 38,
            ENOTEMPTY = 39, ELOOP = 40, ENODATA = 61, EOPNOTSUPP = 95, ETIMEDOUT = 110, ESTALE = 116,
            ECONNRESET = 104, ENOTCONN = 107, EDQUOT = 122, ECANCELED = 125;

    private Errno() {}

    /** "ENOENT (No such file or directory)", from the C library where possible. */
    public static String describe(int errno) {
        if (errno >= 0 && errno < DESCRIBED.length()) {
            String d = DESCRIBED.get(errno);
            if (d == null) DESCRIBED.set(errno, d = describe0(errno));
            return d;
        }
        return describe0(errno);
    }

    private static String describe0(int errno) {
        String text;
        try {
            text = Strerror.of(errno);
        } catch (Throwable t) {
            text = null;
        }
        return name(errno) + (text == null ? "" : " (" + text + ")");
    }

    public static String name(int errno) {
        String n = Names.BY_NUMBER.get(errno);
        return n != null ? n : "errno " + errno;
    }

    /** Descriptions made so far: each costs a reflective name lookup and a strerror call the first time only. */
    private static final java.util.concurrent.atomic.AtomicReferenceArray<String> DESCRIBED =
            new java.util.concurrent.atomic.AtomicReferenceArray<>(256);

    /** The constants above by value, read once. */
    private static final class Names {
        static final java.util.Map<Integer, String> BY_NUMBER;

        static {
            java.util.Map<Integer, String> m = new java.util.HashMap<>();
            for (java.lang.reflect.Field f : Errno.class.getFields()) {
                try {
                    if (f.getType() == int.class) m.putIfAbsent(f.getInt(null), f.getName());
                } catch (IllegalAccessException ignored) {
                    // public static fields only
                }
            }
            BY_NUMBER = java.util.Map.copyOf(m);
        }
    }

    private static final class Strerror {
        static {
            com.sun.jna.Native.register(Strerror.class, com.sun.jna.Platform.C_LIBRARY_NAME);
        }

        private static native String strerror(int errnum);

        static String of(int errno) {
            return strerror(errno);
        }
    }
}
