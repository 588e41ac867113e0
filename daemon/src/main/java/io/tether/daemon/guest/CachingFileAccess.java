package io.tether.daemon.guest;

import io.tether.posix.ErrnoException;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Remembers directories and symlinks (and symlink targets) seen during resolution, so the
 * intermediate components of a path cost no lookup the second time: /usr/lib/x86_64-linux-gnu/...
 * is one statx instead of four. Regular files and missing names are never cached, so creations need
 * no invalidation; the tracer invalidates what a tracee removes, renames or replaces
 * ({@link #invalidate}). Changes made behind the tracees' back (by the host, other processes) are
 * not seen while cached: the cache lives as long as one traced session, and is bounded.
 */
public final class CachingFileAccess implements GuestFileAccess {
    private static final int MAX_ENTRIES = 1 << 16;

    private final GuestFileAccess inner;
    private final ConcurrentHashMap<String, FileKind> kinds = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, String> targets = new ConcurrentHashMap<>();

    public CachingFileAccess(GuestFileAccess inner) {
        this.inner = inner;
    }

    @Override
    public FileKind kind(String hostPath) throws ErrnoException {
        FileKind k = kinds.get(hostPath);
        if (k != null) return k;
        k = inner.kind(hostPath);
        if (k == FileKind.DIRECTORY || k == FileKind.SYMLINK) {
            if (kinds.size() >= MAX_ENTRIES) kinds.clear();
            kinds.put(hostPath, k);
        }
        return k;
    }

    @Override
    public String readlink(String hostPath) throws ErrnoException {
        String t = targets.get(hostPath);
        if (t != null) return t;
        t = inner.readlink(hostPath);
        // /proc links change under our feet (fds, cwd, pids): never cache them.
        if (!hostPath.startsWith("/proc/")) {
            if (targets.size() >= MAX_ENTRIES) targets.clear();
            targets.put(hostPath, t);
        }
        return t;
    }

    @Override
    public byte[] read(String hostPath, long offset, int length) throws ErrnoException {
        return inner.read(hostPath, offset, length);
    }

    @Override
    public void createDirectories(String hostPath) throws ErrnoException {
        inner.createDirectories(hostPath);
    }

    @Override
    public void invalidate(String hostPath) {
        kinds.keySet().removeIf(p -> GuestPaths.isUnder(p, hostPath));
        targets.keySet().removeIf(p -> GuestPaths.isUnder(p, hostPath));
        inner.invalidate(hostPath);
    }

    // The hooks belong to the wrapped access: a cache in front must never swallow them.
    @Override
    public boolean wantsHooks() {
        return inner.wantsHooks();
    }

    @Override
    public boolean kernelMayLookUpIn(String hostDir) {
        return inner.kernelMayLookUpIn(hostDir);
    }

    @Override
    public void listAhead(java.util.List<String> hostDirs) {
        inner.listAhead(hostDirs);
    }

    @Override
    public void beforeOpen(String hostPath, int flags, int mode) throws ErrnoException {
        inner.beforeOpen(hostPath, flags, mode);
    }

    @Override
    public void beforeExec(String hostPath) throws ErrnoException {
        inner.beforeExec(hostPath);
    }

    @Override
    public void beforeChange(Change change) throws ErrnoException {
        inner.beforeChange(change);
    }

    @Override
    public void flush() throws ErrnoException {
        inner.flush();
    }

    /** Entries cached now (tests and statistics). */
    public int size() {
        return kinds.size() + targets.size();
    }
}
