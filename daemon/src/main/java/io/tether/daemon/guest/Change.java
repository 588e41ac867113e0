package io.tether.daemon.guest;

/**
 * A change a tracee is about to make to the guest tree, given to {@link GuestFileAccess#beforeChange}
 * before the kernel makes it, so a remote source of truth (the host, "No NFS") applies it first and
 * its errno, if any, is the syscall's. Paths are resolved host paths of this machine (target paths),
 * final components not followed unless {@code follow} says so.
 */
public sealed interface Change {
    record Mkdir(String hostPath, int mode) implements Change {}

    record Mknod(String hostPath, int mode, long dev) implements Change {}

    record Unlink(String hostPath) implements Change {}

    record Rmdir(String hostPath) implements Change {}

    /** renameat2 flags (RENAME_NOREPLACE, RENAME_EXCHANGE). */
    record Rename(String fromHostPath, String toHostPath, int flags) implements Change {}

    record Link(String existingHostPath, String newHostPath) implements Change {}

    /** {@code target} is stored as written (a guest path or a relative one). */
    record Symlink(String target, String hostPath) implements Change {}

    record Chmod(String hostPath, int mode) implements Change {}

    /** -1 leaves an id unchanged. */
    record Chown(String hostPath, long uid, long gid, boolean follow) implements Change {}

    record Truncate(String hostPath, long size) implements Change {}

    /** utimensat(2) semantics: UTIME_NOW / UTIME_OMIT in the nanosecond parts. */
    record Utimes(String hostPath, long atimeS, long atimeNs, long mtimeS, long mtimeNs, boolean follow) implements Change {}

    record SetXattr(String hostPath, String name, byte[] value, int flags, boolean follow) implements Change {}

    record RemoveXattr(String hostPath, String name, boolean follow) implements Change {}
}
