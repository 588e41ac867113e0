package io.tether.client.files;

import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;

import java.io.Closeable;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;

/**
 * One served host tree and the only place where its export-relative paths ({@code rel}) are
 * resolved: the confinement boundary of the file server. Every lookup starts at a descriptor held
 * on the export's root and never leaves it: openat2 with RESOLVE_IN_ROOT (".." stops at the root,
 * absolute symlinks start over at the root) and RESOLVE_NO_MAGICLINKS (no /proc/PID/root or fd
 * links), or where openat2 is missing (Linux before 5.6) a walk that opens one component at a time
 * with O_NOFOLLOW relative to the descriptor of the previous one and interprets each symlink itself,
 * the same way. Operations then act on the descriptor found, or on the final name relative to the
 * parent's descriptor, so a symlink swapped in during a request can only send it elsewhere inside
 * the root.
 *
 * <p>Not covered, by design: a hard link that already exists in the tree and names a file outside
 * it is that file, and serving it is the user's choice (they made or copied the link into their
 * rootfs). Hard links made through the server are confined: both ends resolve inside exports.
 *
 * <p>A file export (a bind of one host file) is held as its parent directory and name: only ""
 * resolves in it, and replacing it (a Put) renames over that name.
 */
final class ExportRoot implements Closeable {
    private static final int MAX_LINKS = 40;
    private static final byte[] DOT = {'.'};
    /** Whether the kernel has openat2; tests force the walk with {@link #useWalk}. */
    private static volatile boolean openat2Missing;
    private static volatile boolean openat2Probed;

    final int id;
    final Path hostPath;
    final boolean readOnly;
    /** O_PATH descriptor of the root directory (a directory export) or of the file's parent (a file export). */
    private final int rootFd;
    /** The file's name in its parent for a file export; null for a directory. */
    private final byte[] fileName;
    private final boolean walk;

    private ExportRoot(int id, Path hostPath, boolean readOnly, int rootFd, byte[] fileName, boolean walk) {
        this.id = id;
        this.hostPath = hostPath;
        this.readOnly = readOnly;
        this.rootFd = rootFd;
        this.fileName = fileName;
        this.walk = walk;
    }

    /** Opens {@code hostPath} (absolute, symlinks resolved by the caller) as export {@code id}. */
    static ExportRoot open(int id, Path hostPath, boolean readOnly) throws ErrnoException {
        return open(id, hostPath, readOnly, false);
    }

    /** As {@link #open(int, Path, boolean)}; {@code useWalk}: resolve by the O_NOFOLLOW walk even where openat2 exists. */
    static ExportRoot open(int id, Path hostPath, boolean readOnly, boolean useWalk) throws ErrnoException {
        byte[] abs = bytes(hostPath.toString());
        int fd = HostCalls.openat(HostCalls.AT_FDCWD, abs, HostCalls.O_PATH, 0);
        boolean kept = false;
        try {
            if ((HostCalls.fstat(fd).getMode() & HostCalls.S_IFMT) == HostCalls.S_IFDIR) {
                if (!useWalk) probeOpenat2(fd);
                kept = true;
                return new ExportRoot(id, hostPath, readOnly, fd, null, useWalk);
            }
            Path parent = hostPath.getParent();
            if (parent == null || hostPath.getFileName() == null) throw new ErrnoException(Errno.EINVAL, "export", hostPath.toString());
            int parentFd = HostCalls.openat(HostCalls.AT_FDCWD, bytes(parent.toString()), HostCalls.O_PATH | HostCalls.O_DIRECTORY, 0);
            return new ExportRoot(id, hostPath, readOnly, parentFd, bytes(hostPath.getFileName().toString()), useWalk);
        } finally {
            if (!kept) HostCalls.closeQuietly(fd);
        }
    }

