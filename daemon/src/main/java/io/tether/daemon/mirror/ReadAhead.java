package io.tether.daemon.mirror;

import io.tether.daemon.files.HostAttr;
import io.tether.posix.ErrnoException;
import java.io.Closeable;
import java.util.List;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A session's speculative work for a cold cache, off the tracer's thread, so that a tracee finds
 * what it is about to ask for already here (or in flight) instead of paying a round trip each:
 * <ul>
 * <li>walks: a directory opened while its parent was opened too (find, ls -R, du, tar c, cp -r) and not
 *     listed yet starts a walk listing of the directory the walk started from (else of the parent),
 *     if most of it is unlisted: its whole subtree in one request, up to {@link #MAX_WALK_ENTRIES}
 *     entries, streamed depth first, each directory kept as it arrives and applied when first needed
 *     (so one directory costs the tracee no round trip, and an unused one no placeholders), all of it
 *     applied ahead once the tracee opened {@link #EAGER_AFTER} directories below it; and the
 *     subdirectories and siblings of a walked directory (a depth-first walker goes there next) are
 *     applied ahead, newest first, from the walk listing where it covers them, else listed ahead, one
 *     request each (until {@link #QUIET_LOOKS} looks in a row found nothing to do: a walk through a
 *     cached tree, until its next miss);</li>
 * <li>reads: a directory from which the tracee reads files (cat *, a linker's libraries, an
 *     interpreter's modules) gets its other files up to {@link #MAX_FILE} fetched ahead in its own
 *     order, a window of {@code 128 KiB << files read there} and at most 4 files per file read (so one
 *     stray read costs nothing ahead, a few reads in a big directory stay few, and a directory read
 *     through is fetched through ahead of the reader), its bigger files too once {@link #BIG_AFTER}
 *     were read there, on {@link #FETCHERS} threads, at most half the cache's size in a session (what it
 *     fetches then takes the room of the least recently used contents, as any fetch does).</li>
 * </ul>
 * Both go through the session's once-per-path calls: a tracee that needs a path in flight waits for
 * it, and nothing is done twice. Failures are only logged: the tracee's own request reports its errno.
 */
final class ReadAhead implements Closeable {
    private static final Logger LOG = LoggerFactory.getLogger(ReadAhead.class);
    static final long MAX_FILE = 1 << 20;
    private static final long FIRST_WINDOW = 128 << 10;
    /** Fetches in flight ahead: each waits a round trip, so a few more than the cores keep the link busy with small files. */
    private static final int LISTERS = 2;
    static final int FETCHERS = 8;
    /** Files the tracee read in one directory before its files over {@link #MAX_FILE} come ahead too: a directory read through (cat *, cp -r), not a linker's or an interpreter's few. */
    static final int BIG_AFTER = 32;
    /** Entries per walk listing: /usr of a Debian minbase is ~10k; a bigger tree is walked on in deeper listings. */
    static final int MAX_WALK_ENTRIES = 16384;
    /** Directories the tracee opens under a walk listing before all of it is applied ahead: a find, not a few imports. */
    static final int EAGER_AFTER = 32;
    /** Ends a walk listing's arrivals (a rel never holds a NUL). */
    private static final String END = "\0";
    /** Files fetched ahead per file the tracee read in that directory: a compiler's few reads in a big library directory stay few. */
    private static final int AHEAD_PER_READ = 4;

    /** The session's calls, each once per path, waiting for one in flight. */
    interface Work {
        void list(Mount m, String relDir) throws ErrnoException;

        void fetch(Mount m, String rel) throws ErrnoException;

        /**
         * Lists {@code relDir}'s subtree in one request, each directory kept for whoever needs it and
         * told to {@code arrived} (an I/O thread: it must not block); returns the entries.
         */
        int listWalk(Mount m, String relDir, int maxEntries, java.util.function.Consumer<String> arrived) throws ErrnoException;

        /** Applies {@code relDir}'s listing if a walk listing brought it and nobody applied it yet. */
        void applyKept(Mount m, String relDir) throws ErrnoException;
    }

    /** What the tracee read in one directory, and how far ahead of it we fetched. */
    private static final class DirReads {
        int demand;
        int issuedFiles;
        long issued;
        List<String> names;
        int cursor;
        /** Files over {@link #MAX_FILE} the cursor passed before {@link #BIG_AFTER} reads. */
        List<String> bigLater = new java.util.ArrayList<>();
    }

    private final MirrorCache cache;
    private final Work work;
    private final ThreadPoolExecutor listers, fetchers, walkers, appliers;
    private final Set<String> openedDirs = ConcurrentHashMap.newKeySet();
    private final Set<String> walked = ConcurrentHashMap.newKeySet();
    /** Roots of walk listings asked for, and those cut short (by the cap or an error): below those, walks list as before. */
    private final Set<String> walkRoots = ConcurrentHashMap.newKeySet(), walkCut = ConcurrentHashMap.newKeySet();
    private final ConcurrentHashMap<String, Walk> walks = new ConcurrentHashMap<>();

    /** One walk listing: its directories in arrival order (depth first, {@link #END} last), and the tracee's opens below it. */
    private static final class Walk {
        final Mount m;
        final LinkedBlockingQueue<String> arrived = new LinkedBlockingQueue<>();
        final java.util.concurrent.atomic.AtomicInteger opened = new java.util.concurrent.atomic.AtomicInteger();

        Walk(Mount m) {
            this.m = m;
        }
    }
    private final Set<String> fetchedAhead = ConcurrentHashMap.newKeySet();
    /** Bytes this session asked for ahead of the tracee: at most half the cache, whatever earlier runs left in it. */
    private final java.util.concurrent.atomic.AtomicLong aheadBytes = new java.util.concurrent.atomic.AtomicLong();
    private final ConcurrentHashMap<String, DirReads> reads = new ConcurrentHashMap<>();
    /** Reads that follow a walk's order, fetched ahead across directories. */
    private final TreeOrder inOrder = new TreeOrder(openedDirs, this::issueInOrder);
    private final java.util.concurrent.atomic.LongAdder lookedAhead = new java.util.concurrent.atomic.LongAdder();
    /** Looks through walked directories in a row that found nothing to list ahead (reset by a miss). */
    private volatile int emptyLooks;
    /** Empty looks in a row after which a walk is taken to be through a cached tree. */
    static final int QUIET_LOOKS = 32;
    /** Tasks queued or running (a task that queues more counts until it returns). */
    private int pending;
    private volatile boolean closed;

    ReadAhead(MirrorCache cache, Work work) {
        this.cache = cache;
        this.work = work;
        // Newest first: the listing a walker needs next is the one its last open asked for.
        this.listers = pool(LISTERS, new LinkedBlockingDeque<>() {
            @Override
            public boolean offer(Runnable r) {
                return super.offerFirst(r);
            }
        }, "mirror-list-ahead");
        this.fetchers = pool(FETCHERS, new LinkedBlockingQueue<>(), "mirror-read-ahead");
        this.walkers = pool(1, new LinkedBlockingQueue<>(), "mirror-walk-listing");
        this.appliers = pool(1, new LinkedBlockingQueue<>(), "mirror-walk-apply");
    }

    private static ThreadPoolExecutor pool(int threads, BlockingQueue<Runnable> queue, String name) {
        ThreadPoolExecutor p = new ThreadPoolExecutor(threads, threads, 10, TimeUnit.SECONDS, queue, r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        });
        p.allowCoreThreadTimeOut(true);
        return p;
    }

    /** Directories looked through for subdirectories to list ahead (tests). */
    long lookedAhead() {
        return lookedAhead.sum();
    }

    /** The tracee opened directory {@code rel} (listed now); {@code missed}: it was not listed before. */
    void dirOpened(Mount m, String rel, boolean missed) {
        if (closed || !openedDirs.add(m.key(rel)) || rel.isEmpty()) return;
        if (missed) emptyLooks = 0;
        Walk under = walkOver(m, rel);
        if (under != null && under.opened.incrementAndGet() == EAGER_AFTER) submit(appliers, () -> applyAll(under));
        String parent = Tree.parentOf(rel);
        if (!openedDirs.contains(m.key(parent))) return;
        // Only a walk that misses starts a walk listing (a cached tree is walked through with none), from
        // where the walk started (find /usr misses first deep in /usr/lib), else from this directory's parent.
        if (missed && !covered(m, parent)) {
            String top = parent;
            while (!top.isEmpty() && openedDirs.contains(m.key(Tree.parentOf(top)))) top = Tree.parentOf(top);
            if (!tryWalk(m, top) && !top.equals(parent)) tryWalk(m, parent);
        }
        // A walk through a cached tree finds nothing to list ahead: once looking found nothing for a
        // while, it would cost a readdir of the mirror per directory opened, for nothing. A miss (a
        // directory neither cached nor listed ahead) starts it again.
        if (emptyLooks >= QUIET_LOOKS) return;
        walk(m, parent);
        walk(m, rel);
    }

    /** The walk listing whose root is {@code rel} or above it, or null. */
    private Walk walkOver(Mount m, String rel) {
        for (String r = rel; ; r = Tree.parentOf(r)) {
            Walk w = walks.get(m.key(r));
            if (w != null) return w;
            if (r.isEmpty()) return null;
        }
    }

    /**
     * A tracee walking through a walk listing (a find) gets all of it applied ahead, in its order, on
     * a thread of its own: the placeholders are made while the tracee and the tracer use the other core.
     */
    private void applyAll(Walk w) throws ErrnoException {
        while (!closed) {
            String rel;
            try {
                rel = w.arrived.take();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            if (rel.equals(END)) return;
            work.applyKept(w.m, rel);
        }
    }

    /** Whether a walk listing in flight or done (and not cut short) holds {@code rel}'s subtree. */
    private boolean covered(Mount m, String rel) {
        for (String r = rel; ; r = Tree.parentOf(r)) {
            String k = m.key(r);
            if (walkRoots.contains(k) && !walkCut.contains(k)) return true;
            if (r.isEmpty()) return false;
        }
    }

    /**
     * Asks for {@code relDir}'s subtree in one walk listing (once per session) if most of it is not
     * here: a tree mostly cached is not sent again for one miss. Returns whether it was asked for.
     */
    private boolean tryWalk(Mount m, String relDir) {
        String k = m.key(relDir);
        if (covered(m, relDir) || walkRoots.contains(k)) return false;
        boolean worth;
        try {
            worth = mostlyUnlisted(m, relDir);
        } catch (ErrnoException e) {
            worth = false;
        }
        if (!walkRoots.add(k)) return false;
        if (!worth) {
            walkCut.add(k);
            return false;
        }
        Walk w = new Walk(m);
        walks.put(k, w);
        submit(walkers, () -> {
            boolean whole = false;
            try {
                whole = work.listWalk(m, relDir, MAX_WALK_ENTRIES, w.arrived::add) < MAX_WALK_ENTRIES;
            } finally {
                if (!whole) walkCut.add(k);
                w.arrived.add(END);
            }
        });
        return true;
    }

    /** Whether at least half of {@code relDir}'s subdirectories (and one) are not listed yet. */
    private boolean mostlyUnlisted(Mount m, String relDir) throws ErrnoException {
        int dirs = 0, unlisted = 0;
        for (String name : MirrorFs.list(m.pathOf(relDir))) {
            Entry e = m.tree().entries.get(Tree.child(relDir, name));
            if (e == null) continue;
            synchronized (e) {
                if (e.attr == null || !e.attr.isDirectory()) continue;
                dirs++;
                if (!e.listed) unlisted++;
            }
        }
        LOG.debug("mirror {}: walk below {}: {} of {} subdirectories unlisted", m.tree().key, relDir, unlisted, dirs);
        return unlisted > 0 && unlisted * 2 >= dirs;
    }

    /** Lists the unlisted subdirectories of {@code relDir} ahead (once per session). */
    private void walk(Mount m, String relDir) {
        if (!walked.add(m.key(relDir))) return;
        lookedAhead.increment();
        boolean covered = covered(m, relDir);
        submit(listers, () -> {
            List<String> names = MirrorFs.list(m.pathOf(relDir));
            boolean found = false;
            for (int i = names.size() - 1; i >= 0; i--) { // the deque reverses them: the first comes first
                String rel = Tree.child(relDir, names.get(i));
                Entry e = m.tree().entries.get(rel);
                if (e == null) continue;
                synchronized (e) {
                    if (e.listed || e.attr == null || !e.attr.isDirectory()) continue;
                }
                found = true;
                // Under a walk listing: applied ahead if it came already (a round trip of its own would race the walk listing).
                submit(listers, covered ? () -> work.applyKept(m, rel) : () -> work.list(m, rel));
            }
            emptyLooks = found ? 0 : emptyLooks + 1;
        });
    }

    /**
     * The tracee opened regular file {@code rel} for reading and its contents are here now;
     * {@code fetchedNow}: they were not before this open.
     */
    void fileRead(Mount m, String rel, boolean fetchedNow) {
        if (closed || rel.isEmpty()) return;
        String k = m.key(rel);
        if (!fetchedNow && !fetchedAhead.remove(k)) return; // cached before: no news about this run's reads
        inOrder.read(m, rel);
        String relDir = Tree.parentOf(rel);
        DirReads d = reads.computeIfAbsent(m.key(relDir), x -> new DirReads());
        synchronized (d) {
            d.demand++;
            if (d.demand < 2) return;
            long window = FIRST_WINDOW << Math.min(d.demand, 30);
            try {
                if (d.names == null) d.names = m.tree().names(relDir);
            } catch (ErrnoException e) {
                return;
            }
            // A session's read-ahead, not the cache's fill, is what is bounded: an LRU cache in use is full, and
            // a bound on its fill turned read-ahead off for good once earlier runs had filled half of it.
            long room = cache.maxBytes() / 2 - aheadBytes.get();
            boolean big = d.demand >= BIG_AFTER;
            while (d.issued < window && d.issuedFiles < AHEAD_PER_READ * d.demand) {
                String name;
                if (big && !d.bigLater.isEmpty()) name = d.bigLater.remove(0);
                else if (d.cursor < d.names.size()) name = d.names.get(d.cursor++);
                else break;
                String next = Tree.child(relDir, name);
                Entry e = m.tree().entries.get(next);
                if (e == null) continue;
                long size;
                synchronized (e) {
                    HostAttr a = e.attr;
                    if (e.contents || e.writers > 0 || a == null || !a.isRegular()) continue;
                    size = a.size();
                }
                if (size > MAX_FILE && !big) {
                    d.bigLater.add(name); // passed over until the directory is read through
                    continue;
                }
                if (size > room) return;
                if (!fetchedAhead.add(m.key(next))) continue; // ahead already, in the walk's order
                room -= size;
                aheadBytes.addAndGet(size);
                d.issued += size;
                d.issuedFiles++;
                submit(fetchers, () -> work.fetch(m, next));
            }
        }
    }

    /** Fetches {@code rel} ahead for {@link TreeOrder}, within the session's read-ahead bytes. */
    private int issueInOrder(Mount m, String rel, long size) {
        if (closed || size > cache.maxBytes() / 2 - aheadBytes.get()) return TreeOrder.Issuer.FULL;
        if (!fetchedAhead.add(m.key(rel))) return TreeOrder.Issuer.SKIPPED;
        aheadBytes.addAndGet(size);
        submit(fetchers, () -> work.fetch(m, rel));
        return TreeOrder.Issuer.ISSUED;
    }

    private interface Task {
        void run() throws ErrnoException;
    }

    private void submit(ThreadPoolExecutor pool, Task task) {
        if (closed) return;
        synchronized (this) {
            pending++;
        }
        try {
            pool.execute(() -> {
                try {
                    if (!closed) task.run();
                } catch (ErrnoException e) {
                    LOG.debug("mirror: ahead of the tracee: {}", e.getMessage());
                } catch (RuntimeException e) {
                    LOG.warn("mirror: ahead of the tracee", e);
                } finally {
                    done(1);
                }
            });
        } catch (RejectedExecutionException e) {
            done(1); // closing
        }
    }

    private synchronized void done(int tasks) {
        pending -= tasks;
        if (pending <= 0) notifyAll();
    }

    /** Waits until nothing is queued or running ahead (tests, benchmarks), at most {@code timeoutMs}. */
    synchronized void await(long timeoutMs) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (pending > 0) {
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) return;
            wait(left);
        }
    }

    /** Drops what is queued and waits (briefly) for what runs: nothing touches the session after this. */
    @Override
    public void close() {
        closed = true;
        // No interrupts: a tracee may be waiting for a fetch in flight, and must get its real outcome.
        List<Runnable> dropped = new java.util.ArrayList<>();
        listers.getQueue().drainTo(dropped);
        fetchers.getQueue().drainTo(dropped);
        walkers.getQueue().drainTo(dropped);
        appliers.getQueue().drainTo(dropped);
        done(dropped.size());
        for (Walk w : walks.values()) w.arrived.add(END); // an applier waiting for more stops
        listers.shutdown();
        fetchers.shutdown();
        walkers.shutdownNow(); // no tracee waits on a walk listing itself: its rest is not needed
        appliers.shutdown();
        try {
            listers.awaitTermination(30, TimeUnit.SECONDS);
            fetchers.awaitTermination(30, TimeUnit.SECONDS);
            appliers.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
