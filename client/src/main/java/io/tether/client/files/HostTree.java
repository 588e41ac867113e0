package io.tether.client.files;

import com.sun.jna.Memory;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.protocol.proto.Attr;
import io.tether.protocol.proto.DirEntry;
import io.tether.protocol.proto.StatFsReply;
import io.tether.protocol.proto.ValidateEntry;
import com.google.protobuf.ByteString;

import java.io.Closeable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.HexFormat;
import java.util.List;

/**
 * The served host trees as the file server's operations see them: one method per operation of
 * tether.proto's FileRequest, each naming its file by export and rel, each failure an
 * {@link ErrnoException} with the host's errno. Every path goes through {@link ExportRoot}, which
 * keeps it inside its export. Thread-safe: no state beyond the exports.
 *
 * <p>Modes of new files, directories and nodes are the requested mode less the guest's umask (the
 * run's, {@code guestUmask}: applying it again to a mode the daemon already masked changes
 * nothing); the client's own umask never applies. chmod and an existing file's mode are exact.
 */
final class HostTree implements Closeable {
    /** Read chunks and listing batches stay under one 64 KiB frame with room for the envelope. */
    static final int CHUNK = 60 * 1024;
    private static final int LISTING_BATCH_BYTES = 48 * 1024;
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final byte[] NONE = new byte[0];

    private final List<ExportRoot> exports;
    private final int guestUmask;

    HostTree(List<ExportRoot> exports) {
        this(exports, 0);
    }

    HostTree(List<ExportRoot> exports, int guestUmask) {
        this.exports = List.copyOf(exports);
        this.guestUmask = guestUmask & 0777;
    }

    /** The permission bits a new file gets for {@code mode}. */
    private int newMode(int mode) {
        return mode & 07777 & ~guestUmask;
    }

    List<ExportRoot> exports() {
        return exports;
    }

    ExportRoot export(int id) throws ErrnoException {
        if (id < 0 || id >= exports.size()) throw new ErrnoException(Errno.EINVAL, "export", Integer.toString(id));
        return exports.get(id);
    }

    private ExportRoot writable(int id) throws ErrnoException {
        ExportRoot e = export(id);
        if (e.readOnly) throw new ErrnoException(Errno.EROFS, "write", "read-only export " + id);
        return e;
    }

    /** Whether export {@code id} can be served: its directory opened for listing, or its file for reading. */
    void checkReadable(int id) throws ErrnoException {
        ExportRoot root = export(id);
        int fd = root.isFile() ? openRegular(root, NONE, HostCalls.O_RDONLY)
                : root.open(NONE, HostCalls.O_RDONLY | HostCalls.O_DIRECTORY, 0, true);
        HostCalls.closeQuietly(fd);
    }

    /** Whether {@code name} is one of our Put temporaries ({@link #tempName}): not news for the daemon. */
    static boolean isTempName(String name) {
        int at = name.lastIndexOf(".tether-");
        return name.startsWith(".") && at > 0 && name.length() - at == ".tether-".length() + 12;
    }

    // ---- reading ----

    Attr getattr(int export, byte[] rel, boolean follow) throws ErrnoException {
        int fd = export(export).open(rel, HostCalls.O_PATH, 0, follow);
        try {
            return HostCalls.fstat(fd);
        } finally {
            HostCalls.closeQuietly(fd);
        }
    }

    byte[] readlink(int export, byte[] rel) throws ErrnoException {
        int fd = export(export).open(rel, HostCalls.O_PATH, 0, false);
        try {
            if ((HostCalls.fstat(fd).getMode() & HostCalls.S_IFMT) != HostCalls.S_IFLNK) throw new ErrnoException(Errno.EINVAL, "readlink");
            return HostCalls.readlink(fd, NONE);
        } finally {
            HostCalls.closeQuietly(fd);
        }
    }

    /** Receives a listing in batches; {@code dirAttr} only with the last. */
    interface ListingSink {
        void batch(List<DirEntry> entries, Attr dirAttr, boolean last) throws ErrnoException;

        /** Before the listing is read: where the directory is on the host now (to watch it), or null. */
        default void opened(Path hostDir) {
        }
    }