    /**
     * Whether openat2 works here, tried once: missing before Linux 5.6 (ENOSYS), and some container
     * seccomp profiles refuse syscalls they do not know with EPERM.
     */
    private static void probeOpenat2(int dirFd) {
        if (openat2Probed) return;
        try {
            HostCalls.closeQuietly(HostCalls.openat2(dirFd, DOT, HostCalls.O_PATH | HostCalls.O_CLOEXEC, 0,
                    HostCalls.RESOLVE_IN_ROOT | HostCalls.RESOLVE_NO_MAGICLINKS));
        } catch (ErrnoException e) {
            if (e.errno() == Errno.ENOSYS || e.errno() == Errno.EPERM) {
                openat2Missing = true;
                org.slf4j.LoggerFactory.getLogger(ExportRoot.class).debug("no openat2 ({}): resolving by an O_NOFOLLOW walk", e.getMessage());
            }
        }
        openat2Probed = true;
    }

    boolean isFile() {
        return fileName != null;
    }

    /**
     * A new descriptor for {@code rel} opened with {@code flags} (O_PATH for a handle); O_CREAT
     * creates it inside the root. {@code followLast}: whether a final symlink is followed (inside the
     * root) or opened as itself (then O_PATH is required to get it at all).
     */
    int open(byte[] rel, int flags, int mode, boolean followLast) throws ErrnoException {
        rel = trim(rel);
        if (fileName != null) {
            if (rel.length != 0) throw new ErrnoException(Errno.ENOTDIR, "lookup", "in a file export");
            return HostCalls.openat(rootFd, fileName, flags | HostCalls.O_NOFOLLOW, mode);
        }
        int f = flags | HostCalls.O_CLOEXEC | (followLast ? 0 : HostCalls.O_NOFOLLOW);
        if (!walk && !openat2Missing) {
            try {
                return HostCalls.openat2(rootFd, rel.length == 0 ? DOT : rel, f, mode,
                        HostCalls.RESOLVE_IN_ROOT | HostCalls.RESOLVE_NO_MAGICLINKS);
            } catch (ErrnoException e) {
                if (e.errno() != Errno.ENOSYS) throw e;
                openat2Missing = true;
            }
        }
        return walkOpen(rel, flags, mode, followLast);
    }

    /** The parent directory of {@code rel} and its final name, for the *at calls; "" (the root) is {@code rootErrno}. */
    Parent parent(byte[] rel, int rootErrno) throws ErrnoException {
        rel = trim(rel);
        if (fileName != null) {
            if (rel.length != 0) throw new ErrnoException(Errno.ENOTDIR, "lookup", "in a file export");
            return new Parent(rootFd, fileName, false);
        }
        if (rel.length == 0) throw new ErrnoException(rootErrno, "lookup", "the export's root");
        int slash = lastSlash(rel);
        byte[] name = Arrays.copyOfRange(rel, slash + 1, rel.length);
        if (isDots(name)) throw new ErrnoException(Errno.EINVAL, "lookup", "a final . or ..");
        byte[] dir = slash < 0 ? new byte[0] : Arrays.copyOf(rel, slash);
        int fd = open(dir, HostCalls.O_PATH | HostCalls.O_DIRECTORY, 0, true);
        return new Parent(fd, name, true);
    }

    @Override
    public void close() {
        HostCalls.closeQuietly(rootFd);
    }

    /** A directory descriptor and a final name under it; closes the descriptor if it owns it. */
    record Parent(int dirFd, byte[] name, boolean owned) implements AutoCloseable {
        @Override
        public void close() {
            if (owned) HostCalls.closeQuietly(dirFd);
        }
    }

    // ---- the walk: RESOLVE_IN_ROOT by hand ----

