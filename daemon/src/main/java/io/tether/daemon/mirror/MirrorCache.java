package io.tether.daemon.mirror;

import io.tether.daemon.files.HostExport;
import io.tether.daemon.files.HostFiles;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.io.Closeable;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.StandardOpenOption;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The daemon-wide target-side mirror of host files ("No NFS"), one per {@code --cache-dir}.
 * Thread-safe; many {@link MirrorSession}s (one per guest run) share it.
 *
 * <p>Layout of the cache directory: {@code trees/<cacheKey>/} the mirror of each export,
 * {@code tmp/} fetches and placeholders in the making (renamed into place), {@code index.d/<tree>} the
 * persistent index of each tree (see {@link MirrorIndex}), {@code lock} held while a daemon uses it (a second
 * daemon on the same directory uses {@code instance-N/} inside it instead). Contents are bounded by {@code maxBytes}: the least
 * recently used files go back to placeholders when room is needed; files being written are never
 * evicted. Use:
 * <pre>
 *   MirrorCache cache = MirrorCache.open(dir, maxBytes);     // once per daemon
 *   MirrorSession s = cache.session(hostFiles);              // once per guest run
 *   GuestView.builder(s.rootHostPath()).fileAccess(s) + .bind(b) for b in s.binds()
 *   ... s.flush(); s.close();
 *   cache.close();                                           // at daemon exit
 * </pre>
 */
public final class MirrorCache implements Closeable {
    private static final Logger LOG = LoggerFactory.getLogger(MirrorCache.class);
    public static final long DEFAULT_MAX_BYTES = 2L << 30;
    /**
     * A tree past this many entries (a bind of $HOME) is left in rewrite mode: its placeholders and index
     * would cost more (inodes, megabytes of index, a scan per run) than its stops.
     */
    static final int DEFAULT_WHOLE_CAP = 300_000;
    /** How long index changes wait before being written (a burst is written once). */
    private static final long SAVE_DELAY_MS = 5_000;
    /**
     * The least time between two background writes of the index. A tree's file is megabytes (a rootfs),
     * fsynced, and a build changes it all the time: a configure that runs for minutes would rewrite it every
     * few seconds. Sessions' ends and the cache's close write it anyway; what a crash loses of it is only
     * knowledge (entries not in the index are rebuilt from the host's word, older ones revalidated).
     */
    private static final long MIN_SAVE_INTERVAL_MS = 60_000;
    private static final int MAX_INSTANCES = 8;
    private static final int IO_THREADS = 16;
    /**
     * Completion's niceness: a short run after a cold one must not wait behind placing the rest of the tree's
     * placeholders (on two cores the pass took both and the runs meanwhile took 1.5-2x as long).
     */
    static final int BACKGROUND_NICE = 10;

    private final Path dir;
    private final String treesDir;
    private final String tmpDir;
    /** One index file per tree ({@link #indexFile}). */
    private final Path indexDir;
    /** The format-1 index of every tree, read once if present and removed by the first full save. */
    private final Path legacyIndex;
    private boolean legacyPending;
    private final long maxBytes;
    private final AtomicLong used = new AtomicLong();
    private final Map<String, Tree> trees = new ConcurrentHashMap<>();
    /** Guards making, holding and dropping trees ({@link #acquire}, {@link #makeRoom}). */
    private final Object treeLock = new Object();
    /** Trees being removed now ({@link #makeRoom}); guarded by {@link #treeLock}. */
    private int dropping;
    /** The share of the cache's file system's blocks or inodes below which idle trees are dropped. */
    static final double MIN_FREE = 0.05;
    private volatile RoomProbe room = this::ownRoom;
    /** When the last "short of room" warning was logged (once a minute at most: a full disk fails every create). */
    private long shortWarnedNs = System.nanoTime() - TimeUnit.HOURS.toNanos(1);
    private final AtomicLong tempCounter = new AtomicLong();
    private final ExecutorService io;
    private FirstOpens firstOpens;
    private boolean firstOpensTried;
    /** Completion ({@link Wholeness}): work no run waits for, so its threads yield the CPU to the runs'. */
    private final ExecutorService background, passes;
    private final ScheduledExecutorService saver;
    private final AtomicBoolean saveScheduled = new AtomicBoolean();
    /** When the index was last written (System.nanoTime()), for {@link #MIN_SAVE_INTERVAL_MS}. */
    private volatile long savedAtNs = System.nanoTime() - MIN_SAVE_INTERVAL_MS * 1_000_000L;
    private final Object roomLock = new Object();
    /** Entries past which a tree is not completed nor whole ({@link Wholeness}); tests lower it. */
    private volatile int wholeCap = DEFAULT_WHOLE_CAP;
    private final FileChannel lockChannel;
    private volatile boolean closed;