    /**
     * Lists {@code rel} with every entry's attributes and symlink target (READDIRPLUS), in batches
     * that fit a message.
     */
    void readdir(int export, byte[] rel, ListingSink sink) throws ErrnoException {
        int fd = export(export).open(rel, HostCalls.O_RDONLY | HostCalls.O_DIRECTORY, 0, true);
        try (Memory buf = new Memory(64 * 1024)) {
            sink.opened(hostPathOf(fd));
            list(fd, buf, sink, null);
        } finally {
            HostCalls.closeQuietly(fd);
        }
    }

    /** Receives a subtree listing, directory by directory: each one's batches, its last one with its attributes. */
    interface TreeSink {
        /** Before directory {@code dirRel} is read: where it is on the host now (to watch it), or null. */
        void opened(Path hostDir, byte[] dirRel);

        void batch(byte[] dirRel, List<DirEntry> entries, Attr dirAttr, boolean last) throws ErrnoException;
    }

    /**
     * A walk's listings in one request (tether.proto {@code ReadDir.max_entries}): {@code rel} and the
     * directories below it, depth first in directory order, until a directory brings the entries
     * listed to {@code maxEntries}. Each directory is opened through the export's confined resolution
     * like any listing, the ones below {@code rel} without following a final symlink (one swapped in
     * since its parent was read is skipped, as is one that cannot be listed: the daemon lists it on its
     * own when needed, and gets its errno then). Returns the entries listed.
     */
    int readdirTree(int export, byte[] rel, int maxEntries, TreeSink sink) throws ErrnoException {
        ExportRoot root = export(export);
        Deque<byte[]> todo = new ArrayDeque<>();
        todo.push(rel);
        int total = 0;
        boolean first = true;
        try (Memory buf = new Memory(64 * 1024)) {
            while (!todo.isEmpty() && total < maxEntries) {
                byte[] dirRel = todo.pop();
                int fd;
                try {
                    fd = root.open(dirRel, HostCalls.O_RDONLY | HostCalls.O_DIRECTORY, 0, first);
                } catch (ErrnoException e) {
                    if (first) throw e;
                    continue;
                }
                List<byte[]> subdirs = new ArrayList<>();
                try {
                    sink.opened(hostPathOf(fd), dirRel);
                    total += list(fd, buf, (entries, dirAttr, last) -> sink.batch(dirRel, entries, dirAttr, last), subdirs);
                } catch (ErrnoException e) {
                    if (first) throw e;
                    continue; // its batches so far end without dir_attr: the daemon drops them
                } finally {
                    HostCalls.closeQuietly(fd);
                    first = false;
                }
                for (int i = subdirs.size() - 1; i >= 0; i--) todo.push(childRel(dirRel, subdirs.get(i)));
            }
        }
        return total;
    }

    private static byte[] childRel(byte[] dirRel, byte[] name) {
        if (dirRel.length == 0) return name;
        byte[] r = Arrays.copyOf(dirRel, dirRel.length + 1 + name.length);
        r[dirRel.length] = '/';
        System.arraycopy(name, 0, r, dirRel.length + 1, name.length);
        return r;
    }

    /** Lists open directory {@code fd} into {@code sink}; adds its subdirectories' names to {@code subdirs} (if not null). */
    private static int list(int fd, Memory buf, ListingSink sink, List<byte[]> subdirs) throws ErrnoException {
        List<DirEntry> batch = new ArrayList<>();
        int batchBytes = 0, count = 0;
        while (true) {
            int n = HostCalls.getdents(fd, buf);
            if (n == 0) break;
            for (int pos = 0; pos < n; ) {
                int reclen = buf.getShort(pos + 16) & 0xffff;
                byte[] name = cString(buf, pos + 19, reclen - 19);
                pos += reclen;
                if (name.length == 0 || (name[0] == '.' && (name.length == 1 || (name.length == 2 && name[1] == '.')))) continue;
                Attr attr;
                try {
                    attr = HostCalls.stat(fd, name, HostCalls.AT_SYMLINK_NOFOLLOW);
                } catch (ErrnoException e) {
                    if (e.errno() == Errno.ENOENT) continue; // removed since the listing was read
                    throw e;
                }
                DirEntry.Builder entry = DirEntry.newBuilder().setName(ByteString.copyFrom(name)).setAttr(attr);
                int type = attr.getMode() & HostCalls.S_IFMT;
                if (type == HostCalls.S_IFLNK) {
                    try {
                        entry.setLinkTarget(ByteString.copyFrom(HostCalls.readlink(fd, name)));
                    } catch (ErrnoException e) {
                        if (e.errno() != Errno.ENOENT && e.errno() != Errno.EINVAL) throw e;
                    }
                } else if (type == HostCalls.S_IFDIR && subdirs != null) {
                    subdirs.add(name);
                }
                DirEntry built = entry.build();
                if (batchBytes + built.getSerializedSize() > LISTING_BATCH_BYTES && !batch.isEmpty()) {
                    sink.batch(batch, null, false);
                    batch = new ArrayList<>();
                    batchBytes = 0;
                }
                batch.add(built);
                count++;
                batchBytes += built.getSerializedSize() + 8;
            }
        }
        sink.batch(batch, HostCalls.fstat(fd), true);
        return count;
    }

