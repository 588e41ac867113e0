package io.tether.daemon.files;

import io.tether.posix.ErrnoException;
import java.io.Closeable;
import java.nio.file.Path;
import java.util.List;
import java.util.function.BiConsumer;

/**
 * The client's host file server as the daemon sees it ("No NFS", tether.proto {@code FileRequest}).
 * Every file is named by an export id and an export-relative path ({@code rel}: no leading '/', ""
 * is the export's root) carried as a byte string in a Java String one char per byte (ISO-8859-1).
 * Every failure is an {@link ErrnoException} with the host's errno; a lost connection is EIO.
 * Thread-safe: many calls may be in flight at once.
 */
public interface HostFiles extends Closeable {
    List<HostExport> exports();

    /** uname machine of the client's host ("x86_64"). */
    String hostArch();

    HostAttr getattr(int export, String rel, boolean follow) throws ErrnoException;

    HostListing readdir(int export, String rel) throws ErrnoException;

    /**
     * A walk's listings (tether.proto {@code ReadDir.max_entries}): {@code rel} and the directories below
     * it, depth first, each handed whole to {@code sink} as it arrives (on an I/O thread: it must not
     * block), until a directory brings the entries to {@code maxEntries}; a subdirectory that cannot be
     * listed is left out. Returns the entries listed. This default asks one listing at a time.
     */
    default int readdirTree(int export, String rel, int maxEntries, BiConsumer<String, HostListing> sink) throws ErrnoException {
        java.util.Deque<String> todo = new java.util.ArrayDeque<>();
        todo.push(rel);
        int total = 0;
        boolean first = true;
        while (!todo.isEmpty() && total < maxEntries) {
            String dir = todo.pop();
            HostListing listing;
            try {
                listing = readdir(export, dir);
            } catch (ErrnoException e) {
                if (first) throw e;
                continue;
            } finally {
                first = false;
            }
            total += listing.entries().size();
            sink.accept(dir, listing);
            List<HostDirEntry> entries = listing.entries();
            for (int i = entries.size() - 1; i >= 0; i--) {
                HostDirEntry e = entries.get(i);
                if (e.attr().isDirectory()) todo.push(dir.isEmpty() ? e.name() : dir + "/" + e.name());
            }
        }
        return total;
    }

    String readlink(int export, String rel) throws ErrnoException;

    /** Up to {@code length} bytes from {@code offset} (fewer at the end of the file). */
    byte[] read(int export, String rel, long offset, int length) throws ErrnoException;

    /**
     * Copies the whole file into {@code localFile} (created if missing; an existing file keeps its inode:
     * its bytes are overwritten from offset 0 and its length set to the copy's at the end) and returns
     * the attributes the file had when read, so the caller can validate what it cached.
     */
    HostAttr fetch(int export, String rel, Path localFile) throws ErrnoException;

    /**
     * Replaces the host file with the contents of {@code localFile}, atomically (temp + rename). An
     * existing file keeps its mode unless {@code chmod} (the program set {@code mode} itself); a new one
     * gets {@code mode}.
     */
    HostAttr put(int export, String rel, Path localFile, int mode, boolean chmod, boolean sync) throws ErrnoException;

    HostAttr create(int export, String rel, int mode, boolean exclusive, boolean truncate) throws ErrnoException;

    HostAttr truncate(int export, String rel, long size) throws ErrnoException;

    HostAttr mkdir(int export, String rel, int mode) throws ErrnoException;

    HostAttr mknod(int export, String rel, int mode, long rdev) throws ErrnoException;

    void unlink(int export, String rel) throws ErrnoException;

    void rmdir(int export, String rel) throws ErrnoException;

    /** renameat2 {@code flags}; EXDEV when the exports differ. Returns {@code toRel}'s attributes after it, or null if not told. */
    HostAttr rename(int export, String rel, int toExport, String toRel, int flags) throws ErrnoException;

    /** Hard link {@code toRel} to the existing {@code rel}; EXDEV when the exports differ. */
    void link(int export, String rel, int toExport, String toRel) throws ErrnoException;

    /** Creates {@code rel} as a symlink to {@code target}, stored as written; its attributes, or null if not told. */
    HostAttr symlink(int export, String rel, String target) throws ErrnoException;

    HostAttr chmod(int export, String rel, int mode) throws ErrnoException;

    /** -1 leaves an id unchanged. */
    void chown(int export, String rel, long uid, long gid, boolean follow) throws ErrnoException;

    /** utimensat(2) semantics, UTIME_NOW / UTIME_OMIT in the nanosecond parts. */
    void utimes(int export, String rel, long atimeS, long atimeNs, long mtimeS, long mtimeNs, boolean follow)
            throws ErrnoException;

    /** statfs of the file system holding {@code rel}: f_type, f_bsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree, f_namelen, f_frsize, f_flags. */
    long[] statfs(int export, String rel) throws ErrnoException;

    void fsync(int export, String rel) throws ErrnoException;

    byte[] getxattr(int export, String rel, String name, boolean follow) throws ErrnoException;

    void setxattr(int export, String rel, String name, byte[] value, int flags, boolean follow) throws ErrnoException;

    List<String> listxattr(int export, String rel, boolean follow) throws ErrnoException;

    void removexattr(int export, String rel, String name, boolean follow) throws ErrnoException;

    /** What the daemon cached earlier, checked in one round trip: returns the rels that changed or are gone. */
    List<String> validate(int export, List<Validation> cached) throws ErrnoException;

    /**
     * Nonzero when the client's watches outlive the stream (tether.proto {@code FilesOpen.watch_epoch}):
     * then {@link #changes} may stand in for {@link #validate} of a tree last validated under this epoch.
     */
    default long watchEpoch() {
        return 0;
    }

    /** What changed in {@code export} since the client last answered this (one round trip); ESTALE if it cannot tell. */
    default List<String> changes(int export) throws ErrnoException {
        throw new ErrnoException(io.tether.posix.Errno.ESTALE, "validate", "the client keeps no watches between runs");
    }

    /** Called (on an I/O thread) with (export, rel) when the host changed something the daemon has read. */
    void onInvalidate(BiConsumer<Integer, String> listener);

    /**
     * As {@link #changes}, each rel with what the host holds there now when the client said so, so that
     * the echo of the daemon's own change is told from news.
     */
    default List<Changed> changesNow(int export) throws ErrnoException {
        return changes(export).stream().map(Changed::unknown).toList();
    }

    /** As {@link #onInvalidate}, with what the host holds at rel now when the client said so. */
    default void onChanged(BiConsumer<Integer, Changed> listener) {
        onInvalidate(listener == null ? null : (export, rel) -> listener.accept(export, Changed.unknown(rel)));
    }

    /**
     * {@code rel} changed on the host; {@code known}: the client looked afterwards and found {@code now}
     * there (null: nothing). Not known: take it as changed.
     */
    record Changed(String rel, HostAttr now, boolean known) {
        public static Changed unknown(String rel) {
            return new Changed(rel, null, false);
        }
    }

    /** One cached entry to revalidate. */
    record Validation(String rel, long mtimeNs, long ctimeNs, long size, long ino) {
    }
}