    private int walkOpen(byte[] rel, int flags, int mode, boolean followLast) throws ErrnoException {
        if ((flags & HostCalls.O_CREAT) != 0) {
            // Create the final name relative to its resolved parent, never through a symlink.
            try (Parent p = parent(rel, Errno.EEXIST)) {
                return HostCalls.openat(p.dirFd(), p.name(), flags | HostCalls.O_NOFOLLOW, mode);
            }
        }
        int fd = walkPath(rel, followLast);
        if ((flags & HostCalls.O_PATH) != 0) {
            if ((flags & HostCalls.O_DIRECTORY) != 0 && (HostCalls.fstat(fd).getMode() & HostCalls.S_IFMT) != HostCalls.S_IFDIR) {
                HostCalls.closeQuietly(fd);
                throw new ErrnoException(Errno.ENOTDIR, "lookup");
            }
            return fd;
        }
        try {
            // Reopen exactly the inode found: the magic link does not walk any name again.
            return HostCalls.openat(HostCalls.AT_FDCWD, HostCalls.procPath(fd), flags, mode);
        } finally {
            HostCalls.closeQuietly(fd);
        }
    }

    /** An O_PATH descriptor of {@code rel}, resolved component by component inside the root. */
    private int walkPath(byte[] rel, boolean followLast) throws ErrnoException {
        Deque<byte[]> todo = new ArrayDeque<>(split(rel));
        List<Integer> stack = new ArrayList<>();
        int links = 0;
        try {
            stack.add(HostCalls.openat(rootFd, DOT, HostCalls.O_PATH | HostCalls.O_DIRECTORY, 0));
            while (!todo.isEmpty()) {
                byte[] name = todo.removeFirst();
                if (name.length == 1 && name[0] == '.') continue;
                if (name.length == 2 && name[0] == '.' && name[1] == '.') {
                    if (stack.size() > 1) HostCalls.closeQuietly(stack.remove(stack.size() - 1));
                    continue;
                }
                int top = stack.get(stack.size() - 1);
                int next = HostCalls.openat(top, name, HostCalls.O_PATH | HostCalls.O_NOFOLLOW, 0);
                int type = HostCalls.fstat(next).getMode() & HostCalls.S_IFMT;
                boolean last = todo.isEmpty();
                if (type == HostCalls.S_IFLNK && (!last || followLast)) {
                    byte[] target;
                    try {
                        if (++links > MAX_LINKS) throw new ErrnoException(Errno.ELOOP, "lookup");
                        target = HostCalls.readlink(next, new byte[0]);
                    } finally {
                        HostCalls.closeQuietly(next);
                    }
                    if (target.length > 0 && target[0] == '/') {
                        while (stack.size() > 1) HostCalls.closeQuietly(stack.remove(stack.size() - 1));
                    }
                    List<byte[]> parts = split(target);
                    for (int i = parts.size() - 1; i >= 0; i--) todo.addFirst(parts.get(i));
                    continue;
                }
                if (!last && type != HostCalls.S_IFDIR) {
                    HostCalls.closeQuietly(next);
                    throw new ErrnoException(Errno.ENOTDIR, "lookup");
                }
                stack.add(next);
            }
            return stack.remove(stack.size() - 1);
        } finally {
            for (int fd : stack) HostCalls.closeQuietly(fd);
        }
    }

    private static List<byte[]> split(byte[] path) {
        List<byte[]> parts = new ArrayList<>();
        int start = 0;
        for (int i = 0; i <= path.length; i++) {
            if (i == path.length || path[i] == '/') {
                if (i > start) parts.add(Arrays.copyOfRange(path, start, i));
                start = i + 1;
            }
        }
        return parts;
    }

    /** {@code rel} without trailing slashes (a leading one means the root either way). */
    private static byte[] trim(byte[] rel) {
        int n = rel.length;
        while (n > 0 && rel[n - 1] == '/') n--;
        int start = 0;
        while (start < n && rel[start] == '/') start++;
        return start == 0 && n == rel.length ? rel : Arrays.copyOfRange(rel, start, n);
    }

    private static int lastSlash(byte[] rel) {
        for (int i = rel.length - 1; i >= 0; i--) {
            if (rel[i] == '/') return i;
        }
        return -1;
    }

    private static boolean isDots(byte[] name) {
        return name.length == 0 || (name[0] == '.' && (name.length == 1 || (name.length == 2 && name[1] == '.')));
    }

    static byte[] bytes(String s) {
        return s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }
}