    /** Receives read data in order (each chunk a fresh array the sink may keep); the attributes the file had when reading began come last. */
    interface ReadSink {
        void chunk(long offset, byte[] data, boolean last, Attr readAttr) throws ErrnoException;
    }

    /** Reads {@code length} bytes from {@code offset} (0: to the end) in chunks of at most {@link #CHUNK}. */
    void read(int export, byte[] rel, long offset, long length, ReadSink sink) throws ErrnoException {
        int fd = openRegular(export(export), rel, HostCalls.O_RDONLY);
        try (Memory buf = new Memory(CHUNK)) {
            // The attributes from before the read: if the file changes meanwhile, what the daemon
            // caches is tagged older than the host's file and fails its next validation.
            Attr before = HostCalls.fstat(fd);
            long end = length == 0 ? Long.MAX_VALUE : offset + length;
            long pos = offset;
            byte[] pending = null;
            long pendingAt = offset;
            while (pos < end) {
                int want = (int) Math.min(CHUNK, end - pos);
                int n = HostCalls.pread(fd, buf, want, pos);
                if (n == 0) break;
                if (pending != null) sink.chunk(pendingAt, pending, false, null);
                pending = buf.getByteArray(0, n);
                pendingAt = pos;
                pos += n;
            }
            sink.chunk(pendingAt, pending == null ? NONE : pending, true, before);
        } finally {
            HostCalls.closeQuietly(fd);
        }
    }

    /** A descriptor opened with {@code flags} on a regular file: directories are EISDIR, devices and FIFOs EINVAL. */
    private static int openRegular(ExportRoot root, byte[] rel, int flags) throws ErrnoException {
        int path = root.open(rel, HostCalls.O_PATH, 0, true);
        try {
            int type = HostCalls.fstat(path).getMode() & HostCalls.S_IFMT;
            if (type == HostCalls.S_IFDIR) throw new ErrnoException(Errno.EISDIR, "open");
            // Opening a device or FIFO on the host could block or have effects there: never.
            if (type != HostCalls.S_IFREG) throw new ErrnoException(Errno.EINVAL, "open", "not a regular file");
            return HostCalls.openat(HostCalls.AT_FDCWD, HostCalls.procPath(path), flags | HostCalls.O_NOCTTY | HostCalls.O_NONBLOCK, 0);
        } finally {
            HostCalls.closeQuietly(path);
        }
    }

    StatFsReply statfs(int export, byte[] rel) throws ErrnoException {
        int fd = export(export).open(rel, HostCalls.O_PATH, 0, true);
        try {
            return HostCalls.fstatfs(fd);
        } finally {
            HostCalls.closeQuietly(fd);
        }
    }

    /** The rels of {@code entries} whose (mtime, ctime, size, ino) differ from the host's, or that are gone. */
    List<ByteString> validate(int export, List<ValidateEntry> entries) throws ErrnoException {
        return validate(export, entries, null);
    }

    /** Where a validated entry that is a directory is on the host, before it is compared (to watch it). */
    interface DirectorySink {
        void directory(Path hostDir, byte[] rel);
    }

