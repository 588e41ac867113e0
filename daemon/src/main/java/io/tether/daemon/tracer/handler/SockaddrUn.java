package io.tether.daemon.tracer.handler;

import io.tether.daemon.guest.Resolved;
import io.tether.daemon.tracer.SyscallContext;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.util.Arrays;
import java.util.Optional;

/**
 * struct sockaddr_un as the kernel passes it: a 2-byte family, then sun_path. Only a path name names a
 * file; abstract names (sun_path[0] == 0) and unnamed sockets (family alone) are no paths and pass
 * untouched both ways. Paths are bytes, one char per byte, as everywhere in the guest view.
 */
final class SockaddrUn {
    static final int AF_UNIX = 1, SUN_PATH_OFFSET = 2, SUN_PATH_MAX = 108;
    /** sizeof(struct sockaddr_un). */
    static final int SIZE = SUN_PATH_OFFSET + SUN_PATH_MAX;
    /**
     * Room for any address the kernel writes back: sockaddr_storage. (A 108-byte path bound without
     * its NUL is reported with length 111.)
     */
    static final int CAPACITY = 128;

    private SockaddrUn() {}

    static int family(byte[] sa) {
        return sa.length < 2 ? -1 : (sa[0] & 0xff) | (sa[1] & 0xff) << 8;
    }

    /** Whether the first {@code length} bytes hold an AF_UNIX address with a path name. */
    static boolean hasPath(byte[] sa, int length) {
        return length > SUN_PATH_OFFSET && sa.length > SUN_PATH_OFFSET && family(sa) == AF_UNIX && sa[SUN_PATH_OFFSET] != 0;
    }

    /** sun_path up to its NUL or the end of the address. */
    static String path(byte[] sa, int length) {
        StringBuilder path = new StringBuilder();
        for (int i = SUN_PATH_OFFSET; i < Math.min(length, sa.length) && sa[i] != 0; i++) path.append((char) (sa[i] & 0xff));
        return path.toString();
    }

    /** A path address as the kernel reports a bound one: family, path, NUL (length 2 + strlen + 1). */
    static byte[] of(String path) {
        byte[] out = new byte[SUN_PATH_OFFSET + path.length() + 1];
        out[0] = (byte) AF_UNIX;
        for (int i = 0; i < path.length(); i++) out[SUN_PATH_OFFSET + i] = (byte) path.charAt(i);
        return out;
    }

    /**
     * The guest's address (read from the tracee, {@code length} as passed) with its path replaced by
     * the host path, or empty if it names no file. {@code follow}: connect and sendto follow a final
     * symlink; bind creates the name and fails with EADDRINUSE on any existing one.
     */
    static Optional<byte[]> toHost(SyscallContext ctx, byte[] sa, int length, boolean follow) throws ErrnoException {
        if (!hasPath(sa, length)) return Optional.empty();
        String guestPath = path(sa, length);
        // A plain name in the cwd stays as it is: the kernel finds the same file, and records the
        // name as given, so getsockname shows "name" as under chroot, not an absolute path.
        if (ctx.kernelResolvesAlike(SyscallContext.AT_FDCWD, guestPath, follow)) return Optional.empty();
        Resolved r = ctx.resolve(SyscallContext.AT_FDCWD, guestPath, follow);
        String host = r.hostPath();
        if (host.length() >= SUN_PATH_MAX) throw new ErrnoException(Errno.ENAMETOOLONG, ctx.sys().kernelName(), host);
        return Optional.of(of(host));
    }

    /**
     * The address the kernel reported ({@code length} as it reported it), as the guest must see it:
     * a host path becomes its guest path; anything else, or a path outside everything the guest
     * sees, stays as it is. Returns the bytes with their reported length.
     */
    static byte[] toGuest(SyscallContext ctx, byte[] sa, int length) {
        byte[] raw = Arrays.copyOf(sa, Math.max(0, length));
        if (!hasPath(sa, length)) return raw;
        return ctx.view().toGuest(path(sa, length)).map(SockaddrUn::of).orElse(raw);
    }
}
