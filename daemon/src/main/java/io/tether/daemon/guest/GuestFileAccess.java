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

    // Hooks for a remote source of truth ("No NFS": the host's files behind a target-side mirror). The
    // tracer calls them at the syscall-entry stop, after translation and before the kernel acts; local
    // access needs none of them. An ErrnoException fails the syscall with its errno.

    /**
     * Whether the tracer must call the hooks below (a remote source of truth). When false (local
     * access) the tracer skips what only the hooks need: resolving names the kernel could resolve
     * alike itself, and reading symlink targets, times, xattr values and the umask from the tracee.
     */
    default boolean wantsHooks() {
        return false;
    }

    /**
     * Whether the kernel may look a single name up in the directory {@code hostDir} by itself, with what
     * this access would answer: always for local files; with hooks only where every entry is present
     * (a mirror's listed directory), and then only for calls that change nothing and open nothing.
     */
    default boolean kernelMayLookUpIn(String hostDir) {
        return !wantsHooks();
    }

    /**
     * Whether every directory at and below {@code hostDir} (the root of the guest or of a bind) is
     * present here as the source of truth has it, so the kernel may resolve any path there by itself: a
     * run may then be kernel-rooted (chrooted into it, with stat, readlink and getdents untrapped).
     * Asked once when a run starts. Local files always are; a mirror only once wholly listed.
     */
    default boolean wholeUnder(String hostDir) {
        return !wantsHooks();
    }

    /**
     * A run over this access went kernel-rooted: lookups, stats and listings no longer stop, so whatever
     * stops being present as the source has it (a pushed change, a new directory) must be made present
     * again without waiting to be asked. No-op for local files.
     */
    default void kernelResolves() {
    }

    /**
     * Puts up the gate on a kernel-rooted run's first opens ({@link OpenGate}), or returns null when this access
     * has none (then every open stops). The run's root process {@code rootPid} is chrooted into the guest root in
     * a mount namespace of its own, and sees {@code rootHostPath} at "/"; {@code bindsSeenAt} maps each bind's
     * mountpoint there (as a host path below the root) to the host path this daemon reaches its files by (its
     * source). No-op for local files, whose contents are always here.
     */
    default OpenGate openGate(int rootPid, String rootHostPath, java.util.Map<String, String> bindsSeenAt) {
        return null;
    }

    /**
     * A resolution is about to look in these directories (host paths, shallowest first) one after another,
     * as the PATH search of a run's program does: a remote access asks now, all at once, for the listings it
     * lacks, so the lookups that follow wait about one round trip in all instead of one each. Only a hint:
     * returns without waiting, and a directory that is missing or not one costs nothing later. No-op for
     * local files.
     */
    default void listAhead(java.util.List<String> hostDirs) {
    }

    /**
     * The tracee is about to open {@code hostPath} (resolved; open(2) {@code flags}, {@code mode} for
     * O_CREAT): make it usable by the kernel here: a directory's entries present, a regular file's
     * contents fetched unless O_TRUNC discards them, a missing file created at the source first for O_CREAT.
     */
    default void beforeOpen(String hostPath, int flags, int mode) throws ErrnoException {
    }

    /** The tracee is about to execute {@code hostPath}: its contents (and what the loader will need) present. */
    default void beforeExec(String hostPath) throws ErrnoException {
    }

    /** The tracee is about to make {@code change}: the source of truth applies it first. */
    default void beforeChange(Change change) throws ErrnoException {
    }

    /** Every pending write reaches the source of truth (before a host execution, at the end of a run). */
    default void flush() throws ErrnoException {
    }

    /**
     * A host program ran over the source of truth (after a host execution): what the host may have
     * changed must be seen before the tracee goes on. Not called on the tracer thread; may block.
     */
    default void hostChanged() throws ErrnoException {
    }
}