    /** As {@link #validate(int, List)}, telling {@code dirs} (if not null) of each directory entry before its final stat. */
    List<ByteString> validate(int export, List<ValidateEntry> entries, DirectorySink dirs) throws ErrnoException {
        ExportRoot root = export(export);
        List<ByteString> stale = new ArrayList<>();
        for (ValidateEntry v : entries) {
            Attr a;
            try {
                int fd = root.open(v.getRel().toByteArray(), HostCalls.O_PATH, 0, false);
                try {
                    a = HostCalls.fstat(fd);
                    if (dirs != null && (a.getMode() & HostCalls.S_IFMT) == HostCalls.S_IFDIR) {
                        // Watched first, stat'ed again after: a change between the two is caught by one or the other.
                        dirs.directory(hostPathOf(fd), v.getRel().toByteArray());
                        a = HostCalls.fstat(fd);
                    }
                } finally {
                    HostCalls.closeQuietly(fd);
                }
            } catch (ErrnoException e) {
                a = null;
            }
            if (a == null || a.getMtimeNs() != v.getMtimeNs() || a.getCtimeNs() != v.getCtimeNs() || a.getSize() != v.getSize()
                    || a.getIno() != v.getIno()) {
                stale.add(v.getRel());
            }
        }
        return stale;
    }

    // ---- writing ----

    /**
     * A whole-file replacement in progress: a temporary file next to the target, renamed over it by
     * {@link #commit}, removed by {@link #abort}. An existing target's mode (and owner, where we may)
     * carry over; a new file gets {@code mode}.
     */
    final class PutFile {
        private final ExportRoot.Parent parent;
        private final byte[] tempName;
        private final int fd;
        private boolean done;
        private boolean closed;

        private PutFile(ExportRoot.Parent parent, byte[] tempName, int fd) {
            this.parent = parent;
            this.tempName = tempName;
            this.fd = fd;
        }

        void write(long offset, byte[] data) throws ErrnoException {
            HostCalls.pwriteFully(fd, data, offset);
        }

        Attr commit(boolean sync) throws ErrnoException {
            try {
                if (sync) HostCalls.fsync(fd);
                HostCalls.rename(parent.dirFd(), tempName, parent.dirFd(), parent.name(), 0);
                done = true;
                if (sync) syncDirectory(parent.dirFd());
                return HostCalls.fstat(fd);
            } finally {
                abort();
            }
        }

        /** Removes the temporary file (if not renamed yet) and releases everything. Idempotent. */
        synchronized void abort() {
            if (closed) return;
            closed = true;
            HostCalls.closeQuietly(fd);
            if (!done) {
                try {
                    HostCalls.unlink(parent.dirFd(), tempName, 0);
                } catch (ErrnoException e) {
                    // already gone
                }
            }
            parent.close();
        }
    }

    PutFile beginPut(int export, byte[] rel, int mode) throws ErrnoException {
        return beginPut(export, rel, mode, false);
    }

    /**
     * Starts replacing {@code rel}: a temp file renamed over it at commit. It keeps an existing file's
     * owner and mode, unless {@code chmod}: the program chmod'ed it after writing, and an upload that
     * raced that chmod must not put the old mode back.
     */
    PutFile beginPut(int export, byte[] rel, int mode, boolean chmod) throws ErrnoException {
        ExportRoot.Parent parent = writable(export).parent(rel, Errno.EISDIR);
        try {
            Attr existing = null;
            try {
                existing = HostCalls.stat(parent.dirFd(), parent.name(), HostCalls.AT_SYMLINK_NOFOLLOW);
            } catch (ErrnoException e) {
                if (e.errno() != Errno.ENOENT) throw e;
            }
            if (existing != null && (existing.getMode() & HostCalls.S_IFMT) == HostCalls.S_IFDIR) {
                throw new ErrnoException(Errno.EISDIR, "put");
            }
            byte[] temp = tempName(parent.name());
            int fd = HostCalls.openat(parent.dirFd(), temp,
                    HostCalls.O_WRONLY | HostCalls.O_CREAT | HostCalls.O_EXCL | HostCalls.O_NOFOLLOW, 0600);
            PutFile put = new PutFile(parent, temp, fd);
            try {
                if (existing != null && (existing.getMode() & HostCalls.S_IFMT) == HostCalls.S_IFREG) {
                    try {
                        HostCalls.chown(fd, NONE, existing.getUid(), existing.getGid(), HostCalls.AT_EMPTY_PATH);
                    } catch (ErrnoException e) {
                        // not ours to give away: the new file stays ours, as with any editor's save
                    }
                    HostCalls.fchmod(fd, chmod ? mode & 07777 : existing.getMode() & 07777);
                } else {
                    HostCalls.fchmod(fd, newMode(mode));
                }
            } catch (ErrnoException e) {
                put.abort();
                throw e;
            }
            return put;
        } catch (ErrnoException | RuntimeException e) {
            parent.close();
            throw e;
        }
    }

