package io.tether.daemon.mirror;

import io.tether.daemon.files.HostAttr;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether a tree is WHOLE (every directory listed, placeholders for all the host's entries), so a run may
 * be kernel-rooted over it (GuestFileAccess.wholeUnder: no stop on stat, readlink or getdents, so nothing
 * could ask for a listing), and the work that makes it so and keeps it so:
 * <ul>
 * <li>at a run's start, up to {@link #FEW} unlisted directories (what validation found stale, a few new
 *     ones) are listed before the answer, in parallel: a few round trips, less than the stops a
 *     rewrite-mode run pays;</li>
 * <li>more than that: the run stays in rewrite mode and a completion pass lists the rest in
 *     the background during the session (not in a tree's first run, which lists what it uses), the unlisted
 *     frontier in parallel: a walk listing (one request per subtree, up to {@link ReadAhead#MAX_WALK_ENTRIES}
 *     entries) from each never-listed directory and a readdir of each known one; what it listed is kept (the
 *     index), and what a walk brought before the session closed is applied after it, so a session closed
 *     first (a short run) leaves the next to go on from there;</li>
 * <li>once a run is kernel-rooted ({@link #eager}), whatever marks a directory unlisted (a push, a
 *     re-listing finding a changed subdirectory, a new host directory) starts a pass at once, since no
 *     stop will ask for it.</li>
 * </ul>
 * Past {@link MirrorCache#wholeCap} entries (a huge bind such as $HOME) a tree is never completed nor
 * whole: it stays in rewrite mode (logged once). One pass per tree at a time ({@link Tree#completing});
 * passes stop when the session or the cache closes.
 */
final class Wholeness {
    private static final Logger LOG = LoggerFactory.getLogger(Wholeness.class);
    /**
     * Unlisted directories listed before a run's answer: each is one round trip, 8 in flight, so at most
     * 8 round trips of waiting, well under what the stops of one rewrite-mode run cost. More means a cold
     * tree, completed in the background instead.
     */
    static final int FEW = 64;
    private static final int FEW_PARALLEL = 8;
    /** Entries walk listings may bring before a run's answer, all together (new directories holding subtrees). */
    private static final int FEW_WALK_ENTRIES = 4096;
    /** Rounds of the start-time listing: a directory found stale may hold new ones, which may hold more. */
    private static final int FEW_ROUNDS = 4;

    /** The session's calls: once per path, waiting for one in flight. */
    interface Work {
        boolean closed();

        /** Lists {@code relDir} (its parents first if need be). */
        void list(Mount m, String relDir) throws ErrnoException;

        /** Lists {@code relDir}'s subtree in one request and applies every directory of it not listed yet; returns its entries. */
        int walk(Mount m, String relDir, int maxEntries) throws ErrnoException;
    }

    private final MirrorCache cache;
    private final Work work;
    /** A run over this session went kernel-rooted: keep every tree whole without being asked. */
    volatile boolean eager;
    /** Trees this session is the first run of: not completed by it ({@link #check}). */
    private final java.util.Set<Tree> firstRuns = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** Passes started and not finished ({@link #await}, tests). */
    private final java.util.Set<CompletableFuture<?>> running = java.util.concurrent.ConcurrentHashMap.newKeySet();

    Wholeness(MirrorCache cache, Work work) {
        this.cache = cache;
        this.work = work;
    }

    /**
     * The answer for {@code m}'s subtree at {@code rel}, asked when a run starts: a few unlisted
     * directories are listed first; if it is still not whole, a completion pass starts in the background.
     */
    boolean check(Mount m, String rel) {
        Tree t = m.tree();
        if (overCap(t)) return false;
        // A tree's first run (never listed when its session opened) starts no completion: a cold run (often the
        // only one over a scratch export) does not share its link and CPU with a walk of the whole export; the
        // second run starts it. (By the time this is asked the launch has listed a few directories already.)
        if (firstRuns.contains(t)) return false;
        List<String> todo = unlisted(t, rel);
        if (todo == null || todo.size() > FEW) {
            complete(m);
            return false;
        }
        int listedBefore = todo.size();
        java.util.concurrent.atomic.AtomicInteger walkBudget = new java.util.concurrent.atomic.AtomicInteger(FEW_WALK_ENTRIES);
        for (int round = 0, budget = FEW; !todo.isEmpty() && round < FEW_ROUNDS && budget > 0; round++) {
            List<String> now = todo.subList(0, Math.min(todo.size(), budget));
            budget -= now.size();
            listAll(m, now, walkBudget, cache.io()); // the run waits for these
            if (work.closed()) return false;
            todo = unlisted(t, rel);
            if (todo == null) break;
        }
        boolean whole = todo != null && todo.isEmpty() && !incompleteUnder(t, rel) && !overCap(t);
        if (!whole) complete(m);
        // Said once when the tree becomes whole, not at each run that re-lists what it changed last time.
        if (rel.isEmpty() && whole != t.answeredWhole) {
            t.answeredWhole = whole;
            if (whole && listedBefore > 0 && !eager) LOG.info("mirror {}: whole: {} directories listed before the run", t.key, listedBefore);
        }
        return whole;
    }

    /** This session opened {@code t} never listed: it is the tree's first run. */
    void firstRun(Tree t) {
        firstRuns.add(t);
    }

    /** Lists {@code dirs} now, {@link #FEW_PARALLEL} at a time; failures leave them unlisted (logged). */
    private void listAll(Mount m, List<String> dirs, java.util.concurrent.atomic.AtomicInteger walkBudget,
            java.util.concurrent.Executor pool) {
        java.util.concurrent.Semaphore slots = new java.util.concurrent.Semaphore(FEW_PARALLEL);
        List<CompletableFuture<Void>> all = new ArrayList<>();
        for (String d : dirs) {
            if (work.closed() || cache.closed()) break; // what is in flight finishes; the rest waits for a session
            try {
                slots.acquire();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            try {
                all.add(CompletableFuture.runAsync(() -> {
                    try {
                        listOne(m, d, walkBudget);
                    } finally {
                        slots.release();
                    }
                }, pool));
            } catch (RejectedExecutionException e) {
                slots.release();
                break; // the cache is closing
            }
        }
        for (CompletableFuture<Void> f : all) {
            try {
                f.get(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (ExecutionException | TimeoutException e) {
                LOG.debug("mirror: listing before a run: {}", e.toString());
            }
        }
    }

    /**
     * Lists one unlisted directory: a walk of its subtree when it was never listed (its mirror is empty,
     * so all below it is unknown), else a readdir (its subdirectories are known and listed on their own).
     * An unreadable one is noted in {@link Tree#incomplete} and not asked for again by passes.
     */
    private void listOne(Mount m, String rel, java.util.concurrent.atomic.AtomicInteger walkBudget) {
        Tree t = m.tree();
        try {
            if (isListed(t, rel)) {
                // listed lazily by a rewrite-mode run: its names made, no round trip
            } else if (neverListed(t, rel)) {
                int max = walkBudget == null ? ReadAhead.MAX_WALK_ENTRIES : walkBudget.get();
                if (max <= 0) return; // past the budget: left to the background
                int got = work.walk(m, rel, max);
                if (walkBudget != null) walkBudget.addAndGet(-got);
            } else {
                work.list(m, rel);
            }
            if (isListed(t, rel)) t.materializeDir(rel);
            t.incomplete.remove(rel); // unless the listing itself found an entry it could not mirror
        } catch (ErrnoException e) {
            if (e.errno() == Errno.EACCES || e.errno() == Errno.EPERM) {
                t.incomplete.add(rel);
                LOG.debug("mirror {}: {} cannot be listed ({}): the tree is not whole", t.key, rel, e.getMessage());
            } else {
                LOG.debug("mirror {}: listing {}: {}", t.key, rel, e.getMessage());
            }
        }
    }

    private static boolean neverListed(Tree t, String rel) {
        try {
            // Not made yet (its parent was listed lazily by a rewrite-mode run): never listed either.
            MirrorFs.LocalStat st = MirrorFs.lstatOrNull(t.pathOf(rel));
            return st == null || st.isDirectory() && MirrorFs.list(t.pathOf(rel)).isEmpty();
        } catch (ErrnoException e) {
            return false;
        }
    }

    /**
     * Starts a pass over {@code m}'s tree in the background unless one runs (then that one goes round
     * again): lists every unlisted directory until none is left, the session or cache closes, or the tree
     * outgrows the cap.
     */
    void complete(Mount m) {
        Tree t = m.tree();
        if (work.closed() || t.tooBig) return;
        t.wanting.put(this, m);
        t.passAgain.set(true);
        if (!t.completing.compareAndSet(false, true)) return;
        CompletableFuture<Void> f;
        try {
            f = CompletableFuture.runAsync(() -> pass(m), cache.passes());
        } catch (RejectedExecutionException e) {
            t.completing.set(false);
            return;
        }
        running.add(f);
        f.whenComplete((ok, err) -> {
            running.remove(f);
            if (err != null) LOG.warn("mirror {}: completion pass failed", t.key, err);
        });
    }

    /** Another pass on {@code t}, in the first open session that asked for one. */
    private static void handOn(Tree t) {
        for (java.util.Map.Entry<Wholeness, Mount> w : t.wanting.entrySet()) {
            if (w.getKey().work.closed()) {
                t.wanting.remove(w.getKey(), w.getValue());
                continue;
            }
            w.getKey().complete(w.getValue());
            return;
        }
    }

    /** The session closed: its passes stop at their next directory, and other sessions' go on. */
    void close(List<Mount> mounts) {
        for (Mount m : mounts) m.tree().wanting.remove(this);
    }

    /** A pass was asked for by a change: only once a run is kernel-rooted (rewrite mode lists on use). */
    void touched(Mount m) {
        if (eager) complete(m);
    }

    private void pass(Mount m) {
        Tree t = m.tree();
        long t0 = System.nanoTime();
        int listed = 0;
        try {
            while (t.passAgain.getAndSet(false)) {
                while (true) {
                    if (work.closed() || cache.closed() || overCap(t)) return;
                    List<String> todo = unlisted(t, "");
                    if (todo == null) todo = new ArrayList<>(List.of(""));
                    todo.removeIf(t.incomplete::contains); // unreadable: asked again only when used
                    if (todo.isEmpty()) break;
                    int before = listed;
                    todo.removeIf(rel -> made(t, rel));
                    // In parallel: a cold tree's frontier is many subtrees, and a short run's session ends
                    // after a few round trips; what a walk brought by then is applied all the same.
                    listAll(m, todo, null, cache.background());
                    for (String rel : todo) {
                        if (made(t, rel)) listed++;
                    }
                    if (listed == before) break; // nothing would list (a lost connection): the next ask retries
                }
            }
        } finally {
            t.completing.set(false);
            // Asked for after our last look and before the flag went down: go round again, or, our session
            // closed, in another session that asked.
            if (work.closed()) {
                t.wanting.remove(this);
                if (!cache.closed()) t.passAgain.set(true); // cut short: not known to be done
            }
            if (t.passAgain.get()) handOn(t);
            if (listed > 0) {
                List<String> left = unlisted(t, "");
                boolean whole = left != null && left.isEmpty();
                // Info when a pass makes a tree whole: the next run over it is kernel-rooted (what a user, and
                // bench/nonfs.sh waiting for it, want to know); an eager pass keeping a kernel-rooted run's tree whole is routine.
                if (whole && !eager && !t.answeredWhole) {
                    LOG.info("mirror {}: whole: {} directories listed in the background in {} ms, {} entries", t.key, listed,
                            (System.nanoTime() - t0) / 1_000_000, t.entries.size());
                } else {
                    LOG.debug("mirror {}: {} directories listed in the background in {} ms, {} entries, not whole yet", t.key,
                            listed, (System.nanoTime() - t0) / 1_000_000, t.entries.size());
                }
            }
        }
    }

    /** Whether {@code t} has outgrown the completion cap (logged the first time). */
    private boolean overCap(Tree t) {
        if (t.tooBig) return true;
        if (t.entries.size() <= cache.wholeCap()) return false;
        t.tooBig = true;
        LOG.info("mirror {}: over {} entries: not completed, runs over it stay in rewrite mode", t.key, cache.wholeCap());
        return true;
    }

    private static boolean incompleteUnder(Tree t, String rel) {
        for (String r : t.incomplete) {
            if (Tree.isUnder(r, rel)) return true;
        }
        return false;
    }

    /**
     * The unlisted directories at and below {@code rel}, parents first; null if {@code rel} itself was
     * never seen (a cold tree). A scan of the tree's entries: once per run start and per pass round.
     */
    static List<String> unlisted(Tree t, String rel) {
        Entry top = t.entries.get(rel);
        if (top == null) return null;
        List<String> out = new ArrayList<>();
        for (Entry e : t.entries.values()) {
            if (!Tree.isUnder(e.rel, rel)) continue;
            boolean listed;
            HostAttr a;
            synchronized (e) {
                listed = e.listed;
                a = e.attr;
            }
            if (listed && !t.sparse.containsKey(e.rel)) continue; // sparse: listed lazily, some names still to make
            if (a != null ? a.isDirectory() : isLocalDir(t, e.rel)) out.add(e.rel);
        }
        out.sort(java.util.Comparator.comparingInt(String::length).thenComparing(java.util.Comparator.naturalOrder()));
        return out;
    }

    private static boolean isLocalDir(Tree t, String rel) {
        try {
            MirrorFs.LocalStat st = MirrorFs.lstatOrNull(t.pathOf(rel));
            return st != null && st.isDirectory();
        } catch (ErrnoException e) {
            return false;
        }
    }

    /** Listed, and every entry made here (not {@link Tree#sparse}). */
    private static boolean made(Tree t, String rel) {
        return isListed(t, rel) && !t.sparse.containsKey(rel);
    }

    private static boolean isListed(Tree t, String rel) {
        Entry e = t.entries.get(rel);
        if (e == null) return false;
        synchronized (e) {
            return e.listed;
        }
    }

    /** Whether a pass of this session's runs. */
    boolean busy() {
        return !running.isEmpty();
    }

    /** Waits for the passes started so far (tests, benchmarks). */
    void await() {
        while (!running.isEmpty()) {
            for (CompletableFuture<?> f : List.copyOf(running)) {
                try {
                    f.get(600, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                } catch (ExecutionException | TimeoutException e) {
                    LOG.debug("mirror: completion pass: {}", e.toString());
                }
                running.remove(f);
            }
        }
    }
}
