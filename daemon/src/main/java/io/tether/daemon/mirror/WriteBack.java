package io.tether.daemon.mirror;

import io.tether.daemon.files.HostAttr;
import io.tether.daemon.files.HostFiles;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes files a session's tracees opened for writing back to the host, without a stop on close(2):
 * the mirror directories holding them are watched with inotify, IN_MODIFY marks a file changed and
 * IN_CLOSE_WRITE uploads it (a snapshot copy, put atomically on the host). A file also counts as
 * changed when its local (size, mtime, ctime, inode) moved from what was last uploaded, which catches
 * writes through shared maps. {@link #flush} uploads whatever is still changed and waits for uploads
 * in flight; a failed upload is logged with the path and errno and makes the next flush fail with it.
 * Tracked files are pinned in the cache (never evicted or replaced) until the session closes.
 */
final class WriteBack implements Closeable {
    private static final Logger LOG = LoggerFactory.getLogger(WriteBack.class);
    private static final int EVENTS = MirrorFs.IN_MODIFY | MirrorFs.IN_CLOSE_WRITE | MirrorFs.IN_ONLYDIR;

    /** One file being written: where it is now, what was last uploaded, and its upload chain. */
    static final class Dirty {
        final Mount mount;
        volatile String rel;
        volatile MirrorFs.LocalStat baseline;
        volatile boolean modified;
        /** About to be removed on the host: an upload not yet made is pointless. */
        volatile boolean cancelled;
        /** The next upload is made durable on the host (fsync of the file the program wrote). */
        volatile boolean sync;
        /**
         * Times the program set explicitly (utimensat: cp -p, tar, touch -d), nanoseconds; atime may be
         * OMIT. An upload while the file still has that mtime puts them back on the host, and the mirror
         * keeps them.
         */
        volatile long[] explicitTimes;
        /**
         * The mirror file as it was when {@link #explicitTimes} were set, before the kernel's own utimensat: an
         * upload that still finds it so is not "written since", the times are just not applied here yet.
         */
        volatile MirrorFs.LocalStat timesSetOn;
        /**
         * The mode the program set with chmod, or -1: an upload carries it rather than the mirror file's,
         * which the kernel changes only after the host did (an upload in between would undo the chmod).
         */
        volatile int explicitMode = -1;
        /** The last upload's failure, cleared by a successful one. */
        volatile ErrnoException failure;
        CompletableFuture<Void> tail = CompletableFuture.completedFuture(null);

        Dirty(Mount mount, String rel, MirrorFs.LocalStat baseline) {
            this.mount = mount;
            this.rel = rel;
            this.baseline = baseline;
        }
    }

    private record Watch(Mount mount, String relDir) {}

    private final MirrorCache cache;
    private final MirrorStats.Counters counters;
    private final HostFiles files;
    private final OwnChanges own;
    private final Map<String, Dirty> dirty = new ConcurrentHashMap<>();
    private final Map<Integer, Watch> watches = new ConcurrentHashMap<>();
    private final Map<String, Integer> watchOf = new ConcurrentHashMap<>();
    /** Write-backs that failed since the last flush. */
    private final List<ErrnoException> failures = new ArrayList<>();
    private final int inotify;
    private final String wakeFile;
    private final Thread reader;
    private volatile boolean closed;
    private boolean watchWarned;

    WriteBack(MirrorCache cache, HostFiles files, MirrorStats.Counters counters, OwnChanges own) throws ErrnoException {
        this.own = own;
        this.cache = cache;
        this.counters = counters;
        this.files = files;
        this.inotify = MirrorFs.inotifyInit();
        this.wakeFile = cache.tempPath("wake");
        try {
            MirrorFs.close(MirrorFs.open(wakeFile, MirrorFs.O_WRONLY | MirrorFs.O_CREAT, 0600));
            MirrorFs.inotifyAddWatch(inotify, wakeFile, MirrorFs.IN_CLOSE_WRITE);
        } catch (ErrnoException e) {
            MirrorFs.close(inotify);
            throw e;
        }
        this.reader = new Thread(this::readEvents, "mirror-inotify");
        reader.setDaemon(true);
        reader.start();
    }

    /**
     * A tracee is about to open {@code rel} for writing (or create it): watch its directory and pin it.
     * Called before the kernel opens it, so no event is missed.
     */
    void track(Mount m, String rel) throws ErrnoException {
        String k = m.key(rel);
        if (dirty.containsKey(k)) return;
        watch(m, Tree.parentOf(rel));
        Dirty d = new Dirty(m, rel, MirrorFs.lstatOrNull(m.pathOf(rel)));
        if (dirty.putIfAbsent(k, d) == null) pin(m, rel, +1);
    }

    private void pin(Mount m, String rel, int delta) {
        Entry e = m.tree().entries.get(rel);
        if (e == null) return;
        synchronized (e) {
            e.writers = Math.max(0, e.writers + delta);
        }
    }

    /** Watches a mirror directory; without a watch (limits reached) its files go back at flush only. */
    private void watch(Mount m, String relDir) {
        String k = m.key(relDir);
        if (watchOf.containsKey(k)) return;
        synchronized (watchOf) {
            if (watchOf.containsKey(k)) return;
            try {
                int wd = MirrorFs.inotifyAddWatch(inotify, m.pathOf(relDir), EVENTS);
                watches.put(wd, new Watch(m, relDir));
                watchOf.put(k, wd);
            } catch (ErrnoException e) {
                if (!watchWarned) LOG.warn("mirror write-back: cannot watch {} ({}): written back at flush only", m.pathOf(relDir),
                        Errno.describe(e.errno()));
                watchWarned = true;
            }
        }
    }

    private void readEvents() {
        byte[] buf = new byte[64 * 1024];
        while (!closed) {
            long n;
            try {
                n = MirrorFs.read(inotify, buf);
            } catch (ErrnoException e) {
                if (!closed) LOG.warn("mirror write-back: inotify read failed: {}", e.getMessage());
                return;
            }
            ByteBuffer b = ByteBuffer.wrap(buf, 0, (int) n).order(ByteOrder.nativeOrder());
            int p = 0;
            while (p + 16 <= n) {
                int wd = b.getInt(p), mask = b.getInt(p + 4), len = b.getInt(p + 12);
                int end = p + 16;
                while (end < p + 16 + len && buf[end] != 0) end++;
                String name = new String(buf, p + 16, end - p - 16, java.nio.charset.StandardCharsets.ISO_8859_1);
                p += 16 + len;
                if ((mask & MirrorFs.IN_Q_OVERFLOW) != 0) {
                    eventsLost();
                    continue;
                }
                Watch w = watches.get(wd);
                if (w == null || name.isEmpty()) continue;
                Dirty d = dirty.get(w.mount.key(Tree.child(w.relDir, name)));
                if (d == null) continue;
                if ((mask & MirrorFs.IN_MODIFY) != 0) d.modified = true;
                if ((mask & MirrorFs.IN_CLOSE_WRITE) != 0) schedule(d);
            }
        }
    }

    /** The inotify queue overflowed: every tracked file is taken as written and closed (uploads queued now). */
    void eventsLost() {
        for (Dirty d : dirty.values()) {
            d.modified = true;
            schedule(d);
        }
    }

    /** Queues an upload of {@code d} behind any in flight (one at a time per file). */
    private CompletableFuture<Void> schedule(Dirty d) {
        synchronized (d) {
            d.tail = d.tail.handle((ok, err) -> null).thenRunAsync(() -> {
                try {
                    upload(d);
                } catch (ErrnoException e) {
                    // recorded in d.failure by upload
                }
            }, cache.ioOrInline());
            return d.tail;
        }
    }

    /** Uploads {@code d} if it changed since the last upload; a push about it meanwhile waits for its entry's new attributes. */
    private void upload(Dirty d) throws ErrnoException {
        own.begin(d.mount.id(), d.rel);
        try {
            upload0(d);
        } finally {
            own.end(d.mount.id(), d.rel);
        }
    }

    private void upload0(Dirty d) throws ErrnoException {
        String rel = d.rel;
        Mount m = d.mount;
        String path = m.pathOf(rel);
        MirrorFs.LocalStat st = MirrorFs.lstatOrNull(path);
        if (d.cancelled || st == null || !st.isRegular()) return; // removed or replaced: those reach the host as changes
        boolean sync = d.sync;
        d.sync = false;
        if (!d.modified && st.sameVersion(d.baseline)) {
            if (sync) files.fsync(m.id(), rel); // what went up earlier, made durable
            return;
        }
        d.modified = false;
        String tmp = cache.tempPath("up");
        try {
            MirrorFs.LocalStat snap;
            int fd = MirrorFs.open(path, MirrorFs.O_RDONLY, 0);
            try {
                Files.copy(Path.of("/proc/self/fd/" + fd), Path.of(tmp), StandardCopyOption.REPLACE_EXISTING);
                snap = MirrorFs.fstat(fd);
            } catch (IOException e) {
                throw new ErrnoException(Errno.EIO, "copy for write-back", path + ": " + e.getMessage());
            } finally {
                MirrorFs.close(fd);
            }
            if (!snap.sameVersion(st)) d.modified = true; // written during the copy: again at the next close/flush
            counters.uploads.increment();
            int mode = d.explicitMode;
            HostAttr a = files.put(m.id(), rel, Path.of(tmp), mode >= 0 ? mode : snap.mode() & 07777, mode >= 0, sync);
            counters.uploadedBytes.add(a.size());
            long[] times = d.explicitTimes;
            // Keep the program's times if the copy has them, or if the file is untouched since they were set
            // (the host has them; the kernel's utimensat here comes next); otherwise it was written since.
            boolean keep = times != null && (times[1] == snap.mtimeNs() || snap.sameVersion(d.timesSetOn));
            if (keep) {
                // The program's own times (set before this upload), not the upload's, on the host too.
                files.utimes(m.id(), rel, times[0] < 0 ? 0 : times[0] / 1_000_000_000L,
                        times[0] < 0 ? MirrorFs.UTIME_OMIT : times[0] % 1_000_000_000L,
                        times[1] / 1_000_000_000L, times[1] % 1_000_000_000L, false);
                HostAttr after = files.getattr(m.id(), rel, false);
                if (after.size() == a.size() && after.ino() == a.ino() && after.mtimeNs() == times[1]) a = after;
            } else {
                d.explicitTimes = null; // written since: the times are the write's
            }
            MirrorFs.LocalStat now = MirrorFs.lstatOrNull(path);
            if (now != null && now.sameVersion(snap)) {
                // Host times in the mirror: one clock for every file the guest compares (make).
                if (!keep) MirrorFs.lutimes(path, a.atimeNs(), a.mtimeNs());
                now = MirrorFs.lstat(path);
                d.baseline = now;
            } else {
                d.baseline = snap;
            }
            Entry e = m.tree().entries.get(rel);
            if (e != null) {
                synchronized (e) {
                    e.attr = a;
                    if (now != null && now.sameVersion(d.baseline)) {
                        if (!e.contents) cache.resized(a.size());
                        else cache.resized(a.size() - e.bytes);
                        e.contents = true;
                        e.bytes = a.size();
                        e.localIno = now.ino();
                        e.localCtimeNs = now.ctimeNs();
                    }
                }
                cache.indexChanged(m.tree());
            }
            d.failure = null;
            LOG.debug("mirror write-back: {} ({} bytes)", path, a.size());
        } catch (ErrnoException e) {
            d.modified = true;
            d.failure = e;
            LOG.warn("mirror write-back of {} failed: {}", path, Errno.describe(e.errno()));
            synchronized (failures) {
                failures.add(e);
            }
            throw e;
        } finally {
            try {
                Files.deleteIfExists(Path.of(tmp));
            } catch (IOException ignored) {
                // tmp/ is cleaned at the next start
            }
        }
    }

    /** Uploads {@code d} now if it changed, after any upload in flight; its failure is thrown. */
    private void settle(Dirty d) throws ErrnoException {
        await(schedule(d));
        ErrnoException f = d.failure;
        if (f != null) throw new ErrnoException(f.errno(), "write-back", f.subject());
    }

    private static void await(CompletableFuture<Void> f) throws ErrnoException {
        try {
            f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ErrnoException(Errno.EINTR, "write-back");
        } catch (ExecutionException e) {
            // failures are recorded by upload
        }
    }

    private List<Dirty> under(Mount m, String relPrefix) {
        List<Dirty> list = new ArrayList<>();
        for (Dirty d : dirty.values()) {
            if (d.mount.id() == m.id() && Tree.isUnder(d.rel, relPrefix)) list.add(d);
        }
        return list;
    }

    /** Whether {@code rel} is being written back by this session. */
    boolean tracks(Mount m, String rel) {
        return dirty.containsKey(m.key(rel));
    }

    /**
     * The program sets explicit times on a tracked file (sent to the host next; returns the times set before, for
     * {@link #timesRestore} if the host refuses them): pending writes
     * went up before (see {@link #settleUnder}); a later upload of the same contents keeps them.
     * UTIME_NOW leaves the times to the next upload.
     */
    long[] timesSet(Mount m, String rel, long atimeS, long atimeNs, long mtimeS, long mtimeNs) throws ErrnoException {
        Dirty d = dirty.get(m.key(rel));
        if (d == null) return null;
        long[] old = d.explicitTimes;
        if (mtimeNs == MirrorFs.UTIME_NOW || atimeNs == MirrorFs.UTIME_NOW) {
            d.explicitTimes = null;
            return old;
        }
        MirrorFs.LocalStat st = MirrorFs.lstatOrNull(m.pathOf(rel));
        long mtime = mtimeNs == MirrorFs.UTIME_OMIT
                ? (old != null ? old[1] : st == null ? 0 : st.mtimeNs()) : mtimeS * 1_000_000_000L + mtimeNs;
        long atime = atimeNs == MirrorFs.UTIME_OMIT ? -1 : atimeS * 1_000_000_000L + atimeNs;
        d.timesSetOn = st;
        d.explicitTimes = new long[] {atime, mtime};
        return old;
    }

    /** The host refused the times {@link #timesSet} recorded: uploads carry {@code before} again. */
    void timesRestore(Mount m, String rel, long[] before) {
        Dirty d = dirty.get(m.key(rel));
        if (d != null) d.explicitTimes = before;
    }

    /**
     * The program chmods a tracked file: uploads that begin from now on carry {@code mode} (-1: the mirror
     * file's own). Returns the mode set before, to restore if the host refuses the chmod.
     */
    int modeSet(Mount m, String rel, int mode) {
        Dirty d = dirty.get(m.key(rel));
        if (d == null) return -1;
        int before = d.explicitMode;
        d.explicitMode = mode;
        return before;
    }

    /** fsync of a tracked file: its contents reach the host now, durably. */
    void sync(Mount m, String rel) throws ErrnoException {
        Dirty d = dirty.get(m.key(rel));
        if (d == null) return;
        d.sync = true;
        settle(d);
    }

    /** Before the host moves or links them: pending writes under {@code relPrefix} reach the host first. */
    void settleUnder(Mount m, String relPrefix) throws ErrnoException {
        for (Dirty d : under(m, relPrefix)) settle(d);
    }

    /** Before the host removes them: stop writing back files under {@code relPrefix}. */
    void forgetUnder(Mount m, String relPrefix) throws ErrnoException {
        for (Dirty d : under(m, relPrefix)) {
            d.cancelled = true;
            CompletableFuture<Void> tail;
            synchronized (d) {
                tail = d.tail;
            }
            await(tail);
            if (dirty.remove(m.key(d.rel), d)) pin(m, d.rel, -1);
        }
    }

    /**
     * The host renamed {@code from} to {@code to} and the kernel is about to: tracked files and watched
     * directories follow (a watch stays on its directory's inode across the rename).
     */
    void moved(Mount m, String from, String to) {
        boolean any = false;
        for (Dirty d : under(m, from)) {
            String old = d.rel;
            String now = to + old.substring(from.length());
            if (dirty.remove(m.key(old), d)) {
                d.rel = now;
                dirty.put(m.key(now), d);
                any = true;
            }
        }
        // A tracked file moved into another directory: that one exists already, the moved ones do not yet.
        if (any && !Tree.parentOf(to).equals(Tree.parentOf(from)) && dirty.containsKey(m.key(to))) watch(m, Tree.parentOf(to));
        synchronized (watchOf) {
            for (Map.Entry<Integer, Watch> w : List.copyOf(watches.entrySet())) {
                Watch old = w.getValue();
                if (old.mount.id() == m.id() && Tree.isUnder(old.relDir, from) && !from.isEmpty()) {
                    String now = to + old.relDir.substring(from.length());
                    watches.put(w.getKey(), new Watch(m, now));
                    watchOf.remove(m.key(old.relDir), w.getKey());
                    watchOf.put(m.key(now), w.getKey());
                }
            }
        }
    }

    /**
     * Every changed file reaches the host (uploads in flight awaited, the rest made now). Throws the
     * errno of the first write-back that failed since the last flush, even if a retry got through
     * since: the program was told its writes had succeeded, so a failure is never hidden.
     */
    void flush() throws ErrnoException {
        List<CompletableFuture<Void>> all = new ArrayList<>();
        for (Dirty d : dirty.values()) all.add(schedule(d));
        for (CompletableFuture<Void> f : all) await(f);
        ErrnoException first;
        synchronized (failures) {
            for (Dirty d : dirty.values()) {
                if (d.failure != null && !failures.contains(d.failure)) failures.add(d.failure);
            }
            first = failures.isEmpty() ? null : failures.get(0);
            failures.clear();
        }
        if (first != null) throw new ErrnoException(first.errno(), "write-back", first.subject());
    }

    /** Waits for the uploads scheduled so far, without starting any (tests). */
    void awaitUploads() throws ErrnoException {
        for (Dirty d : dirty.values()) {
            CompletableFuture<Void> tail;
            synchronized (d) {
                tail = d.tail;
            }
            await(tail);
        }
    }

    /** Files tracked now (tests). */
    int tracked() {
        return dirty.size();
    }

    /**
     * Stops watching and unpins. A file whose last write did not reach the host loses its cached
     * contents (re-fetched from the host when next opened), so no later run sees what the host lacks.
     */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try {
            int fd = MirrorFs.open(wakeFile, MirrorFs.O_WRONLY, 0);
            MirrorFs.close(fd);
        } catch (ErrnoException e) {
            reader.interrupt();
        }
        try {
            reader.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        MirrorFs.close(inotify);
        for (Dirty d : dirty.values()) {
            CompletableFuture<Void> tail;
            synchronized (d) {
                tail = d.tail;
            }
            try {
                tail.get(10, java.util.concurrent.TimeUnit.SECONDS); // an upload in flight decides what is sent
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
                // judged below as unsent
            }
        }
        try {
            Files.deleteIfExists(Path.of(wakeFile));
        } catch (IOException ignored) {
            // cleaned at the next start
        }
        for (Dirty d : dirty.values()) {
            MirrorFs.LocalStat st;
            try {
                st = MirrorFs.lstatOrNull(d.mount.pathOf(d.rel));
            } catch (ErrnoException e) {
                st = null;
            }
            boolean unsent = d.failure != null || d.modified || (st != null && !st.sameVersion(d.baseline));
            Entry e = d.mount.tree().entries.get(d.rel);
            if (e != null) {
                synchronized (e) {
                    e.writers = Math.max(0, e.writers - 1);
                    if (unsent && e.contents) {
                        cache.released(e.bytes);
                        e.contents = false;
                        e.bytes = 0;
                    }
                }
                if (unsent) {
                    Entry parent = d.mount.tree().entries.get(Tree.parentOf(d.rel));
                    if (parent != null) {
                        synchronized (parent) {
                            parent.listed = false;
                        }
                    }
                }
            }
        }
        dirty.clear();
    }
}