    private MirrorCache(Path dir, long maxBytes, FileChannel lockChannel) {
        this.dir = dir;
        this.lockChannel = lockChannel;
        this.treesDir = dir.resolve("trees").toString();
        this.tmpDir = dir.resolve("tmp").toString();
        this.indexDir = dir.resolve("index.d");
        this.legacyIndex = dir.resolve("index");
        this.maxBytes = maxBytes;
        // Bounded: a build closing hundreds of files at once queues its uploads instead of starting
        // hundreds of threads. No task waits for a queued one (only for fetches already running).
        this.io = pool("mirror-io", 0);
        // Completion's listings, niced; the passes that wait for them have threads of their own (one per tree
        // completing), so a pass never holds a thread its own queued listings need.
        this.background = pool("mirror-complete", BACKGROUND_NICE);
        this.passes = Executors.newCachedThreadPool(threads("mirror-complete-pass", BACKGROUND_NICE));
        this.saver = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "mirror-index");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Opens (creating it if needed) the cache in {@code dir}, bounded to {@code maxBytes} of file
     * contents. A missing or corrupt index starts the cache clean.
     *
     * @throws ErrnoException if the directory cannot be created or used (its errno, with the path)
     */
    public static MirrorCache open(Path dir, long maxBytes) throws ErrnoException {
        if (maxBytes <= 0) throw new ErrnoException(Errno.EINVAL, "cache size", Long.toString(maxBytes));
        Path real = createDirectory(dir);
        // One daemon per cache directory: another one running (a second --stdio connection) gets its own.
        for (int i = 0; i < MAX_INSTANCES; i++) {
            Path candidate = i == 0 ? real : createDirectory(real.resolve("instance-" + i));
            FileChannel lockChannel = null;
            try {
                lockChannel = FileChannel.open(candidate.resolve("lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                FileLock lock = lockChannel.tryLock();
                if (lock == null) {
                    lockChannel.close();
                    LOG.info("mirror cache {} is in use by another daemon", candidate);
                    continue;
                }
            } catch (OverlappingFileLockException e) {
                closeQuietly(lockChannel);
                continue;
            } catch (IOException e) {
                closeQuietly(lockChannel);
                throw new ErrnoException(Errno.EACCES, "cannot lock cache directory", candidate + " (" + e.getMessage() + ")");
            }
            // Nobody lists what we mirror; the mirror's own modes (the host's) guard each file, and the
            // guest's other users (a program that drops privileges) must still reach the root.
            for (String sub : new String[] {"trees", "tmp", "index.d"}) {
                Path p = createDirectory(candidate.resolve(sub));
                try {
                    MirrorFs.chmod(p.toString(), sub.equals("trees") ? 0711 : 0700);
                } catch (ErrnoException e) {
                    closeQuietly(lockChannel);
                    throw new ErrnoException(e.errno(), "cannot restrict cache directory", p.toString());
                }
            }
            MirrorCache cache = new MirrorCache(candidate, maxBytes, lockChannel);
            try {
                cache.load();
            } catch (ErrnoException | RuntimeException e) {
                cache.close();
                throw e;
            }
            return cache;
        }
        throw new ErrnoException(Errno.EBUSY, "mirror cache directory in use by " + MAX_INSTANCES + " daemons", real.toString());
    }

    private static void closeQuietly(FileChannel ch) {
        if (ch == null) return;
        try {
            ch.close();
        } catch (IOException ignored) {
            // nothing held
        }
    }

    private static Path createDirectory(Path dir) throws ErrnoException {
        try {
            Files.createDirectories(dir);
            Path real = dir.toRealPath();
            if (!Files.isWritable(real)) throw new java.nio.file.AccessDeniedException(real.toString());
            return real;
        } catch (IOException e) {
            int errno = e instanceof java.nio.file.AccessDeniedException ? Errno.EACCES
                    : e instanceof java.nio.file.FileAlreadyExistsException ? Errno.ENOTDIR
                    : e instanceof java.nio.file.FileSystemException f && String.valueOf(f.getReason()).contains("Read-only") ? Errno.EROFS
                    : Errno.EIO;
            throw new ErrnoException(errno, "cannot create cache directory", dir + " (" + e.getMessage() + ")");
        }
    }

    private void load() throws ErrnoException {
        cleanTmp();
        Map<String, List<Entry>> stored = new HashMap<>();
        for (String name : MirrorFs.list(indexDir.toString())) {
            Path file = indexDir.resolve(name);
            MirrorIndex.Stored t = MirrorIndex.read(file);
            if (t == null || !dirName(t.key()).equals(name)) {
                // That tree alone starts clean (its mirror is moved aside below); the others stay warm.
                LOG.warn("mirror cache {}: index {} unreadable, that tree starts clean", dir, name);
                deleteIndex(file);
                continue;
            }
            stored.put(t.key(), t.entries());
        }
        Set<String> migrated = new HashSet<>();
        if (Files.exists(legacyIndex)) {
            Map<String, List<Entry>> legacy = MirrorIndex.readLegacy(legacyIndex);
            if (legacy == null) {
                LOG.warn("mirror cache {}: old index unreadable, its trees start clean", dir);
                deleteIndex(legacyIndex);
            } else {
                legacyPending = true;
                for (Map.Entry<String, List<Entry>> t : legacy.entrySet()) {
                    // A tree's own file, if any, was written after the old index: it wins.
                    if (stored.putIfAbsent(t.getKey(), t.getValue()) == null) migrated.add(t.getKey());
                }
            }
        }
        long total = 0;
        for (Map.Entry<String, List<Entry>> t : stored.entrySet()) {
            Tree tree = new Tree(this, t.getKey(), treesDir + "/" + dirName(t.getKey()));
            List<String> lost = new ArrayList<>();
            for (Entry e : t.getValue()) {
                if (e.contents) {
                    // The index may lag behind the tree after a crash: trust contents only if the file is the one we placed.
                    MirrorFs.LocalStat st = MirrorFs.lstatOrNull(tree.pathOf(e.rel));
                    if (st == null || st.ino() != e.localIno || st.ctimeNs() != e.localCtimeNs) {
                        e.contents = false;
                        e.bytes = 0;
                    }
                }
                if (e.listed) {
                    // A listed directory gone from the tree (removed by hand) would hide the host's files:
                    // its parent's listing makes it again.
                    MirrorFs.LocalStat st = MirrorFs.lstatOrNull(tree.pathOf(e.rel));
                    if (st == null || !st.isDirectory()) {
                        e.listed = false;
                        lost.add(e.rel);
                    }
                }
                if (e.absent) {
                    if (e.rel.isEmpty() || e.attr == null) continue;
                    if (MirrorFs.lstatOrNull(tree.pathOf(e.rel)) != null) {
                        lost.add(e.rel); // made after the index was written (a crash): its parent's listing decides
                    } else {
                        tree.noteAbsent(e.rel);
                    }
                }
                if (e.contents) total += e.bytes;
                tree.entries.put(e.rel, e);
            }
            for (String rel : lost) {
                Entry parent = rel.isEmpty() ? null : tree.entries.get(Tree.parentOf(rel));
                if (parent != null) parent.listed = false;
            }
            if (migrated.contains(t.getKey())) tree.indexEdits.incrementAndGet(); // its own file is still to write
            try {
                tree.lastUseMs = Files.getLastModifiedTime(indexFile(tree)).toMillis();
            } catch (IOException e) {
                tree.lastUseMs = 0; // migrated from the old index: the first to go
            }
            trees.put(t.getKey(), tree);
        }
        used.set(total);
        discardUnindexedTrees();
        LOG.debug("mirror cache {}: {} trees, {} bytes of contents", dir, trees.size(), total);
    }

    /**
     * Moves the mirrors no index describes aside and deletes them in the background: what they hold is
     * not known to be the host's (a tree whose index was lost, or never written before a crash).
     */
    private void discardUnindexedTrees() throws ErrnoException {
        Set<String> indexed = new HashSet<>();
        for (String key : trees.keySet()) indexed.add(dirName(key));
        for (String name : MirrorFs.list(treesDir)) {
            if (indexed.contains(name)) continue;
            String trash = tempPath("trash");
            MirrorFs.rename(treesDir + "/" + name, trash);
            io.execute(() -> {
                try {
                    MirrorFs.removeTree(trash);
                } catch (ErrnoException e) {
                    LOG.warn("mirror cache: cannot remove {}: {}", trash, e.getMessage());
                }
            });
        }
    }

    private static void deleteIndex(Path file) throws ErrnoException {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            throw new ErrnoException(Errno.EIO, "remove index", file + " (" + e.getMessage() + ")");
        }
    }

    /** The index file of {@code tree}. */
    Path indexFile(Tree tree) {
        return indexDir.resolve(dirName(tree.key));
    }

    private void cleanTmp() throws ErrnoException {
        for (String name : MirrorFs.list(tmpDir)) MirrorFs.removeTree(tmpDir + "/" + name);
    }

    /**
     * A session of one guest run over {@code files}: the mirrors of its exports are made ready and what
     * an earlier run cached is validated against the host in one round trip per export.
     */
    public MirrorSession session(HostFiles files) throws ErrnoException {
        if (closed) throw new ErrnoException(Errno.EIO, "mirror cache closed", dir.toString());
        return MirrorSession.start(this, files);
    }

    /** The cache directory (canonical). */
    public Path dir() {
        return dir;
    }

    public long maxBytes() {
        return maxBytes;
    }

    /** Bytes of file contents held now. */
    public long usedBytes() {
        return used.get();
    }

    /** Target path of the mirror of {@code export} (whether or not it exists yet). */
    public Path mirrorDir(HostExport export) {
        return Path.of(treesDir, dirName(export.cacheKey()));
    }

    Tree tree(String cacheKey) throws ErrnoException {
        synchronized (treeLock) {
            Tree t = trees.computeIfAbsent(cacheKey, k -> new Tree(this, k, treesDir + "/" + dirName(k)));
            MirrorFs.mkdirs(t.root);
            return t;
        }
    }

    /**
     * The tree of {@code cacheKey} for a session, which holds it until {@link #release}: a held tree is never
     * dropped. First, if the cache's file system is short of room, the least recently used idle trees go.
     */
    Tree acquire(String cacheKey) throws ErrnoException {
        makeRoom(null);
        synchronized (treeLock) {
            Tree t = tree(cacheKey);
            t.users++;
            t.lastUseMs = System.currentTimeMillis();
            return t;
        }
    }

    /** A session is done with {@code t} (everything it started on it is over). */
    void release(Tree t) {
        synchronized (treeLock) {
            t.users--;
            t.lastUseMs = System.currentTimeMillis();
        }
        try {
            // Its last use survives a restart: the index file's time (a warm run writes no index).
            Files.setLastModifiedTime(indexFile(t), java.nio.file.attribute.FileTime.fromMillis(t.lastUseMs));
        } catch (IOException e) {
            // not written yet: its first save gives it a time
        }
    }

    /**
     * Trees are bounded by the disk, not by count: while the cache's file system has less than {@link #MIN_FREE}
     * of its blocks or inodes free (placeholders cost an inode each, and every rootfs or bind path ever served
     * has a tree), or once when {@code full} names a tree that could not make a name for ENOSPC, the least
     * recently used trees no session holds are dropped, mirror and index. Returns whether any was.
     */
    boolean makeRoom(Tree full) {
        boolean dropped = false;
        boolean force = full != null;
        while (force || worthDropping()) {
            Tree victim;
            String trash;
            synchronized (treeLock) {
                victim = null;
                for (Tree t : trees.values()) {
                    if (t == full || t.users > 0 || t.completing.get()) continue;
                    if (victim == null || t.lastUseMs < victim.lastUseMs) victim = t;
                }
                if (victim == null && dropping > 0) {
                    // Another thread is removing a tree: its inodes and blocks come free when that is done.
                    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                    while (dropping > 0 && System.nanoTime() < end) {
                        try {
                            treeLock.wait(1000);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            return dropped;
                        }
                    }
                    return true;
                }
                if (victim == null) {
                    long now = System.nanoTime();
                    if (!dropped && now - shortWarnedNs > TimeUnit.MINUTES.toNanos(1)) {
                        shortWarnedNs = now;
                        StringBuilder held = new StringBuilder();
                        for (Tree t : trees.values()) {
                            held.append(held.length() == 0 ? "" : ", ").append(t.key, 0, Math.min(12, t.key.length()))
                                    .append(t == full ? " (full)" : t.users > 0 ? " (" + t.users + " runs)" : " (completing)");
                        }
                        LOG.warn("mirror cache {}: its file system is short of room and no tree is idle: {}", dir, held);
                    }
                    return dropped;
                }
                trees.remove(victim.key, victim);
                dropping++;
                trash = tempPath("trash");
                try {
                    MirrorFs.rename(victim.root, trash); // before a new tree of that key makes its directory
                } catch (ErrnoException e) {
                    trash = null;
                    LOG.warn("mirror cache {}: cannot move {} aside: {}", dir, victim.root, e.getMessage());
                }
            }
            long bytes = 0;
            for (Entry e : victim.entries.values()) {
                synchronized (e) {
                    if (!e.contents) continue;
                    bytes += e.bytes; // and not again by an eviction that picked it already
                    e.contents = false;
                    e.bytes = 0;
                }
            }
            used.addAndGet(-bytes);
            // After a save() that may be writing it (the cache's monitor), on the I/O pool: our caller may hold
            // an entry's lock, which save() takes under that monitor.
            Tree gone = victim;
            Runnable unindex = () -> {
                synchronized (this) {
                    // A new tree of that key writes its own file over it; one written already is not ours to delete.
                    if (trees.containsKey(gone.key)) return;
                    try {
                        deleteIndex(indexFile(gone));
                    } catch (ErrnoException e) {
                        LOG.warn("mirror cache {}: {}", dir, e.getMessage());
                    }
                }
            };
            try {
                io.execute(unindex);
            } catch (java.util.concurrent.RejectedExecutionException e) {
                unindex.run(); // closing: no session, no lock held
            }
            try {
                if (trash != null) MirrorFs.removeTree(trash); // now: the room is wanted now
            } catch (ErrnoException e) {
                LOG.warn("mirror cache {}: cannot remove {}: {}", dir, trash, e.getMessage());
            } finally {
                synchronized (treeLock) {
                    dropping--;
                    treeLock.notifyAll();
                }
            }
            LOG.info("mirror cache {}: dropped the tree of {} ({} entries, {} bytes of contents, last used {}) to make room",
                    dir, victim.key, victim.entries.size(), bytes, java.time.Instant.ofEpochMilli(victim.lastUseMs));
            dropped = true;
            force = false;
        }
        return dropped;
    }

    /**
     * Whether the cache's file system is short of room and dropping the idle trees would end that. A disk
     * filled by other files (a board's small flash, its logs) is not the trees' doing: dropping every tree
     * at each session's start would make every run cold and free next to nothing, so they stay (warned
     * about once a while); a create that fails for room still drops them ({@code makeRoom(full)}).
     */
    private boolean worthDropping() {
        MirrorFs.Room r;
        try {
            r = room.get();
        } catch (ErrnoException e) {
            return false;
        }
        boolean blocksShort = r.blocks() < MIN_FREE, inodesShort = r.inodes() < MIN_FREE;
        if (!blocksShort && !inodesShort) return false;
        long idleFiles = 0, idleBytes = 0;
        synchronized (treeLock) {
            for (Tree t : trees.values()) {
                if (t.users > 0 || t.completing.get()) continue;
                idleFiles += t.entries.size(); // an inode each: placeholders, directories, links
                for (Entry e : t.entries.values()) idleBytes += e.bytes; // contents (placeholders are sparse)
            }
        }
        boolean helps = (!blocksShort || (double) (r.availBytes() + idleBytes) / r.sizeBytes() >= MIN_FREE)
                && (!inodesShort || (double) (r.availFiles() + idleFiles) / r.files() >= MIN_FREE);
        long now = System.nanoTime();
        if (!helps && now - shortWarnedNs > TimeUnit.MINUTES.toNanos(1)) {
            shortWarnedNs = now;
            LOG.warn("mirror cache {}: its file system is short of room ({}% of blocks, {}% of inodes free), not by the"
                            + " cache's trees ({} inodes, {} bytes idle): they stay; a create that fails for room drops them",
                    dir, Math.round(r.blocks() * 100), Math.round(r.inodes() * 100), idleFiles, idleBytes);
        }
        return helps;
    }

    /** How much room the cache's file system has (tests fake it). */
    interface RoomProbe {
        MirrorFs.Room get() throws ErrnoException;
    }

    private MirrorFs.Room ownRoom() throws ErrnoException {
        return MirrorFs.room(treesDir);
    }

    void roomProbe(RoomProbe probe) {
        room = probe;
    }

    /** The daemon's open gate for kernel-rooted runs (opened at the first one's asking), or null where the kernel has none. */
    synchronized FirstOpens firstOpens() {
        if (closed) return null;
        if (!firstOpensTried) {
            firstOpensTried = true;
            firstOpens = FirstOpens.open();
        }
        return firstOpens;
    }

    ExecutorService io() {
        return io;
    }

    /** The pool of completion's listings: threads at nice {@value #BACKGROUND_NICE}. */
    ExecutorService background() {
        return background;
    }

    /** Where completion passes run (a thread each, at nice {@value #BACKGROUND_NICE}): they wait for {@link #background}'s work. */
    ExecutorService passes() {
        return passes;
    }

    /** {@link #IO_THREADS} daemon threads named {@code name} at {@code nice}, idle ones ending after 30 s. */
    private static ExecutorService pool(String name, int nice) {
        ThreadPoolExecutor p = new ThreadPoolExecutor(IO_THREADS, IO_THREADS, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                threads(name, nice));
        p.allowCoreThreadTimeOut(true);
        return p;
    }

    private static java.util.concurrent.ThreadFactory threads(String name, int nice) {
        return r -> {
            Thread t = new Thread(nice == 0 ? r : () -> {
                MirrorFs.niceThisThread(nice);
                r.run();
            }, name);
            t.setDaemon(true);
            return t;
        };
    }

    boolean closed() {
        return closed;
    }

    int wholeCap() {
        return wholeCap;
    }

    void wholeCap(int entries) {
        wholeCap = entries;
    }

    /** The I/O pool, or the caller's thread once the cache is closing: a write-back is never dropped. */
    java.util.concurrent.Executor ioOrInline() {
        return task -> {
            try {
                io.execute(task);
            } catch (java.util.concurrent.RejectedExecutionException e) {
                task.run();
            }
        };
    }

    /** A fresh name in tmp/ (same file system as the trees, so renames into place are atomic). */
    String tempPath(String what) {
        return tmpDir + "/" + what + "-" + ProcessHandle.current().pid() + "-" + tempCounter.incrementAndGet();
    }

    /**
     * Reserves room for {@code bytes} more of contents, evicting the least recently used files that
     * nobody writes. ENOSPC (logged) if even that cannot make room.
     */
    void reserve(long bytes, String forWhat) throws ErrnoException {
        synchronized (roomLock) {
            if (used.get() + bytes <= maxBytes) {
                used.addAndGet(bytes);
                return;
            }
            evict(used.get() + bytes - maxBytes + maxBytes / 10);
            if (used.get() + bytes > maxBytes) {
                // Not even all evictable contents make room: at least keep within bounds if eviction freed some.
                evict(used.get() + bytes - maxBytes);
            }
            if (used.get() + bytes > maxBytes) {
                LOG.error("mirror cache {} full: {} bytes needed for {}, {} of {} bytes held by files being written or too big",
                        dir, bytes, forWhat, used.get(), maxBytes);
                throw new ErrnoException(Errno.ENOSPC, "mirror cache full", forWhat);
            }
            used.addAndGet(bytes);
        }
    }

    /** Contents no longer held (or a reservation given back). */
    void released(long bytes) {
        if (bytes != 0) used.addAndGet(-bytes);
    }

    /** Contents grew or shrank in place (a write-back of a file written here). */
    void resized(long delta) {
        used.addAndGet(delta);
    }

    private void evict(long wanted) {
        List<Object[]> candidates = new ArrayList<>();
        for (Tree t : trees.values()) {
            for (Entry e : t.entries.values()) {
                synchronized (e) {
                    if (e.contents && e.writers == 0 && e.bytes > 0) candidates.add(new Object[] {t, e, e.lastUse});
                }
            }
        }
        candidates.sort(Comparator.comparingLong(o -> (Long) o[2]));
        long freed = 0;
        Set<Tree> evictedFrom = new HashSet<>();
        for (Object[] c : candidates) {
            if (freed >= wanted) break;
            Tree t = (Tree) c[0];
            Entry e = (Entry) c[1];
            if (t.inFlight.containsKey("F:" + e.rel)) continue;
            synchronized (e) {
                if (!e.contents || e.writers > 0 || e.attr == null || t.entries.get(e.rel) != e) continue;
                try {
                    t.placeholder(e.rel, e.attr);
                } catch (ErrnoException ex) {
                    LOG.warn("mirror cache: cannot evict {}: {}", t.pathOf(e.rel), ex.getMessage());
                    continue;
                }
                e.contents = false;
                evictedFrom.add(t);
                freed += e.bytes;
                used.addAndGet(-e.bytes);
                e.bytes = 0;
            }
        }
        if (freed > 0) LOG.debug("mirror cache {}: evicted {} bytes", dir, freed);
        for (Tree t : evictedFrom) indexChanged(t);
    }

    /** {@code tree}'s entries changed: its index file is written within a minute (and at session and cache close). */
    void indexChanged(Tree tree) {
        tree.indexEdits.incrementAndGet();
        if (closed || !saveScheduled.compareAndSet(false, true)) return;
        try {
            long sinceMs = (System.nanoTime() - savedAtNs) / 1_000_000L;
            saver.schedule(() -> {
                saveScheduled.set(false);
                saveQuietly();
            }, Math.max(SAVE_DELAY_MS, MIN_SAVE_INTERVAL_MS - sinceMs), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            saveScheduled.set(false);
        }
    }

    /**
     * Writes (atomically) the index file of each tree that changed since its file was written: a warm run
     * changes nothing, and a rootfs's file is megabytes, fsynced. Only last-use times are not counted as
     * changes; they reach the disk with the tree's next real change.
     */
    public synchronized void save() throws IOException {
        IOException failed = null;
        for (Tree t : trees.values()) {
            long edits = t.indexEdits.get();
            if (edits == t.savedIndexEdits) continue;
            try {
                MirrorIndex.write(indexFile(t), Path.of(tempPath("index")), t);
                t.savedIndexEdits = edits;
            } catch (IOException e) {
                if (failed == null) failed = e;
                else failed.addSuppressed(e);
            }
        }
        savedAtNs = System.nanoTime();
        if (failed != null) throw failed;
        if (legacyPending) {
            // Every tree it held has its own file now.
            Files.deleteIfExists(legacyIndex);
            legacyPending = false;
        }
    }

    /** {@link #save}, logging a failure (the index is knowledge: losing it costs revalidation, not data). */
    void saveQuietly() {
        try {
            save();
        } catch (IOException e) {
            LOG.warn("mirror cache {}: cannot write the index: {}", dir, e.getMessage());
        }
    }

    /** Writes the index and stops background work. Sessions should be closed first. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        FirstOpens gate;
        synchronized (this) {
            gate = firstOpens;
        }
        if (gate != null) gate.close();
        saver.shutdownNow();
        saveQuietly();
        io.shutdown();
        background.shutdown();
        passes.shutdown();
        closeQuietly(lockChannel); // releases the lock
    }

    /** A directory name for a cache key: itself when plain, otherwise a digest. */
    static String dirName(String cacheKey) {
        if (cacheKey.matches("[A-Za-z0-9][A-Za-z0-9._-]{0,99}")) return cacheKey;
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(cacheKey.getBytes(StandardCharsets.ISO_8859_1));
            return "k-" + HexFormat.of().formatHex(d, 0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Parses a size: bytes, or with a K, M, G or T suffix (powers of 1024), e.g. "2G", "512M". */
    public static long parseSize(String text) {
        String s = text.trim().toUpperCase(Locale.ROOT);
        if (s.endsWith("B")) s = s.substring(0, s.length() - 1);
        long unit = 1;
        if (!s.isEmpty()) {
            switch (s.charAt(s.length() - 1)) {
                case 'K' -> unit = 1L << 10;
                case 'M' -> unit = 1L << 20;
                case 'G' -> unit = 1L << 30;
                case 'T' -> unit = 1L << 40;
                default -> unit = 1;
            }
            if (unit != 1) s = s.substring(0, s.length() - 1);
        }
        long n;
        try {
            n = Long.parseLong(s.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("bad size " + text + " (want e.g. 2G, 512M, 100000K)");
        }
        if (n <= 0 || n > Long.MAX_VALUE / unit) throw new IllegalArgumentException("bad size " + text);
        return n * unit;
    }

    /** $XDG_CACHE_HOME/tetherd, ~/.cache/tetherd, or /var/cache/tetherd for root. */
    public static Path defaultDir() {
        if (MirrorFs.isRoot()) return Path.of("/var/cache/tetherd");
        String xdg = System.getenv("XDG_CACHE_HOME");
        if (xdg != null && xdg.startsWith("/")) return Path.of(xdg, "tetherd");
        return Path.of(System.getProperty("user.home"), ".cache", "tetherd");
    }
}