    /** ".NAME.tether-XXXXXXXX": hidden, next to the target, unique. */
    private static byte[] tempName(byte[] name) {
        byte[] r = new byte[6];
        RANDOM.nextBytes(r);
        String suffix = ".tether-" + HexFormat.of().formatHex(r);
        int keep = Math.min(name.length, 200);
        byte[] out = new byte[1 + keep + suffix.length()];
        out[0] = '.';
        System.arraycopy(name, 0, out, 1, keep);
        System.arraycopy(suffix.getBytes(StandardCharsets.US_ASCII), 0, out, 1 + keep, suffix.length());
        return out;
    }

    Attr create(int export, byte[] rel, int mode, boolean exclusive, boolean truncate) throws ErrnoException {
        ExportRoot root = writable(export);
        int fd;
        try {
            fd = root.open(rel, HostCalls.O_CREAT | HostCalls.O_EXCL | HostCalls.O_RDONLY | HostCalls.O_NONBLOCK | HostCalls.O_NOCTTY,
                    0600, false);
            try {
                HostCalls.fchmod(fd, newMode(mode));
                return HostCalls.fstat(fd);
            } finally {
                HostCalls.closeQuietly(fd);
            }
        } catch (ErrnoException e) {
            if (e.errno() != Errno.EEXIST || exclusive) throw e;
        }
        if (truncate) {
            fd = openRegular(root, rel, HostCalls.O_WRONLY | HostCalls.O_TRUNC);
        } else {
            fd = root.open(rel, HostCalls.O_PATH, 0, true);
        }
        try {
            Attr a = HostCalls.fstat(fd);
            if ((a.getMode() & HostCalls.S_IFMT) == HostCalls.S_IFDIR) throw new ErrnoException(Errno.EISDIR, "create");
            return a;
        } finally {
            HostCalls.closeQuietly(fd);
        }
    }

    Attr truncate(int export, byte[] rel, long size) throws ErrnoException {
        int fd = openRegular(writable(export), rel, HostCalls.O_WRONLY);
        try {
            HostCalls.ftruncate(fd, size);
            return HostCalls.fstat(fd);
        } finally {
            HostCalls.closeQuietly(fd);
        }
    }

    Attr mkdir(int export, byte[] rel, int mode) throws ErrnoException {
        try (ExportRoot.Parent p = writable(export).parent(rel, Errno.EEXIST)) {
            HostCalls.mkdir(p.dirFd(), p.name(), newMode(mode));
            return fixMode(p, newMode(mode));
        }
    }

    Attr mknod(int export, byte[] rel, int mode, long rdev) throws ErrnoException {
        try (ExportRoot.Parent p = writable(export).parent(rel, Errno.EEXIST)) {
            HostCalls.mknod(p.dirFd(), p.name(), (mode & HostCalls.S_IFMT) | newMode(mode), rdev);
            return fixMode(p, newMode(mode));
        }
    }

    /** Sets exactly {@code mode}'s permission bits on what was just made under {@code p} (undoing our umask). */
    private static Attr fixMode(ExportRoot.Parent p, int mode) throws ErrnoException {
        int fd = HostCalls.openat(p.dirFd(), p.name(), HostCalls.O_PATH | HostCalls.O_NOFOLLOW, 0);
        try {
            Attr a = HostCalls.fstat(fd);
            if ((a.getMode() & 07777) != (mode & 07777) && (a.getMode() & HostCalls.S_IFMT) != HostCalls.S_IFLNK) {
                HostCalls.chmodPath(fd, mode & 07777);
                a = HostCalls.fstat(fd);
            }
            return a;
        } finally {
            HostCalls.closeQuietly(fd);
        }
    }

