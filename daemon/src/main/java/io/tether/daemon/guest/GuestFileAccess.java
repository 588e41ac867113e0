package io.tether.daemon.guest;

import io.tether.posix.ErrnoException;

/**
 * The only file operations guest-path resolution performs, on host paths. Local files today; a later
 * implementation serves them from the host over the channel. Paths are byte strings carried in Java
 * Strings one char per byte (ISO-8859-1), so no file name is ever mangled by a charset.
 */
public interface GuestFileAccess {
    /** lstat's file type; ENOENT, ENOTDIR, EACCES, ENAMETOOLONG, ELOOP as the kernel reports them. */
    FileKind kind(String hostPath) throws ErrnoException;

    /** The raw target of a symlink (EINVAL if not a symlink). */
    String readlink(String hostPath) throws ErrnoException;

    /** Up to {@code length} bytes of a file from {@code offset} (fewer at its end): exec reads headers. */
    byte[] read(String hostPath, long offset, int length) throws ErrnoException;

    /**
     * Forgets anything cached about {@code hostPath} and what lies below it, after the tracee
     * removed, renamed or replaced it. No-op for uncached access.
     */
    default void invalidate(String hostPath) {
    }

    /** Creates the directory and its missing parents (for glue directories under binds). */
    void createDirectories(String hostPath) throws ErrnoException;
}