    void unlink(int export, byte[] rel) throws ErrnoException {
        try (ExportRoot.Parent p = writable(export).parent(rel, Errno.EISDIR)) {
            HostCalls.unlink(p.dirFd(), p.name(), 0);
        }
    }

    void rmdir(int export, byte[] rel) throws ErrnoException {
        try (ExportRoot.Parent p = writable(export).parent(rel, Errno.EBUSY)) {
            HostCalls.unlink(p.dirFd(), p.name(), HostCalls.AT_REMOVEDIR);
        }
    }

    void rename(int export, byte[] rel, int toExport, byte[] toRel, int flags) throws ErrnoException {
        ExportRoot from = writable(export), to = writable(toExport);
        if (from != to) throw new ErrnoException(Errno.EXDEV, "rename", "across exports");
        try (ExportRoot.Parent a = from.parent(rel, Errno.EBUSY); ExportRoot.Parent b = to.parent(toRel, Errno.EBUSY)) {
            HostCalls.rename(a.dirFd(), a.name(), b.dirFd(), b.name(), flags);
        }
    }

    void link(int export, byte[] rel, int toExport, byte[] toRel) throws ErrnoException {
        ExportRoot from = writable(export), to = writable(toExport);
        if (from != to) throw new ErrnoException(Errno.EXDEV, "link", "across exports");
        try (ExportRoot.Parent a = from.parent(rel, Errno.EPERM); ExportRoot.Parent b = to.parent(toRel, Errno.EEXIST)) {
            HostCalls.link(a.dirFd(), a.name(), b.dirFd(), b.name());
        }
    }

    void symlink(int export, byte[] rel, byte[] target) throws ErrnoException {
        try (ExportRoot.Parent p = writable(export).parent(rel, Errno.EEXIST)) {
            HostCalls.symlink(target, p.dirFd(), p.name());
        }
    }

    Attr chmod(int export, byte[] rel, int mode) throws ErrnoException {
        int fd = writable(export).open(rel, HostCalls.O_PATH, 0, true);
        try {
            HostCalls.chmodPath(fd, mode & 07777);
            return HostCalls.fstat(fd);
        } finally {
            HostCalls.closeQuietly(fd);
        }
    }

    /** -1 leaves an id as it is; the host decides what this user may give away. */
    void chown(int export, byte[] rel, long uid, long gid, boolean follow) throws ErrnoException {
        int fd = writable(export).open(rel, HostCalls.O_PATH, 0, follow);
        try {
            HostCalls.chown(fd, NONE, (int) uid, (int) gid, HostCalls.AT_EMPTY_PATH | HostCalls.AT_SYMLINK_NOFOLLOW);
        } finally {
            HostCalls.closeQuietly(fd);
        }
    }

    void utimes(int export, byte[] rel, long atimeS, long atimeNs, long mtimeS, long mtimeNs, boolean follow) throws ErrnoException {
        ExportRoot root = writable(export);
        if (!follow && !isRoot(rel)) {
            try (ExportRoot.Parent p = root.parent(rel, Errno.EBUSY)) {
                HostCalls.utimens(p.dirFd(), p.name(), atimeS, atimeNs, mtimeS, mtimeNs, HostCalls.AT_SYMLINK_NOFOLLOW);
            }
            return;
        }
        int fd = root.open(rel, HostCalls.O_PATH, 0, true);
        try {
            HostCalls.utimens(HostCalls.AT_FDCWD, HostCalls.procPath(fd), atimeS, atimeNs, mtimeS, mtimeNs, 0);
        } finally {
            HostCalls.closeQuietly(fd);
        }
    }

    void fsync(int export, byte[] rel) throws ErrnoException {
        int path = export(export).open(rel, HostCalls.O_PATH, 0, true);
        try {
            int type = HostCalls.fstat(path).getMode() & HostCalls.S_IFMT;
            if (type != HostCalls.S_IFREG && type != HostCalls.S_IFDIR) throw new ErrnoException(Errno.EINVAL, "fsync");
            int fd = HostCalls.openat(HostCalls.AT_FDCWD, HostCalls.procPath(path), HostCalls.O_RDONLY | HostCalls.O_NONBLOCK, 0);
            try {
                HostCalls.fsync(fd);
            } finally {
                HostCalls.closeQuietly(fd);
            }
        } finally {
            HostCalls.closeQuietly(path);
        }
    }

    private static void syncDirectory(int dirFd) throws ErrnoException {
        int fd = HostCalls.openat(HostCalls.AT_FDCWD, HostCalls.procPath(dirFd), HostCalls.O_RDONLY | HostCalls.O_DIRECTORY, 0);
        try {
            HostCalls.fsync(fd);
        } finally {
            HostCalls.closeQuietly(fd);
        }
    }

    // ---- xattrs ----

    /** Runs {@code op} on a path that reaches {@code rel} exactly: "/proc/self/fd/N" (followed) or "/proc/self/fd/DIR/name" (not). */
    private <T> T onXattrPath(ExportRoot root, byte[] rel, boolean follow, XattrOp<T> op) throws ErrnoException {
        if (!follow && !isRoot(rel)) {
            try (ExportRoot.Parent p = root.parent(rel, Errno.EBUSY)) {
                byte[] dir = HostCalls.procPath(p.dirFd());
                byte[] path = new byte[dir.length + 1 + p.name().length];
                System.arraycopy(dir, 0, path, 0, dir.length);
                path[dir.length] = '/';
                System.arraycopy(p.name(), 0, path, dir.length + 1, p.name().length);
                return op.apply(path, false);
            }
        }
        int fd = root.open(rel, HostCalls.O_PATH, 0, true);
        try {
            return op.apply(HostCalls.procPath(fd), true);
        } finally {
            HostCalls.closeQuietly(fd);
        }
    }

    private interface XattrOp<T> {
        T apply(byte[] path, boolean follow) throws ErrnoException;
    }

    byte[] getxattr(int export, byte[] rel, byte[] name, boolean follow) throws ErrnoException {
        return onXattrPath(export(export), rel, follow, (p, f) -> HostCalls.getxattr(p, name, f));
    }

    void setxattr(int export, byte[] rel, byte[] name, byte[] value, int flags, boolean follow) throws ErrnoException {
        onXattrPath(writable(export), rel, follow, (p, f) -> {
            HostCalls.setxattr(p, name, value, flags, f);
            return null;
        });
    }

    List<byte[]> listxattr(int export, byte[] rel, boolean follow) throws ErrnoException {
        return onXattrPath(export(export), rel, follow, HostCalls::listxattr);
    }

    void removexattr(int export, byte[] rel, byte[] name, boolean follow) throws ErrnoException {
        onXattrPath(writable(export), rel, follow, (p, f) -> {
            HostCalls.removexattr(p, name, f);
            return null;
        });
    }

    @Override
    public void close() {
        for (ExportRoot e : exports) e.close();
    }

    // ---- helpers ----

    private static boolean isRoot(byte[] rel) {
        for (byte b : rel) {
            if (b != '/') return false;
        }
        return true;
    }

    private static byte[] cString(Memory buf, long offset, int max) {
        byte[] b = buf.getByteArray(offset, max);
        int n = 0;
        while (n < b.length && b[n] != 0) n++;
        return java.util.Arrays.copyOf(b, n);
    }

    /** Where directory {@code rel} is on the host now, reached confined like any request, or null (for watches only). */
    Path directoryPath(int export, byte[] rel) {
        try {
            int fd = export(export).open(rel, HostCalls.O_PATH | HostCalls.O_DIRECTORY, 0, false);
            try {
                return hostPathOf(fd);
            } finally {
                HostCalls.closeQuietly(fd);
            }
        } catch (ErrnoException e) {
            return null;
        }
    }

    /** Where the directory open on {@code fd} is on the host now, or null (for watches only, never for access). */
    private static Path hostPathOf(int fd) {
        try {
            return Path.of("/proc/self/fd/" + fd).toRealPath();
        } catch (Exception e) {
            return null;
        }
    }
}
