package io.tether.daemon.mirror;

import io.tether.daemon.files.HostAttr;
import io.tether.daemon.files.HostExport;
import io.tether.daemon.files.HostFiles;
import io.tether.daemon.files.HostListing;
import io.tether.daemon.guest.Bind;
import io.tether.daemon.guest.Change;
import io.tether.daemon.guest.FileKind;
import io.tether.daemon.guest.GuestFileAccess;
import io.tether.daemon.guest.LocalFileAccess;
import io.tether.daemon.guest.OpenGate;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.io.Closeable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One guest run's view of the mirror, bound to that run's {@link HostFiles}: the
 * {@link GuestFileAccess} of its {@link io.tether.daemon.guest.GuestView}. Paths it is given are
 * target paths; those inside an export's mirror are served from (and kept true to) the host, all
 * others (the target's own /dev, /proc, /sys, glue directories) are this machine's files.
 *
 * <p>Build the view with {@code GuestView.builder(s.rootHostPath()).fileAccess(s)} and
 * {@code .bind(b)} for each of {@link #binds()}; call {@link #flush()} at the end of the run (and
 * before anything runs on the host) and {@link #close()} after. Thread-safe.
 */
public final class MirrorSession implements GuestFileAccess, Closeable {
    private static final Logger LOG = LoggerFactory.getLogger(MirrorSession.class);
    private static final int ESTALE = 116;
    private static final int RENAME_EXCHANGE = 2;
    private static final int MAX_LINKS = 40;
    private static final int O_PATH = 010000000;
    /** Encoded size of a ValidateEntry besides its rel (tags, varints), rounded up; and a request's budget. */
    private static final int VALIDATION_OVERHEAD = 48, VALIDATION_BATCH_BYTES = 48 * 1024;

    private final MirrorCache cache;
    private final HostFiles files;
    private final List<Mount> mounts;            // by export id order
    private final List<Mount> byRootLength;      // longest mirror root first
    private final List<Mount> byGuestLength;     // longest guest path first
    private final WriteBack writeBack;
    private final OwnChanges own;
    private final MirrorStats.Counters counters;
    private final Set<CompletableFuture<?>> prefetches = ConcurrentHashMap.newKeySet();
    private final Set<String> prefetched = ConcurrentHashMap.newKeySet();
    /** Mount id + rel of the loaders and libraries execs prefetched: their opens are not reads of a directory (ReadAhead). */
    private final Set<String> loaderFiles = ConcurrentHashMap.newKeySet();
    /**
     * Programs this session prepared for an exec ("export:rel"): their contents as of that attribute,
     * their loader (null: none, or outside the mirrors) fetched and their libraries asked for. A shell
     * loop execs the same few programs again and again; each later exec only checks both are still here.
     */
    private final ConcurrentHashMap<String, ExecReady> execReady = new ConcurrentHashMap<>();

    private record ExecReady(HostAttr attr, Loc loader) {}
    /** Directories and symlinks the tracer's resolution found in this session's mirrors (and their targets). */
    private final LookupCache lookups;
    /** Host changes pushed and taken as news (not echoes): each empties {@link #lookups}. */
    private final java.util.concurrent.atomic.AtomicLong hostChanges = new java.util.concurrent.atomic.AtomicLong();
    private final Set<String> relistQueued = ConcurrentHashMap.newKeySet();
    /** Re-listings and attribute refreshes queued on the I/O pool and not done yet ({@link #awaitBackground}). */
    private final Set<CompletableFuture<?>> queued = ConcurrentHashMap.newKeySet();
    /** This session's marks on paths the kernel is about to change ({@link Tree#expectKernel}), settled at close. */
    private final java.util.Queue<Flux> fluxMarks = new java.util.concurrent.ConcurrentLinkedQueue<>();
    private final ReadAhead ahead;
    private final Wholeness whole;
    /** Directories of walk listings received ahead and not yet applied ("export:rel"): whoever needs one first applies it. */
    private final ConcurrentHashMap<String, Streamed> streamed = new ConcurrentHashMap<>();
    private volatile boolean closed;
    /** The client's watch epoch (tether.proto FilesOpen.watch_epoch), and the trees this session counts in. */
    private final long epoch;
    private final List<Tree> started = new ArrayList<>();

    private record Flux(Tree tree, String rel, long mark) {}

    /** A directory's listing from a walk listing, and the tree's change count when that was asked for. */
    private record Streamed(HostListing listing, long changes, long seq) {}

    private MirrorSession(MirrorCache cache, HostFiles files, List<Mount> mounts, WriteBack writeBack,
                          MirrorStats.Counters counters, OwnChanges own) {
        this.own = own;
        this.cache = cache;
        this.counters = counters;
        this.files = files;
        this.mounts = mounts;
        this.writeBack = writeBack;
        this.epoch = files.watchEpoch();
        List<Mount> r = new ArrayList<>(mounts);
        r.sort(Comparator.comparingInt((Mount m) -> m.tree().root.length()).reversed());
        this.byRootLength = List.copyOf(r);
        List<Mount> g = new ArrayList<>(mounts);
        g.sort(Comparator.comparingInt((Mount m) -> m.guestPath().length()).reversed());
        this.byGuestLength = List.copyOf(g);
        this.lookups = new LookupCache(() -> {
            long sum = hostChanges.get();
            for (Mount m : mounts) sum += m.tree().layout.get();
            return sum;
        });
        this.ahead = new ReadAhead(cache, new ReadAhead.Work() {
            // What a walk lists ahead of the tracee is made whole ahead too: it opens those directories
            // next (getdents wants every name), and the names are made here, not on the tracer's thread.
            @Override
            public void list(Mount m, String relDir) throws ErrnoException {
                ensureListed(m, relDir);
                m.tree().materializeDir(relDir);
            }

            @Override
            public void fetch(Mount m, String rel) throws ErrnoException {
                ensureContents(m, rel);
            }

            @Override
            public int listWalk(Mount m, String relDir, int maxEntries, java.util.function.Consumer<String> arrived)
                    throws ErrnoException {
                return MirrorSession.this.listWalk(m, relDir, maxEntries, arrived);
            }

            @Override
            public void applyKept(Mount m, String relDir) throws ErrnoException {
                if (!streamed.containsKey(m.key(relDir))) return;
                ensureListed(m, relDir);
                m.tree().materializeDir(relDir);
            }
        });
        this.whole = new Wholeness(cache, new Wholeness.Work() {
            @Override
            public boolean closed() {
                return closed;
            }

            @Override
            public void list(Mount m, String relDir) throws ErrnoException {
                ensureListed(m, relDir);
            }

            @Override
            public int walk(Mount m, String relDir, int maxEntries) throws ErrnoException {
                return walkAndApply(m, relDir, maxEntries);
            }
        });
    }

    static MirrorSession start(MirrorCache cache, HostFiles files) throws ErrnoException {
        List<HostExport> exports = files.exports();
        if (exports.isEmpty() || exports.stream().noneMatch(e -> e.id() == 0)) {
            throw new ErrnoException(Errno.EINVAL, "mirror session", "no export 0 (the guest root)");
        }
        List<Mount> mounts = new ArrayList<>();
        try {
            for (HostExport e : exports) mounts.add(new Mount(e, cache.acquire(e.cacheKey())));
        } catch (ErrnoException | RuntimeException e) {
            for (Mount m : mounts) cache.release(m.tree());
            throw e;
        }
        mounts.sort(Comparator.comparingInt(Mount::id));
        MirrorStats.Counters counters = new MirrorStats.Counters();
        OwnChanges own = new OwnChanges();
        WriteBack writeBack = new WriteBack(cache, files, counters, own);
        MirrorSession s = new MirrorSession(cache, files, List.copyOf(mounts), writeBack, counters, own);
        for (Mount m : s.mounts) {
            // Never listed, and no earlier session of this daemon on it: this is its first run. (A bind that runs
            // never looked into stays unlisted: its second run on completes it, or it would never be whole.)
            if (m.tree().runs.getAndIncrement() == 0 && m.tree().entries.get("") == null) s.whole.firstRun(m.tree());
        }
        try {
            files.onChanged(s::invalidated);
            for (Mount m : s.mounts) {
                boolean trusted = m.tree().sessionStarted(s.epoch);
                s.started.add(m.tree());
                if (!(trusted && s.changesSince(m))) {
                    s.validate(m);
                    m.tree().validatedUnder(s.epoch);
                }
            }
        } catch (ErrnoException | RuntimeException e) {
            s.closed = true;
            s.ahead.close();
            writeBack.close();
            s.endSessions();
            for (Mount m : s.mounts) cache.release(m.tree());
            throw e;
        }
        return s;
    }

    // ---- what the integrator needs ----

    /** Target path of export 0's mirror: the guest root of the view. */
    public String rootHostPath() {
        return mounts.get(0).tree().root;
    }

    /** The other exports' mirrors at their guest paths, for the view's binds. */
    public List<Bind> binds() {
        List<Bind> binds = new ArrayList<>();
        for (Mount m : mounts) {
            if (m.id() != 0 && !m.guestPath().equals("/")) binds.add(new Bind(m.tree().root, m.guestPath()));
        }
        return binds;
    }

    /** The cache this session belongs to. */
    public MirrorCache cache() {
        return cache;
    }

    // ---- coherence ----

    /**
     * After a host execution: the directories and the files whose contents are cached are checked
     * against the host again, one round trip per export, so what the host program created, removed,
     * renamed or rewrote is seen at once (the client's inotify pushes may still be on their way). The
     * attributes of files the target never read (placeholders of a listing, often thousands in a bound
     * /usr/bin) are left to those pushes: checking them all would cost far more than the exec.
     */
    @Override
    public void hostChanged() throws ErrnoException {
        if (closed) return;
        for (Mount m : mounts) validate(m, true);
    }

    /** What an earlier run (or an invalidation) left: checked in one round trip; stale entries re-listed when used. */
    private void validate(Mount m) throws ErrnoException {
        validate(m, false);
    }

    /** As {@link #validate(Mount)}; {@code contentsOnly}: directories and files with cached contents only. */
    private void validate(Mount m, boolean contentsOnly) throws ErrnoException {
        List<HostFiles.Validation> cached = new ArrayList<>();
        for (Entry e : m.tree().entries.values()) {
            HostAttr a;
            boolean contents;
            synchronized (e) {
                a = e.attr;
                contents = e.contents;
            }
            if (contentsOnly && a != null && !a.isDirectory() && !contents) continue;
            if (a == null) {
                staleParent(m, e.rel);
                continue;
            }
            cached.add(new HostFiles.Validation(e.rel, a.mtimeNs(), a.ctimeNs(), a.size(), a.ino()));
        }
        if (cached.isEmpty()) return;
        // One round trip in the common case; a big cache is split so each request fits one protocol
        // message (64 KiB), and the parts go out together.
        List<List<HostFiles.Validation>> parts = new ArrayList<>();
        List<HostFiles.Validation> part = new ArrayList<>();
        int bytes = 0;
        for (HostFiles.Validation v : cached) {
            int size = v.rel().length() + VALIDATION_OVERHEAD;
            if (!part.isEmpty() && bytes + size > VALIDATION_BATCH_BYTES) {
                parts.add(part);
                part = new ArrayList<>();
                bytes = 0;
            }
            part.add(v);
            bytes += size;
        }
        parts.add(part);
        List<String> stale = new ArrayList<>();
        if (parts.size() == 1) {
            counters.validations.increment();
            stale.addAll(files.validate(m.id(), parts.get(0)));
        } else {
            List<CompletableFuture<List<String>>> replies = new ArrayList<>();
            for (List<HostFiles.Validation> p : parts) {
                counters.validations.increment();
                replies.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        return files.validate(m.id(), p);
                    } catch (ErrnoException e) {
                        throw new java.util.concurrent.CompletionException(e);
                    }
                }, cache.io()));
            }
            for (CompletableFuture<List<String>> r : replies) {
                try {
                    stale.addAll(r.get());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new ErrnoException(Errno.EINTR, "validate", m.tree().key);
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof ErrnoException x) throw new ErrnoException(x.errno(), x.op(), x.subject());
                    throw new ErrnoException(Errno.EIO, "validate", m.tree().key + ": " + e.getCause());
                }
            }
        }
        for (String rel : stale) stale(m, rel);
        LOG.debug("mirror {}: {} cached entries validated in {} requests, {} stale", m.tree().key, cached.size(),
                parts.size(), stale.size());
    }

    /**
     * The client has watched everything this tree holds since the last session of its epoch: what
     * changed since, in one small round trip, instead of revalidating each entry. False if it cannot tell.
     */
    private boolean changesSince(Mount m) throws ErrnoException {
        List<HostFiles.Changed> changed;
        try {
            counters.validations.increment();
            changed = files.changesNow(m.id());
        } catch (ErrnoException e) {
            if (e.errno() != ESTALE) throw e;
            LOG.debug("mirror {}: {}; revalidating", m.tree().key, e.getMessage());
            return false;
        }
        int echoes = 0;
        for (HostFiles.Changed c : changed) {
            if (holds(m, c)) echoes++;
            else stale(m, c.rel());
        }
        counters.journaled.add(changed.size());
        counters.echoes.add(echoes);
        LOG.debug("mirror {}: watched since the last run, {} changed ({} already held)", m.tree().key, changed.size(), echoes);
        return true;
    }

    /**
     * Whether the mirror already holds what the host has at {@code c.rel()} now: the echo of a change this
     * daemon made itself (it took the host's answer as its entry), not news. A regular file, symlink or node
     * must match in type, mode, owner, size, inode and both times; a directory in type, mode, owner and
     * inode only, since its times move with its entries, which its own watch reports. Gone: held if we
     * hold nothing there either. A file or symlink the host showed with a ctime older than the one we
     * hold is held too: the client looked before a later change whose answer (ours, or a later listing's)
     * we took, so it says nothing new (gcc's temporaries: created, then written back or chmod'ed, each
     * echo arriving after the next change). A change after what we hold has a ctime at least ours, so
     * strictly older is safe, unless the host's clock steps back.
     */
    private boolean holds(Mount m, HostFiles.Changed c) {
        if (!c.known() || c.rel().isEmpty()) return false;
        // A listing of its directory in flight, or kept from a walk, may have read the host before this change: news.
        String dir = Tree.parentOf(c.rel());
        if (m.tree().inFlight.containsKey("L:" + dir) || streamed.containsKey(m.key(dir))) return false;
        Entry e = m.tree().entries.get(c.rel());
        HostAttr now = c.now();
        if (now == null) return e == null;
        if (e == null) return false;
        HostAttr had;
        synchronized (e) {
            had = e.attr;
        }
        if (had == null) return false;
        if (!now.isDirectory() && !had.isDirectory() && now.ctimeNs() < had.ctimeNs()) return true;
        if (had.mode() != now.mode() || had.uid() != now.uid() || had.gid() != now.gid() || had.ino() != now.ino()) {
            return false;
        }
        return now.isDirectory() || had.sameContentAs(now);
    }

    private void endSessions() {
        synchronized (started) {
            for (Tree t : started) t.sessionEnded(epoch);
            started.clear();
        }
    }

    /** {@code rel} changed on the host: a directory is re-listed, the listing holding it too (which re-states it). */
    private void stale(Mount m, String rel) {
        Entry e = m.tree().entries.get(rel);
        if (e != null) {
            synchronized (e) {
                if (e.attr == null || e.attr.isDirectory()) {
                    e.listed = false;
                    e.gen++;
                }
            }
        }
        staleParent(m, rel);
    }

    private void staleParent(Mount m, String rel) {
        if (rel.isEmpty()) {
            whole.touched(m);
            return;
        }
        Entry p = m.tree().entries.get(Tree.parentOf(rel));
        if (p != null) {
            synchronized (p) {
                p.listed = false;
                p.gen++;
            }
        }
        whole.touched(m);
    }

    /**
     * Push invalidation from the host (an I/O thread). The directory holding what changed (or the
     * directory itself) is marked to be listed again, which re-states placeholders and drops contents
     * that changed, and that listing starts at once in the background: a tracee waits only if it
     * looks in that directory before the listing is done, and then sees the change. Echoes of the
     * session's own changes cost a listing, never a stale answer.
     */
    private void invalidated(Integer export, HostFiles.Changed c) {
        if (closed) return;
        counters.pushes.increment();
        // Our own change of it still being applied here: told apart from news once it is.
        if (c.known() && own.deferred(export, c.rel(), () -> invalidatedNow(export, c))) return;
        invalidatedNow(export, c);
    }

    private void invalidatedNow(int export, HostFiles.Changed c) {
        if (closed) return;
        String rel = c.rel();
        for (Mount m : mounts) {
            if (m.id() != export) continue;
            if (holds(m, c)) {
                counters.echoes.increment();
                LOG.trace("mirror {}: host change of {} is held already", m.tree().key, rel);
                continue;
            }
            LOG.trace("mirror {}: host changed {}", m.tree().key, rel);
            m.tree().changes.incrementAndGet();
            hostChanges.incrementAndGet();
            Entry e = m.tree().entries.get(rel);
            boolean dir;
            if (e == null) {
                dir = false;
            } else {
                synchronized (e) {
                    dir = e.attr == null || e.attr.isDirectory();
                    if (dir) e.gen++;
                }
            }
            String relDir = dir || rel.isEmpty() ? rel : Tree.parentOf(rel);
            if (!dir) {
                Entry p = m.tree().entries.get(relDir);
                if (p != null) {
                    synchronized (p) {
                        p.gen++;
                    }
                }
            }
            relistLater(m, relDir);
            whole.touched(m); // kernel-rooted: a new directory below is listed too, unasked
        }
    }

    /** Lists {@code relDir} again on the I/O pool if it is listed now (an unlisted one is listed when used). */
    private void relistLater(Mount m, String relDir) {
        Entry d = m.tree().entries.get(relDir);
        if (d == null) return; // never listed
        boolean listed;
        synchronized (d) {
            listed = d.listed;
            d.listed = false; // whoever looks in it before the listing below is done waits for one
        }
        // Listed when next used; kernel-rooted, no stop asks: Wholeness lists it.
        if (!listed && !m.tree().inFlight.containsKey("L:" + relDir)) return;
        if (!relistQueued.add(m.key(relDir))) return; // one queued per directory is enough
        try {
            later(() -> {
                relistQueued.remove(m.key(relDir));
                if (closed) return;
                try {
                    once(m.tree(), "L:" + relDir, () -> isListed(m, relDir), () -> list(m, relDir));
                } catch (ErrnoException e) {
                    LOG.debug("mirror {}: re-listing {} after a host change: {}", m.tree().key, relDir, e.getMessage());
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException e) {
            relistQueued.remove(m.key(relDir));
            synchronized (d) {
                d.listed = false; // the cache is closing: listed again if ever used
            }
        }
    }

    /** Runs {@code task} on the I/O pool, counted in {@link #queued} until it is done. */
    private void later(Runnable task) {
        CompletableFuture<Void> f = CompletableFuture.runAsync(task, cache.io());
        queued.add(f);
        f.whenComplete((ok, err) -> queued.remove(f));
    }

    private void expectKernel(Tree tree, String rel) {
        long mark = tree.expectKernel(rel);
        // Marks come in deadline order: the expired ones at the head are settled already.
        for (Flux f; (f = fluxMarks.peek()) != null && mark - Tree.FLUX_NS - f.mark() > 0; ) fluxMarks.remove(f);
        fluxMarks.add(new Flux(tree, rel, mark));
    }

    // ---- path mapping ----

    private record Loc(Mount mount, String rel) {
        String path() {
            return mount.pathOf(rel);
        }
    }

    /** The export and export-relative path of a target path inside a mirror, or null. */
    private Loc locate(String targetPath) {
        String p = targetPath;
        while (p.length() > 1 && (p.endsWith("/") || p.endsWith("/."))) p = p.substring(0, p.length() - (p.endsWith("/") ? 1 : 2));
        for (Mount m : byRootLength) {
            String root = m.tree().root;
            if (p.equals(root)) return new Loc(m, "");
            if (p.startsWith(root) && p.charAt(root.length()) == '/') return new Loc(m, p.substring(root.length() + 1));
        }
        return null;
    }

    // ---- population and contents ----

    /** The entries of {@code relDir} are present in the mirror (one readdir with attributes, once). */
    private void ensureListed(Mount m, String relDir) throws ErrnoException {
        Entry e = m.tree().entries.get(relDir);
        if (e != null) {
            synchronized (e) {
                if (e.listed) {
                    e.lastUse = System.currentTimeMillis();
                    return;
                }
            }
        }
        if (!relDir.isEmpty()) {
            ensureListed(m, Tree.parentOf(relDir));
            e = m.tree().entries.get(relDir);
            if (e == null) throw new ErrnoException(Errno.ENOENT, "lookup", m.pathOf(relDir));
            HostAttr a;
            synchronized (e) {
                a = e.attr;
            }
            if (a != null && !a.isDirectory()) throw new ErrnoException(Errno.ENOTDIR, "lookup", m.pathOf(relDir));
        }
        once(m.tree(), "L:" + relDir, () -> isListed(m, relDir), () -> list(m, relDir));
    }

    /**
     * Asks for the listings of {@code hostDirs} the mirror lacks, each on the I/O pool at once, and keeps
     * them as a walk's are ({@link #streamed}): whoever lists one first applies it, unless the host may have
     * changed since it was read. A directory its listed parent lacks, or has as something else, is not
     * asked for; one the host cannot list is listed again when needed, for its errno.
     */
    @Override
    public void listAhead(List<String> hostDirs) {
        for (String hostDir : hostDirs) {
            Loc l = locate(hostDir);
            if (closed || l == null) continue;
            Mount m = l.mount();
            String rel = l.rel();
            if (isListed(m, rel) || streamed.containsKey(m.key(rel)) || knownNotDirectory(m, rel)) continue;
            try {
                later(() -> listAheadOne(m, rel));
            } catch (java.util.concurrent.RejectedExecutionException e) {
                return; // the cache is closing
            }
        }
    }

    /**
     * One listing of {@link #listAhead}. It stands as the directory's listing in flight ("L:" in
     * {@link Tree#inFlight}) while it runs, so a lookup that needs it waits for it instead of asking again,
     * and a push meanwhile is news ({@link #holds}). Taken only once running: a pool task must never wait
     * for a queued one, and a lookup that came first lists the directory itself.
     */
    private void listAheadOne(Mount m, String rel) {
        Tree tree = m.tree();
        String key = "L:" + rel;
        CompletableFuture<Void> mine = new CompletableFuture<>();
        if (closed || tree.inFlight.putIfAbsent(key, mine) != null) return;
        try {
            if (isListed(m, rel) || streamed.containsKey(m.key(rel))) return;
            long asked = tree.changes.get(), seq = tree.changeSeq.get();
            counters.listings.increment();
            HostListing listing = files.readdir(m.id(), rel);
            if (!closed) streamed.put(m.key(rel), new Streamed(listing, asked, seq));
        } catch (ErrnoException | RuntimeException e) {
            LOG.debug("mirror {}: listing {} ahead: {}", tree.key, rel, e.getMessage());
        } finally {
            tree.inFlight.remove(key, mine);
            mine.complete(null); // waiters look again: applied from streamed, or listed by themselves
        }
    }

    /** Whether a listed directory above {@code rel} says the host has no directory there (nothing, or something else). */
    private boolean knownNotDirectory(Mount m, String rel) {
        // The deepest ancestor (or itself) whose parent is listed decides: a PATH entry under a directory the
        // guest lacks (/root/.cargo/bin) is not asked for at every run.
        for (String r = rel; !r.isEmpty(); r = Tree.parentOf(r)) {
            if (!isListed(m, Tree.parentOf(r))) continue;
            Entry e = m.tree().entries.get(r);
            if (e == null) return true;
            synchronized (e) {
                return e.attr != null && !e.attr.isDirectory();
            }
        }
        return false;
    }

    /**
     * {@code rel}'s directory listed and {@code rel} itself made here if that listing was lazy (nothing if the
     * host has no such name): what the kernel is about to look up exists in the mirror as on the host.
     */
    private void present(Mount m, String rel) throws ErrnoException {
        if (rel.isEmpty()) return;
        ensureListed(m, Tree.parentOf(rel));
        m.tree().materialize(rel);
    }

    private boolean isListed(Mount m, String relDir) {
        Entry e = m.tree().entries.get(relDir);
        if (e == null) return false;
        synchronized (e) {
            return e.listed;
        }
    }

    /**
     * A walk's listings in one request (ReadAhead): each directory is kept as it arrives, and applied by
     * whoever needs it first ({@link #list}), the tracee or the work ahead, in place of a readdir. Kept
     * until then or the session's end: applying one nobody uses would cost its placeholders for nothing.
     */
    private int listWalk(Mount m, String relDir, int maxEntries, java.util.function.Consumer<String> arrived) throws ErrnoException {
        long asked = m.tree().changes.get(), seq = m.tree().changeSeq.get();
        counters.listings.increment();
        counters.walkListings.increment();
        return files.readdirTree(m.id(), relDir, maxEntries, (dir, listing) -> {
            if (closed) return;
            counters.walkDirs.increment();
            if (!isListed(m, dir)) {
                streamed.put(m.key(dir), new Streamed(listing, asked, seq));
                arrived.accept(dir);
            }
        });
    }

    /**
     * Applies a directory of a walk listing, unless the host's tree may have changed since it was asked
     * for (then false: a readdir of its own). The listing was read while the client watched the
     * directory, so a change after it comes as an invalidation, which moves the tree's change count.
     */
    private boolean applyStreamed(Mount m, String relDir, Streamed s, boolean lazy) throws ErrnoException {
        Tree tree = m.tree();
        if (tree.changes.get() != s.changes() || tree.changedSince(relDir, s.seq())) return false;
        long t1 = System.nanoTime(), c1 = MirrorStats.Counters.cpuNs();
        tree.apply(relDir, s.listing(), lazy);
        counters.applyNs.add(System.nanoTime() - t1);
        counters.applyCpuNs.add(MirrorStats.Counters.cpuNs() - c1);
        counters.walkDirsApplied.increment();
        if (tree.changes.get() != s.changes() || tree.changedSince(relDir, s.seq())) {
            Entry after = tree.entries.get(relDir);
            if (after != null) {
                synchronized (after) {
                    after.listed = false; // a change raced the apply: listed again when next used
                }
            }
        }
        return true;
    }

    private void list(Mount m, String relDir) throws ErrnoException {
        Streamed s = streamed.remove(m.key(relDir));
        if (s != null && applyStreamed(m, relDir, s, !whole.eager)) return;
        Entry before = m.tree().entry(relDir, null);
        int gen;
        synchronized (before) {
            gen = before.gen;
        }
        HostListing listing;
        try {
            counters.listings.increment();
            long t0 = System.nanoTime();
            listing = files.readdir(m.id(), relDir);
            counters.listWaitNs.add(System.nanoTime() - t0);
        } catch (ErrnoException ex) {
            if (ex.errno() == Errno.ENOENT || ex.errno() == Errno.ENOTDIR) {
                vanished(m, relDir);
            }
            throw ex;
        }
        long t1 = System.nanoTime(), c1 = MirrorStats.Counters.cpuNs();
        m.tree().apply(relDir, listing, !whole.eager);
        counters.applyNs.add(System.nanoTime() - t1);
        counters.applyCpuNs.add(MirrorStats.Counters.cpuNs() - c1);
        Entry after = m.tree().entries.get(relDir);
        if (after != null && after != before) {
            synchronized (after) {
                // an invalidation that raced the listing leaves it to be listed again
                if (before.gen != gen) after.listed = false;
            }
        } else if (after != null) {
            synchronized (after) {
                if (after.gen != gen) after.listed = false;
            }
        }
        whole.touched(m); // a changed subdirectory it found is unlisted now
    }

    /**
     * Completion ({@link Wholeness}): {@code relDir}'s subtree in one walk listing, each directory not
     * listed yet applied in arrival order (parents first) unless the tree may have changed since it was
     * asked for (then a readdir of its own, as {@link #list} does). Returns the entries the walk brought.
     */
    private int walkAndApply(Mount m, String relDir, int maxEntries) throws ErrnoException {
        if (!relDir.isEmpty()) ensureListed(m, Tree.parentOf(relDir));
        Tree tree = m.tree();
        long asked = tree.changes.get(), seq = tree.changeSeq.get();
        List<java.util.Map.Entry<String, HostListing>> got = java.util.Collections.synchronizedList(new ArrayList<>());
        counters.listings.increment();
        counters.walkListings.increment();
        int entries;
        ErrnoException cut = null;
        try {
            entries = files.readdirTree(m.id(), relDir, maxEntries, (dir, listing) -> got.add(java.util.Map.entry(dir, listing)));
        } catch (ErrnoException ex) {
            if (got.isEmpty()) {
                if (ex.errno() == Errno.ENOENT || ex.errno() == Errno.ENOTDIR) vanished(m, relDir);
                throw ex;
            }
            // Cut short (the session ended, the link dropped): each directory that came is whole, so it is
            // applied; the rest is listed by the next pass.
            cut = ex;
            entries = 0;
            for (java.util.Map.Entry<String, HostListing> d : List.copyOf(got)) entries += d.getValue().entries().size();
        }
        // Applied even once the session has closed: what came is paid for, and a short run's pass would
        // otherwise lose its walk at every run's end and never make the tree whole (each run's session is
        // shorter than placing a walk's placeholders). The tree is safe meanwhile (makeRoom keeps a completing tree).
        for (java.util.Map.Entry<String, HostListing> d : List.copyOf(got)) {
            if (cache.closed()) break;
            String dir = d.getKey();
            counters.walkDirs.increment();
            // A directory whose parent is not applied (it raced a change) waits for a later round.
            if (isListed(m, dir) || (!dir.equals(relDir) && !isListed(m, Tree.parentOf(dir)))) continue;
            Streamed kept = new Streamed(d.getValue(), asked, seq);
            try {
                once(tree, "L:" + dir, () -> isListed(m, dir), () -> {
                    // completion makes every name; a directory the host changed meanwhile is listed again,
                    // by this session while it lasts, else by the next one
                    if (!applyStreamed(m, dir, kept, false) && !closed) list(m, dir);
                });
            } catch (ErrnoException ex) {
                if (dir.equals(relDir)) throw ex;
                LOG.debug("mirror {}: applying {} of a walk: {}", tree.key, dir, ex.getMessage());
            }
        }
        whole.touched(m);
        if (cut != null) throw cut;
        return entries;
    }

    /** The host no longer has {@code rel}: the mirror entry goes too. */
    private void vanished(Mount m, String rel) {
        if (rel.isEmpty()) return;
        try {
            m.tree().removeLocal(rel);
        } catch (ErrnoException e) {
            LOG.warn("mirror {}: cannot remove vanished {}: {}", m.tree().key, rel, e.getMessage());
        }
    }

    /** A regular file's host contents are in the mirror (fetched once, shared by every session). */
    private void ensureContents(Mount m, String rel) throws ErrnoException {
        present(m, rel);
        Entry e = m.tree().entries.get(rel);
        if (e == null) throw new ErrnoException(Errno.ENOENT, "open", m.pathOf(rel));
        synchronized (e) {
            if (e.contents || e.writers > 0) {
                e.lastUse = System.currentTimeMillis();
                return;
            }
            if (e.attr != null && !e.attr.isRegular()) return;
        }
        once(m.tree(), "F:" + rel, () -> hasContents(m, rel), () -> fetch(m, rel));
    }

    private boolean hasContents(Mount m, String rel) {
        Entry e = m.tree().entries.get(rel);
        if (e == null) return false;
        synchronized (e) {
            return e.contents || e.writers > 0;
        }
    }

    private void fetch(Mount m, String rel) throws ErrnoException {
        long t0 = System.nanoTime(), c0 = MirrorStats.Counters.cpuNs();
        try {
            fetch0(m, rel);
        } finally {
            counters.fetchTotalNs.add(System.nanoTime() - t0);
            counters.fetchCpuNs.add(MirrorStats.Counters.cpuNs() - c0);
        }
    }

    private void fetch0(Mount m, String rel) throws ErrnoException {
        for (int attempt = 0; ; attempt++) {
            if (fetchOnce(m, rel, attempt < 2)) return;
        }
    }

    /**
     * Fetches {@code rel} straight into its placeholder's own inode when we may write it, so a program
     * that stat'ed the file before its first read sees the same inode after it (cp compares them:
     * "replaced while being copied"), and the bytes are written once; otherwise (not root and a
     * read-only file, or {@code inPlace} false) into tmp/, renamed into place. False when a listing
     * replaced the placeholder meanwhile (the host changed the file): the caller fetches again.
     */
    private boolean fetchOnce(Mount m, String rel, boolean inPlace) throws ErrnoException {
        Entry e = m.tree().entries.get(rel);
        if (e == null) throw new ErrnoException(Errno.ENOENT, "open", m.pathOf(rel));
        HostAttr had;
        synchronized (e) {
            had = e.attr;
        }
        long expected = had == null ? 0 : had.size();
        String path = m.pathOf(rel);
        cache.reserve(expected, path);
        int fd = inPlace ? openPlaceholder(path) : -1;
        String into = fd >= 0 ? "/proc/self/fd/" + fd : cache.tempPath("fetch");
        try {
            HostAttr a;
            try {
                counters.fetches.increment();
                long t0 = System.nanoTime();
                a = files.fetch(m.id(), rel, java.nio.file.Path.of(into));
                counters.fetchWaitNs.add(System.nanoTime() - t0);
                counters.fetchedBytes.add(a.size());
                if (!a.isRegular()) throw new ErrnoException(ESTALE, "fetch", path);
                if (fd >= 0) MirrorFs.fstamp(fd, a.mode(), Tree.ROOT, a.uid(), a.gid(), a.atimeNs(), a.mtimeNs(), path);
                else Tree.stamp(into, a, false);
            } catch (ErrnoException ex) {
                cache.released(expected);
                if (fd >= 0) placeholderAgain(fd, had);
                else deleteQuietly(into);
                // The cache's disk is full: the trees no session uses make room (one each time), and we fetch again.
                if (Tree.isFull(ex) && cache.makeRoom(m.tree())) return false;
                if (ex.errno() == Errno.ENOENT || ex.errno() == Errno.ENOTDIR) {
                    vanished(m, rel);
                    throw new ErrnoException(Errno.ENOENT, "open", path);
                }
                if (ex.errno() == ESTALE) staleParent(m, rel);
                throw ex;
            }
            synchronized (e) {
                MirrorFs.LocalStat st;
                if (fd >= 0) {
                    st = MirrorFs.fstat(fd);
                    MirrorFs.LocalStat now = MirrorFs.lstatOrNull(path);
                    if (now == null || now.ino() != st.ino() || m.tree().entries.get(rel) != e) {
                        cache.released(expected);
                        return false; // a listing put a fresh placeholder there meanwhile: ours is no one's now
                    }
                } else {
                    try {
                        MirrorFs.rename(into, path);
                    } catch (ErrnoException ex) {
                        cache.released(expected);
                        deleteQuietly(into);
                        throw ex;
                    }
                    st = MirrorFs.lstat(path);
                }
                cache.resized(a.size() - expected);
                e.attr = a;
                e.contents = true;
                e.bytes = a.size();
                e.localIno = st.ino();
                e.localCtimeNs = st.ctimeNs();
                e.lastUse = System.currentTimeMillis();
            }
            cache.indexChanged(m.tree());
            LOG.trace("mirror {}: fetched {} ({} bytes)", m.tree().key, rel, a.size());
            return true;
        } finally {
            MirrorFs.close(fd);
        }
    }

    /** The placeholder at {@code path} opened for writing its contents in, or -1 if there is none we may write. */
    private static int openPlaceholder(String path) throws ErrnoException {
        MirrorFs.LocalStat ph = MirrorFs.lstatOrNull(path);
        if (ph == null || !ph.isRegular()) return -1;
        try {
            return MirrorFs.open(path, MirrorFs.O_WRONLY | MirrorFs.O_NOFOLLOW, 0);
        } catch (ErrnoException ex) {
            int n = ex.errno();
            if (n == Errno.EACCES || n == Errno.EPERM || n == Errno.ETXTBSY || n == Errno.ENOENT || n == Errno.ELOOP) return -1;
            throw ex;
        }
    }

    /** A fetch into the placeholder failed halfway: back to a sparse file of the size and times it had. */
    private static void placeholderAgain(int fd, HostAttr had) {
        try {
            MirrorFs.ftruncate(fd, 0, "placeholder");
            if (had != null) {
                MirrorFs.ftruncate(fd, had.size(), "placeholder");
                MirrorFs.fstamp(fd, had.mode(), Tree.ROOT, had.uid(), had.gid(), had.atimeNs(), had.mtimeNs(), "placeholder");
            }
        } catch (ErrnoException ex) {
            LOG.debug("mirror: cannot make a placeholder again: {}", ex.getMessage());
        }
    }

    private static void deleteQuietly(String path) {
        try {
            MirrorFs.unlink(path);
        } catch (ErrnoException ignored) {
            // tmp/ is cleaned at the next start
        }
    }

    private interface IoAction {
        void run() throws ErrnoException;
    }

    private interface Check {
        boolean done();
    }

    /**
     * Runs {@code action} under {@code key} unless {@code done}; concurrent callers wait for the one in
     * flight instead of repeating it, and retry it themselves only if it failed for a reason of its own.
     */
    private void once(Tree tree, String key, Check done, IoAction action) throws ErrnoException {
        int othersFailed = 0;
        while (true) {
            if (done.done()) return;
            CompletableFuture<Void> mine = new CompletableFuture<>();
            CompletableFuture<Void> other = tree.inFlight.putIfAbsent(key, mine);
            if (other == null) {
                try {
                    // Ours: whatever it finds is fresher than the moment we asked.
                    if (!done.done()) action.run();
                    mine.complete(null);
                    return;
                } catch (ErrnoException ex) {
                    mine.completeExceptionally(ex);
                    throw ex;
                } catch (RuntimeException ex) {
                    mine.completeExceptionally(ex);
                    LOG.warn("mirror {}: {} failed", tree.key, key, ex);
                    throw new ErrnoException(Errno.EIO, "mirror", key + ": " + ex);
                } finally {
                    tree.inFlight.remove(key, mine);
                }
            }
            try {
                other.get();
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                throw new ErrnoException(Errno.EINTR, "mirror wait", key);
            } catch (ExecutionException ee) {
                Throwable c = ee.getCause();
                ErrnoException last = c instanceof ErrnoException x ? new ErrnoException(x.errno(), x.op(), x.subject())
                        : new ErrnoException(Errno.EIO, "mirror", key);
                // What the host said is the answer; another session's lost connection is not ours: retry once.
                if (last.errno() != Errno.EIO || ++othersFailed > 1) throw last;
            }
        }
    }

    /**
     * The tracer must call the hooks (and resolve every path itself): the host is the source of truth.
     * Without this No NFS runs skip every beforeOpen/beforeExec/beforeChange (MirrorGuestSessionTest).
     */
    @Override
    public boolean wantsHooks() {
        return true;
    }

    // ---- GuestFileAccess: resolution ----

    /** A directory outside the mirrors is the target's own; one inside only once listed (and not marked to list again). */
    @Override
    public boolean kernelMayLookUpIn(String hostDir) {
        Loc l = locate(hostDir);
        if (l == null) return true;
        Entry e = l.mount().tree().entries.get(l.rel());
        if (e == null) return false;
        synchronized (e) {
            if (!e.listed) return false;
            e.lastUse = System.currentTimeMillis();
        }
        return !l.mount().tree().sparse.containsKey(l.rel()); // lazily listed: a lookup there makes the name
    }

    /**
     * Whether the kernel may resolve every path at and below {@code hostDir} by itself: true outside the
     * mirrors (the target's own /dev, /proc); inside one, true once every directory there is listed (and
     * none lacks entries), the tree is under the cap, after listing a few unlisted ones now
     * ({@link Wholeness#FEW}). When false, the tree is completed in the background for the next run.
     */
    @Override
    public boolean wholeUnder(String hostDir) {
        Loc l = locate(hostDir);
        if (l == null) return true;
        if (closed) return false;
        return whole.check(l.mount(), l.rel());
    }

    /**
     * The run went kernel-rooted: from now on anything marked to be listed again (a push, a re-listing
     * that found a changed subdirectory, a new host directory) is listed at once in the background,
     * recursively for a new directory, since no stop will ask for it. Until that is done a stat may see
     * the old state (as NFS attribute caching may); an open still stops and lists first, so it is exact (behind the
     * open gate, only a file's first open is held and does so: see FirstOpens).
     */
    @Override
    public void kernelResolves() {
        if (whole.eager) return;
        whole.eager = true;
        for (Mount m : mounts) m.tree().kernelRootedRuns.incrementAndGet(); // listings make every name now
        for (Mount m : mounts) whole.touched(m);
    }

    @Override
    public FileKind kind(String hostPath) throws ErrnoException {
        long t0 = System.nanoTime();
        try {
            return kind0(hostPath);
        } finally {
            counters.hookNs.add(System.nanoTime() - t0);
        }
    }

    private FileKind kind0(String hostPath) throws ErrnoException {
        FileKind kept = lookups.kind(hostPath);
        if (kept != null) return kept;
        long before = lookups.epoch();
        Loc l = locate(hostPath);
        if (l == null) return LocalFileAccess.INSTANCE.kind(hostPath);
        if (!l.rel().isEmpty()) present(l.mount(), l.rel());
        FileKind k = FileKind.ofMode(MirrorFs.lstat(l.path()).mode());
        lookups.keepKind(hostPath, k, before, l.rel().indexOf('/') < 0);
        return k;
    }

    @Override
    public String readlink(String hostPath) throws ErrnoException {
        long t0 = System.nanoTime();
        try {
            return readlink0(hostPath);
        } finally {
            counters.hookNs.add(System.nanoTime() - t0);
        }
    }

    private String readlink0(String hostPath) throws ErrnoException {
        String kept = lookups.target(hostPath);
        if (kept != null) return kept;
        long before = lookups.epoch();
        Loc l = locate(hostPath);
        if (l == null) return LocalFileAccess.INSTANCE.readlink(hostPath);
        if (!l.rel().isEmpty()) present(l.mount(), l.rel());
        String target = MirrorFs.readlink(l.path());
        lookups.keepTarget(hostPath, target, before);
        return target;
    }

    @Override
    public byte[] read(String hostPath, long offset, int length) throws ErrnoException {
        Loc l = locate(hostPath);
        if (l == null) return LocalFileAccess.INSTANCE.read(hostPath, offset, length);
        if (!l.rel().isEmpty()) ensureContents(l.mount(), l.rel());
        return MirrorFs.pread(l.path(), offset, length);
    }

    @Override
    public void createDirectories(String hostPath) throws ErrnoException {
        LocalFileAccess.INSTANCE.createDirectories(hostPath);
    }

    @Override
    public void invalidate(String hostPath) {
        dropLookups(hostPath);
        Loc l = locate(hostPath);
        if (l == null || l.rel().isEmpty()) return;
        try {
            // The tracee removed or replaced it: what is gone locally is gone from the index too.
            if (MirrorFs.lstatOrNull(l.path()) == null) l.mount().tree().forget(l.rel());
        } catch (ErrnoException e) {
            l.mount().tree().forget(l.rel());
        }
    }

    /** Directories, symlinks and targets the resolution keeps now (tests). */
    int lookupsKept() {
        return lookups.size();
    }

    /** What {@link #lookups} kept at or below {@code hostPath}, about to change: dropped. */
    private void dropLookups(String hostPath) {
        Loc l = locate(hostPath);
        if (l == null) {
            // Not in a mirror (nothing kept) unless it holds one: a bind's or the root's host path above them.
            for (Mount m : mounts) {
                if (io.tether.daemon.guest.GuestPaths.isUnder(m.tree().root, hostPath)) {
                    lookups.dropped(m.tree().root, true);
                    return;
                }
            }
            return;
        }
        lookups.dropped(hostPath, l.rel().isEmpty());
    }

    // ---- GuestFileAccess: hooks ----

    @Override
    public void beforeOpen(String hostPath, int flags, int mode) throws ErrnoException {
        long t0 = System.nanoTime();
        // O_CREAT may create it on the host first.
        Loc creating = (flags & MirrorFs.O_CREAT) != 0 ? locate(hostPath) : null;
        if (creating != null) own.begin(creating.mount().id(), creating.rel());
        try {
            beforeOpen0(hostPath, flags, mode);
        } finally {
            if (creating != null) own.end(creating.mount().id(), creating.rel());
            counters.hookNs.add(System.nanoTime() - t0);
        }
    }

    private void beforeOpen0(String hostPath, int flags, int mode) throws ErrnoException {
        Loc l = locate(hostPath);
        if (l == null) return;
        Mount m = l.mount();
        String rel = l.rel();
        int acc = flags & MirrorFs.O_ACCMODE;
        boolean write = acc != MirrorFs.O_RDONLY;
        boolean create = (flags & MirrorFs.O_CREAT) != 0, excl = (flags & MirrorFs.O_EXCL) != 0;
        present(m, rel);
        if ((flags & O_PATH) != 0) return; // no contents read through it
        MirrorFs.LocalStat st = MirrorFs.lstatOrNull(l.path());
        if (st == null) {
            if (!create) return; // the kernel says ENOENT
            writable(m, l.path());
            boolean truncate = (flags & MirrorFs.O_TRUNC) != 0;
            counters.changes.increment();
            m.tree().changes.incrementAndGet();
            HostAttr a = files.create(m.id(), rel, mode & 07777, excl, truncate);
            Entry e = new Entry(rel, a);
            e.lastUse = System.currentTimeMillis();
            m.tree().entries.put(rel, e);
            if (a.size() > 0 && !truncate) {
                // It was there after all (made on the host since we listed): its contents, not an empty file.
                once(m.tree(), "F:" + rel, () -> hasContents(m, rel), () -> fetch(m, rel));
            } else {
                expectKernel(m.tree(), rel);
                synchronized (e) {
                    e.contents = true; // the kernel creates it empty right after
                }
            }
            writeBack.track(m, rel);
            cache.indexChanged(m.tree());
            return;
        }
        if (st.isDirectory()) {
            if (!(create && excl)) {
                boolean missed = !isListed(m, rel);
                ensureListed(m, rel);
                m.tree().materializeDir(rel); // its entries, all of them, for getdents
                ahead.dirOpened(m, rel, missed);
            }
            return;
        }
        if (!st.isRegular() || (create && excl) || (flags & MirrorFs.O_DIRECTORY) != 0) {
            return; // the kernel decides (ELOOP, EEXIST, ENOTDIR, devices)
        }
        if (write) writable(m, l.path());
        // The kernel will refuse this open (EACCES): nothing to fetch for it, nothing to track.
        if (write && !Tree.ROOT && !MirrorFs.writable(l.path())) return;
        boolean truncate = write && (flags & MirrorFs.O_TRUNC) != 0;
        if (!truncate) {
            boolean had = hasContents(m, rel);
            long t0 = had ? 0 : System.nanoTime();
            ensureContents(m, rel);
            if (!had) {
                counters.openWaits.increment();
                counters.openWaitNs.add(System.nanoTime() - t0);
            }
            // The loader opening what an exec prefetched says nothing about reading its directory through.
            if (!write && !loaderFiles.contains(m.key(rel))) ahead.fileRead(m, rel, !had);
        }
        if (write) writeBack.track(m, rel);
    }

    /**
     * A kernel-rooted run's read-only opens pass unstopped behind this gate: the kernel holds each first open of a
     * file until {@link #firstOpen} has its contents here (FirstOpens).
     */
    @Override
    public OpenGate openGate(int rootPid, String rootHostPath, Map<String, String> bindsSeenAt) {
        if (locate(rootHostPath) == null) return null;
        // Only the mirrors' mounts: /proc, /dev and other local binds hold no placeholders, and an event costs.
        Map<String, String> mirrored = new java.util.LinkedHashMap<>();
        bindsSeenAt.forEach((seen, source) -> {
            if (locate(source) != null) mirrored.put(seen, source);
        });
        FirstOpens gate = cache.firstOpens();
        return gate == null ? null : gate.admit(rootPid, rootHostPath, mirrored, this::firstOpen);
    }

    /**
     * A tracee's read-only open of {@code hostPath} ({@code exec}: an exec's), held by the kernel at the open gate, may go on: 0 once the
     * file's contents are here in the inode {@code ino} the kernel is opening, else the errno that says why not
     * (the file vanished on the host, the link is lost, or a listing replaced the inode while it was opened); or,
     * unless {@code mayWait}, {@link FirstOpens#WAIT} when that takes a round trip (the gate asks again from a
     * thread that may wait). What the hook of a stopped read-only open did, once per inode until something writes
     * to it (the gate's ignore mark outlives the run).
     */
    int firstOpen(String hostPath, long ino, boolean exec, boolean mayWait) {
        long t0 = System.nanoTime();
        if (!mayWait) counters.heldOpens.increment();
        int errno = firstOpen0(hostPath, ino, exec, mayWait, t0);
        if (errno > 0) counters.deniedOpens.increment();
        counters.heldNs.add(System.nanoTime() - t0);
        return errno;
    }

    private int firstOpen0(String hostPath, long ino, boolean exec, boolean mayWait, long t0) {
        try {
            Loc l = locate(hostPath);
            if (l == null || l.rel().isEmpty()) return 0; // not a mirror's: nothing of ours to fetch
            Mount m = l.mount();
            String rel = l.rel();
            boolean had = hasContents(m, rel);
            // Its directory marked to be listed again (a push): listed first, as a stopped open's hook did.
            if (!had || !isListed(m, Tree.parentOf(rel))) {
                if (!mayWait) return FirstOpens.WAIT;
                // An exec's: its loader and libraries asked for too, as at a stopped execve.
                if (exec) beforeExec0(hostPath);
                else ensureContents(m, rel);
                if (!had) {
                    counters.openWaits.increment();
                    counters.openWaitNs.add(System.nanoTime() - t0);
                }
            }
            if (!exec && !loaderFiles.contains(m.key(rel))) ahead.fileRead(m, rel, !had);
            // A program here: what its loader will need is asked for meanwhile, as at a stopped execve (no wait).
            if (exec && had && !mayWait) execAhead(hostPath);
            Entry e = m.tree().entries.get(rel);
            if (e == null) return mayWait ? Errno.ENOENT : FirstOpens.WAIT;
            synchronized (e) {
                MirrorFs.LocalStat now = MirrorFs.lstatOrNull(l.path());
                if (now == null || now.ino() != ino || (!e.contents && e.writers == 0)) {
                    if (!mayWait) return FirstOpens.WAIT; // evicted or replaced meanwhile: asked again where we may fetch
                    if (!e.contents && e.writers == 0) return Errno.EIO;
                    LOG.debug("mirror {}: {} was replaced while a tracee opened it", m.tree().key, rel);
                    return Errno.ESTALE;
                }
                // A file being written: the writer's contents, not ours to vouch for once it is closed.
                if (!e.contents) return FirstOpens.ALLOW_UNMARKED;
            }
            return 0;
        } catch (ErrnoException ex) {
            LOG.debug("mirror: held open of {}: {}", hostPath, ex.getMessage());
            return ex.errno();
        }
    }

    /** {@link #beforeExec0} on the cache's threads for an exec the open gate let through (its loader's fetch, if any, awaited there). */
    private void execAhead(String hostPath) {
        if (closed) return;
        try {
            cache.io().execute(() -> {
                try {
                    beforeExec0(hostPath);
                } catch (ErrnoException e) {
                    LOG.debug("mirror: ahead of the exec of {}: {}", hostPath, e.getMessage());
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // the cache is closing
        }
    }

    @Override
    public void beforeExec(String hostPath) throws ErrnoException {
        long t0 = System.nanoTime();
        try {
            beforeExec0(hostPath);
        } finally {
            counters.hookNs.add(System.nanoTime() - t0);
        }
    }

    private void beforeExec0(String hostPath) throws ErrnoException {
        Loc l = locate(hostPath);
        if (l == null || l.rel().isEmpty()) return;
        ensureContents(l.mount(), l.rel());
        String key = l.mount().key(l.rel());
        HostAttr attr = attrOf(l);
        ExecReady ready = execReady.get(key);
        if (ready != null && ready.attr() == attr && attr != null && loaderHere(ready.loader())) {
            return; // the same program as last time, its loader still here and current
        }
        Elf.Info info;
        try {
            info = Elf.read(l.path());
        } catch (ErrnoException e) {
            return; // the exec reports it
        }
        CompletableFuture<Loc> interp = CompletableFuture.completedFuture(null);
        CompletableFuture<Void> loaderSteps = CompletableFuture.completedFuture(null);
        if (info.interp() != null) {
            // Every directory finding the loader and the libraries looks through, asked for at once: resolving
            // them one after another (/lib64 -> /usr/lib64, then /usr/lib, then /usr/lib/<triplet>) costs a
            // round trip each before the loader's fetch can even be asked for.
            listAhead(libraryDirs(info));
            interp = tracked(CompletableFuture.supplyAsync(() -> {
                try {
                    return fetchGuest(info.interp(), true);
                } catch (ErrnoException e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            }, cache.io()));
            loaderSteps = loaderStepsAhead(info);
        }
        // The libraries' fetches wait for the loader's and its first steps: the spawn needs only the loader,
        // and the loader needs /etc before libc; asked for at once, all of them share the files stream with
        // libc's megabytes (their listings and lookups go on meanwhile).
        prefetchLibraries(info, CompletableFuture.allOf(interp, loaderSteps));
        try {
            // The kernel maps the interpreter itself, with no open we could stop at: it must be here.
            Loc loader = interp.get(60, TimeUnit.SECONDS);
            if (attr != null && (info.interp() == null || loader != null)) execReady.put(key, new ExecReady(attr, loader));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException e) {
            // Without its loader the exec cannot work; a lost connection must say so, not crash in zeros.
            if (e.getCause() instanceof ErrnoException x && x.errno() != Errno.ENOENT) {
                throw new ErrnoException(x.errno(), "exec: loader " + info.interp(), x.subject());
            }
            LOG.debug("mirror: prefetch of {} failed: {}", info.interp(), e.getCause().toString());
        } catch (TimeoutException e) {
            LOG.warn("mirror: the loader {} of {} took over 60 s to fetch", info.interp(), hostPath);
        }
    }

    /** Counts {@code f} among the prefetches in flight ({@link #awaitPrefetches}) until it completes. */
    private <T> CompletableFuture<T> tracked(CompletableFuture<T> f) {
        prefetches.add(f);
        f.whenComplete((ok, err) -> prefetches.remove(f));
        return f;
    }

    /** Whether a loader fetched for an earlier exec still holds the host's contents (its directory re-listed first if a change was pushed). */
    private boolean loaderHere(Loc loader) throws ErrnoException {
        if (loader == null) return true;
        present(loader.mount(), loader.rel());
        return hasContents(loader.mount(), loader.rel());
    }

    /** The host attributes the mirror holds for {@code l} (null when unknown). */
    private static HostAttr attrOf(Loc l) {
        Entry e = l.mount().tree().entries.get(l.rel());
        if (e == null) return null;
        synchronized (e) {
            return e.contents ? e.attr : null;
        }
    }

    /**
     * Asks for each DT_NEEDED library not asked for yet this session: found now (its directories listed),
     * fetched once {@code after} completed (failed or not), and what it needs in turn after it.
     */
    private void prefetchLibraries(Elf.Info info, CompletableFuture<?> after) {
        String triplet = Elf.triplet(info.machine());
        CompletableFuture<Void> gate = after.handle((ok, err) -> null);
        for (String name : info.needed()) {
            if (!prefetched.add(info.machine() + ":" + name)) continue;
            tracked(CompletableFuture.supplyAsync(() -> findLibrary(name, triplet, info.runpath()), cache.io())
                    .thenCombine(gate, (found, ignored) -> found)
                    .thenAcceptAsync(found -> {
                        if (found != null) prefetchGuest(found);
                    }, cache.io()));
        }
    }

    /** Fetches a guest library and what it needs in turn. Failures are only logged. */
    private void prefetchGuest(String guestPath) {
        try {
            fetchGuest(guestPath, true);
        } catch (ErrnoException e) {
            LOG.debug("mirror: prefetch of {}: {}", guestPath, e.getMessage());
        }
    }

    /**
     * Fetches a guest file for the loader (its opens of it are no read of its directory, {@link ReadAhead})
     * and, if {@code elf}, asks for the libraries it needs; where it is in the mirrors, or null.
     */
    private Loc fetchGuest(String guestPath, boolean elf) throws ErrnoException {
        String target = resolveGuest(guestPath);
        Loc l = target == null ? null : locate(target);
        if (l == null || l.rel().isEmpty()) return null;
        loaderFiles.add(l.mount().key(l.rel()));
        ensureContents(l.mount(), l.rel());
        if (elf) prefetchLibraries(Elf.read(l.path()), CompletableFuture.completedFuture(null));
        return l;
    }

    /**
     * What a glibc loader certainly does first, once the kernel started it, asked for now (once a session per
     * loader), so that the loader finds it here instead of waiting a round trip each: access of
     * /etc/ld.so.preload (the listing of /etc), then the open of /etc/ld.so.cache, which it reads for
     * every library that DT_RUNPATH does not name a directory for (only LD_LIBRARY_PATH holding them
     * all would spare it: a few kilobytes fetched in vain). Another loader (musl's) reads neither.
     */
    private CompletableFuture<Void> loaderStepsAhead(Elf.Info info) {
        String loaderName = info.interp().substring(info.interp().lastIndexOf('/') + 1);
        boolean glibc = loaderName.startsWith("ld-linux") || loaderName.startsWith("ld64.so.");
        if (!glibc || !prefetched.add("loader steps:" + info.interp())) return CompletableFuture.completedFuture(null);
        boolean cacheRead = !info.needed().isEmpty() && info.runpath().isEmpty();
        return tracked(CompletableFuture.runAsync(() -> {
            try {
                String etc = targetAhead("/etc");
                Loc l = etc == null ? null : locate(etc);
                if (l == null) return;
                ensureListed(l.mount(), l.rel());
                if (cacheRead) fetchGuest("/etc/ld.so.cache", false);
            } catch (ErrnoException e) {
                LOG.debug("mirror: the loader's /etc ahead: {}", e.getMessage());
            }
        }, cache.io()));
    }

    /**
     * Target paths of the directories an exec's loader and library lookups look through, shallowest first:
     * the loader's directory, and, if it needs libraries, DT_RUNPATH's and the standard search path
     * ({@link #searchDirs}), each with its ancestors; symlinks followed as far as the mirror knows them.
     */
    private List<String> libraryDirs(Elf.Info info) {
        java.util.Set<String> guestDirs = new java.util.LinkedHashSet<>();
        String interpDir = info.interp().substring(0, Math.max(1, info.interp().lastIndexOf('/')));
        if (info.interp().startsWith("/")) guestDirs.add(interpDir);
        if (!info.needed().isEmpty()) guestDirs.addAll(searchDirs(Elf.triplet(info.machine()), info.runpath()));
        java.util.Set<String> targets = new java.util.LinkedHashSet<>();
        for (String guest : guestDirs) {
            String t = targetAhead(guest);
            Loc l = t == null ? null : locate(t);
            if (l == null) continue;
            for (String rel = l.rel(); ; rel = Tree.parentOf(rel)) {
                targets.add(l.mount().pathOf(rel));
                if (rel.isEmpty()) break;
            }
        }
        List<String> sorted = new ArrayList<>(targets);
        sorted.sort(Comparator.comparingInt(d -> d.split("/").length));
        return sorted;
    }

    /**
     * Where a guest path leads as far as the mirror knows without asking the host: symlinks in listed
     * directories followed, names in unlisted ones taken literally. Null outside the mirrors, or where a
     * listed directory has no such name.
     */
    private String targetAhead(String guestPath) {
        try {
            return walkGuest(guestPath, this::knownLink);
        } catch (ErrnoException e) {
            return null;
        }
    }

    /**
     * The symlink target at {@code target} as the mirror knows it, without asking the host: null when it is
     * no symlink or its directory is not listed (taken literally then); ENOENT where a listed directory lacks it.
     */
    private String knownLink(String target) throws ErrnoException {
        Loc l = locate(target);
        if (l == null) throw new ErrnoException(Errno.ENOENT, "lookup", target);
        if (l.rel().isEmpty() || !isListed(l.mount(), Tree.parentOf(l.rel()))) return null;
        Entry e = l.mount().tree().entries.get(l.rel());
        if (e == null) throw new ErrnoException(Errno.ENOENT, "lookup", target);
        boolean symlink;
        synchronized (e) {
            symlink = e.attr != null && e.attr.isSymlink();
        }
        return symlink ? readlink0(target) : null;
    }

    /** The directories a library is looked for in, in order: DT_RUNPATH's (absolute, without $ORIGIN and such), then the standard ones. */
    private static List<String> searchDirs(String triplet, List<String> runpath) {
        List<String> dirs = new ArrayList<>();
        for (String d : runpath) {
            if (d.startsWith("/") && !d.contains("$")) dirs.add(d);
        }
        if (triplet != null) {
            dirs.add("/lib/" + triplet);
            dirs.add("/usr/lib/" + triplet);
        }
        dirs.addAll(List.of("/lib", "/usr/lib", "/lib64", "/usr/lib64"));
        return dirs;
    }

    private String findLibrary(String name, String triplet, List<String> runpath) {
        if (name.contains("/")) return name.startsWith("/") ? name : null;
        List<String> dirs = searchDirs(triplet, runpath);
        for (String d : dirs) {
            String guest = d + "/" + name;
            try {
                String target = resolveGuest(guest);
                if (target != null && MirrorFs.lstat(target).isRegular()) return guest;
            } catch (ErrnoException e) {
                // not in this directory
            }
        }
        return null;
    }

    /**
     * A guest path to the target path of what it names, following symlinks inside the guest (a
     * minimal walk for prefetch; the tracer's GuestView is the authority for the tracees).
     */
    String resolveGuest(String guestPath) throws ErrnoException {
        return walkGuest(guestPath, target -> kind(target) == FileKind.SYMLINK ? readlink(target) : null);
    }

    /** What a walk learns of one component's target path: its symlink's target, or null to go on through it. */
    private interface LinkAt {
        String of(String target) throws ErrnoException;
    }

    /** Walks {@code guestPath} component by component to a target path, following the symlinks {@code linkAt} tells of. */
    private String walkGuest(String guestPath, LinkAt linkAt) throws ErrnoException {
        java.util.ArrayDeque<String> pending = new java.util.ArrayDeque<>();
        pushFront(pending, guestPath);
        List<String> stack = new ArrayList<>();
        int links = 0;
        while (!pending.isEmpty()) {
            String c = pending.pollFirst();
            if (c.equals(".")) continue;
            if (c.equals("..")) {
                if (!stack.isEmpty()) stack.remove(stack.size() - 1);
                continue;
            }
            stack.add(c);
            String target = toTarget(stack);
            if (target == null) return null;
            String link = linkAt.of(target);
            if (link == null) continue;
            if (++links > MAX_LINKS) throw new ErrnoException(Errno.ELOOP, "resolve", guestPath);
            stack.remove(stack.size() - 1);
            if (link.startsWith("/")) stack.clear();
            pushFront(pending, link);
        }
        return toTarget(stack);
    }

    private String toTarget(List<String> stack) {
        String guest = "/" + String.join("/", stack);
        for (Mount m : byGuestLength) {
            String g = m.guestPath();
            if (g.equals("/")) return m.pathOf(guest.substring(1));
            if (guest.equals(g)) return m.pathOf("");
            if (guest.startsWith(g + "/")) return m.pathOf(guest.substring(g.length() + 1));
        }
        return null;
    }

    private static void pushFront(java.util.Deque<String> pending, String path) {
        String[] parts = path.split("/");
        for (int i = parts.length - 1; i >= 0; i--) {
            if (!parts[i].isEmpty()) pending.addFirst(parts[i]);
        }
    }

    /** Directories the work ahead looked through this session (tests). */
    long lookedAhead() {
        return ahead.lookedAhead();
    }

    /** Waits for prefetches in flight (tests, benchmarks). */
    void awaitPrefetches() {
        try {
            ahead.await(60_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        while (!prefetches.isEmpty()) {
            if (!drain(prefetches)) return;
        }
    }

    /**
     * Waits for each future in {@code futures} (up to a minute each) and removes it; failures are logged
     * where they happen. False if interrupted (the flag is set again).
     */
    private static boolean drain(Set<CompletableFuture<?>> futures) {
        for (CompletableFuture<?> f : List.copyOf(futures)) {
            try {
                f.get(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            } catch (ExecutionException | TimeoutException e) {
                LOG.debug("mirror: background task: {}", e.toString());
            }
            futures.remove(f);
        }
        return true;
    }

    /**
     * Waits until what this session does in the background is done, so counts of host calls are final
     * (tests): read-ahead and prefetches, uploads scheduled so far, and the re-listings and attribute
     * refreshes that pushes and our own changes queued, including those a deferred push queues when the
     * upload it waited for ends. An upload whose close event is not read yet is not scheduled: flush first.
     */
    void awaitBackground() {
        do {
            awaitPrefetches();
            try {
                writeBack.awaitUploads();
            } catch (ErrnoException e) {
                return; // interrupted
            }
            if (!drain(queued)) return;
            whole.await();
        } while (!queued.isEmpty() || !prefetches.isEmpty() || whole.busy());
    }

    private static void writable(Mount m, String path) throws ErrnoException {
        if (m.export().readOnly()) throw new ErrnoException(Errno.EROFS, "write", path);
    }

    @Override
    public void beforeChange(Change change) throws ErrnoException {
        long t0 = System.nanoTime();
        List<Loc> changing = new ArrayList<>(2);
        if (change instanceof Change.Rename r) {
            changing.add(locate(r.fromHostPath()));
            changing.add(locate(r.toHostPath()));
        } else if (change instanceof Change.Link k) {
            changing.add(locate(k.existingHostPath())); // its link count and ctime change too
            changing.add(locate(k.newHostPath()));
        } else {
            changing.add(locate(targetOf(change)));
        }
        changing.removeIf(java.util.Objects::isNull);
        // What the resolution kept of a name about to go or be replaced (an unlink, rmdir or rename; a new name
        // was never kept): dropped now, and again at the call's exit stop (invalidate).
        if (change instanceof Change.Rename r) {
            dropLookups(r.fromHostPath());
            dropLookups(r.toHostPath());
        } else if (change instanceof Change.Unlink || change instanceof Change.Rmdir) {
            dropLookups(targetOf(change));
        }
        // A walk's listing read before this is not applied: a rename may move a whole subtree, so it stales the
        // trees it touches; anything else, the directories around what it changes (Tree.changedAt). An
        // overlapping export hears of it by the push, as of any host change.
        if (changing.isEmpty()) {
            for (Mount m : mounts) m.tree().changes.incrementAndGet();
        }
        for (Loc l : changing) {
            if (change instanceof Change.Rename) l.mount().tree().changes.incrementAndGet();
            else l.mount().tree().changedAt(l.rel());
        }
        for (Loc l : changing) own.begin(l.mount().id(), l.rel());
        try {
            beforeChange0(change);
        } finally {
            for (Loc l : changing) own.end(l.mount().id(), l.rel());
            counters.hookNs.add(System.nanoTime() - t0);
        }
    }

    private void beforeChange0(Change change) throws ErrnoException {
        if (change instanceof Change.Rename r) {
            rename(r);
            return;
        }
        if (change instanceof Change.Link k) {
            link(k);
            return;
        }
        Loc l = locate(targetOf(change));
        if (l == null) return;
        Mount m = l.mount();
        String rel = l.rel();
        int id = m.id();
        writable(m, l.path());
        present(m, rel);
        // Nothing of that name in its listed directory: nothing to remove on the host, and the kernel's
        // unlink or rmdir says ENOENT, as the kernel's open does for a name not there (configure's
        // `rm -f core conftest.err conftest.beam ...` after each test).
        if ((change instanceof Change.Unlink || change instanceof Change.Rmdir) && MirrorFs.lstatOrNull(l.path()) == null
                && isListed(m, Tree.parentOf(rel))) {
            counters.removalsOfNothing.increment();
            return;
        }
        Tree tree = m.tree();
        counters.changes.increment();
        if (!(change instanceof Change.Truncate) && !(change instanceof Change.Chmod) && !(change instanceof Change.Chown)
                && !(change instanceof Change.Utimes) && !(change instanceof Change.SetXattr)
                && !(change instanceof Change.RemoveXattr)) {
            expectKernel(tree, rel);
        }
        if (change instanceof Change.Mkdir c) {
            HostAttr a = files.mkdir(id, rel, c.mode() & 07777);
            Entry e = new Entry(rel, a);
            e.listed = true; // empty, as the kernel is about to make it
            tree.entries.put(rel, e);
        } else if (change instanceof Change.Mknod c) {
            tree.entries.put(rel, new Entry(rel, files.mknod(id, rel, c.mode(), c.dev())));
        } else if (change instanceof Change.Unlink) {
            writeBack.forgetUnder(m, rel);
            files.unlink(id, rel);
            tree.forget(rel);
        } else if (change instanceof Change.Rmdir) {
            files.rmdir(id, rel);
            // Leftovers the host no longer has must not make the kernel's rmdir fail.
            MirrorFs.LocalStat st = MirrorFs.lstatOrNull(l.path());
            if (st != null && st.isDirectory()) {
                for (String name : MirrorFs.list(l.path())) MirrorFs.removeTree(l.path() + "/" + name);
            }
            writeBack.forgetUnder(m, rel);
            tree.forget(rel);
        } else if (change instanceof Change.Symlink c) {
            tree.entries.put(rel, new Entry(rel, files.symlink(id, rel, c.target())));
        } else if (change instanceof Change.Chmod c) {
            // The program's chmod must be the host's last word (ld: write, close, chmod +x). Uploads carry
            // a mode: from now on this one; those begun before it (their close event may still be queued)
            // land before the chmod is sent.
            int before = writeBack.modeSet(m, rel, c.mode() & 07777);
            try {
                if (writeBack.tracks(m, rel)) writeBack.settleUnder(m, rel);
                acceptAttr(m, rel, files.chmod(id, rel, c.mode()), -1);
            } catch (ErrnoException ex) {
                writeBack.modeSet(m, rel, before);
                throw ex;
            }
        } else if (change instanceof Change.Chown c) {
            files.chown(id, rel, c.uid(), c.gid(), c.follow());
        } else if (change instanceof Change.Truncate c) {
            truncate(m, rel, c.size());
        } else if (change instanceof Change.Utimes c) {
            // Contents still to go up would land after these times and replace them: they go first.
            if (writeBack.tracks(m, rel)) writeBack.settleUnder(m, rel);
            // Uploads that begin from now on (a close event still queued) carry these times, as for chmod:
            // set before the host's utimes, or one begun in between would land after it with the time of day.
            long[] before = writeBack.timesSet(m, rel, c.atimeS(), c.atimeNs(), c.mtimeS(), c.mtimeNs());
            try {
                files.utimes(id, rel, c.atimeS(), c.atimeNs(), c.mtimeS(), c.mtimeNs(), c.follow());
            } catch (ErrnoException ex) {
                writeBack.timesRestore(m, rel, before);
                throw ex;
            }
            if (!c.follow() && c.mtimeNs() != MirrorFs.UTIME_NOW && c.mtimeNs() != MirrorFs.UTIME_OMIT) {
                refreshAttrLater(m, rel, c.mtimeS() * 1_000_000_000L + c.mtimeNs());
            }
        } else if (change instanceof Change.SetXattr c) {
            files.setxattr(id, rel, c.name(), c.value(), c.flags(), c.follow());
        } else if (change instanceof Change.RemoveXattr c) {
            files.removexattr(id, rel, c.name(), c.follow());
        }
        cache.indexChanged(m.tree());
    }

    private static String targetOf(Change change) {
        if (change instanceof Change.Mkdir c) return c.hostPath();
        if (change instanceof Change.Mknod c) return c.hostPath();
        if (change instanceof Change.Unlink c) return c.hostPath();
        if (change instanceof Change.Rmdir c) return c.hostPath();
        if (change instanceof Change.Symlink c) return c.hostPath();
        if (change instanceof Change.Chmod c) return c.hostPath();
        if (change instanceof Change.Chown c) return c.hostPath();
        if (change instanceof Change.Truncate c) return c.hostPath();
        if (change instanceof Change.Utimes c) return c.hostPath();
        if (change instanceof Change.SetXattr c) return c.hostPath();
        if (change instanceof Change.RemoveXattr c) return c.hostPath();
        throw new IllegalArgumentException("unknown change " + change);
    }

    /** truncate(2) of a placeholder keeps the host's first bytes: fetched after the host truncated them. */
    private void truncate(Mount m, String rel, long size) throws ErrnoException {
        HostAttr a = files.truncate(m.id(), rel, size);
        Entry e = m.tree().entries.get(rel);
        if (e == null) return;
        boolean fetchNow;
        synchronized (e) {
            e.attr = a;
            fetchNow = !e.contents && e.writers == 0 && size > 0;
            if (!e.contents && size == 0) e.contents = true; // the kernel empties it
        }
        if (fetchNow) ensureContents(m, rel);
    }

    /**
     * Keeps the host's attributes after our own attribute change (so the next run's validation passes),
     * but only if they show the contents we hold: same size, inode and mtime ({@code mtimeNs}, or the
     * one we had when -1). Otherwise the host changed the file meanwhile: its directory is listed again.
     */
    private void acceptAttr(Mount m, String rel, HostAttr a, long mtimeNs) {
        Entry e = m.tree().entries.get(rel);
        if (e == null || a == null) return;
        boolean ours;
        synchronized (e) {
            HostAttr had = e.attr;
            ours = had == null || (a.size() == had.size() && a.ino() == had.ino()
                    && a.mtimeNs() == (mtimeNs >= 0 ? mtimeNs : had.mtimeNs()));
            if (ours) e.attr = a;
        }
        if (!ours) staleParent(m, rel);
    }

    /** After our utimensat: the host's new ctime fetched in the background, kept if it is our change. */
    private void refreshAttrLater(Mount m, String rel, long mtimeNs) {
        try {
            later(() -> {
                try {
                    acceptAttr(m, rel, files.getattr(m.id(), rel, false), mtimeNs);
                } catch (ErrnoException e) {
                    LOG.debug("mirror {}: getattr {} after utimes: {}", m.tree().key, rel, e.getMessage());
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // closing: the next run's validation lists it again
        }
    }

    private void rename(Change.Rename r) throws ErrnoException {
        Loc from = locate(r.fromHostPath()), to = locate(r.toHostPath());
        if (from == null && to == null) return;
        if (from == null || to == null || from.mount().id() != to.mount().id()) {
            throw new ErrnoException(Errno.EXDEV, "rename", r.fromHostPath() + " -> " + r.toHostPath());
        }
        Mount m = from.mount();
        writable(m, from.path());
        if (from.rel().isEmpty() || to.rel().isEmpty()) throw new ErrnoException(Errno.EBUSY, "rename", from.path());
        present(m, from.rel());
        present(m, to.rel());
        if (from.rel().equals(to.rel())) {
            files.rename(m.id(), from.rel(), m.id(), to.rel(), r.flags()); // its errno, if any; nothing moves
            return;
        }
        // The host must hold what was written before it moves it.
        writeBack.settleUnder(m, from.rel());
        expectKernel(m.tree(), from.rel());
        expectKernel(m.tree(), to.rel());
        boolean exchange = (r.flags() & RENAME_EXCHANGE) != 0;
        if (exchange) writeBack.settleUnder(m, to.rel());
        else writeBack.forgetUnder(m, to.rel());
        counters.changes.increment();
        HostAttr moved = files.rename(m.id(), from.rel(), m.id(), to.rel(), r.flags());
        Tree tree = m.tree();
        if (exchange) {
            String aside = "\0exchange";
            tree.move(to.rel(), aside);
            tree.move(from.rel(), to.rel());
            tree.move(aside, from.rel());
            writeBack.moved(m, to.rel(), aside);
            writeBack.moved(m, from.rel(), to.rel());
            writeBack.moved(m, aside, from.rel());
        } else {
            tree.move(from.rel(), to.rel());
            writeBack.moved(m, from.rel(), to.rel());
            acceptAttr(m, to.rel(), moved, -1); // the rename's new ctime, so its echo is no news
        }
    }

    /**
     * linkat(fd, "", ..., AT_EMPTY_PATH) of a file with no name (O_TMPFILE): its contents go up now under
     * the new name (the host never had the file), and later writes through the fd are written back.
     */
    private void linkUnnamed(String procLink, Loc to) throws ErrnoException {
        Mount m = to.mount();
        writable(m, to.path());
        present(m, to.rel());
        if (MirrorFs.lstatOrNull(to.path()) != null) throw new ErrnoException(Errno.EEXIST, "link", to.path());
        String tmp = cache.tempPath("link");
        try {
            MirrorFs.LocalStat st;
            int fd = MirrorFs.open(procLink, MirrorFs.O_RDONLY, 0);
            try {
                st = MirrorFs.fstat(fd);
                if (!st.isRegular()) throw new ErrnoException(Errno.EXDEV, "link", procLink);
                java.nio.file.Files.copy(java.nio.file.Path.of("/proc/self/fd/" + fd), java.nio.file.Path.of(tmp));
            } catch (java.io.IOException e) {
                throw new ErrnoException(Errno.EIO, "link", procLink + ": " + e.getMessage());
            } finally {
                MirrorFs.close(fd);
            }
            counters.changes.increment();
            HostAttr a = files.put(m.id(), to.rel(), java.nio.file.Path.of(tmp), st.mode() & 07777, false, false);
            expectKernel(m.tree(), to.rel());
            Entry e = new Entry(to.rel(), a);
            e.contents = true;
            e.lastUse = System.currentTimeMillis();
            m.tree().entries.put(to.rel(), e);
            writeBack.track(m, to.rel());
            cache.indexChanged(m.tree());
        } finally {
            deleteQuietly(tmp);
        }
    }

    private void link(Change.Link k) throws ErrnoException {
        Loc from = locate(k.existingHostPath()), to = locate(k.newHostPath());
        if (from == null && to == null) return;
        if (from == null && to != null && k.existingHostPath().startsWith("/proc/")) {
            linkUnnamed(k.existingHostPath(), to);
            return;
        }
        if (from == null || to == null || from.mount().id() != to.mount().id()) {
            throw new ErrnoException(Errno.EXDEV, "link", k.existingHostPath() + " -> " + k.newHostPath());
        }
        Mount m = from.mount();
        writable(m, to.path());
        present(m, from.rel());
        present(m, to.rel());
        writeBack.settleUnder(m, from.rel());
        expectKernel(m.tree(), to.rel());
        counters.changes.increment();
        files.link(m.id(), from.rel(), m.id(), to.rel());
        Entry src = m.tree().entries.get(from.rel());
        Entry e = new Entry(to.rel(), null);
        if (src != null) {
            synchronized (src) {
                e.attr = src.attr;
                e.contents = src.contents; // the same inode here: its bytes are counted once, under src
                e.localIno = src.localIno;
                e.localCtimeNs = src.localCtimeNs;
            }
        }
        m.tree().entries.put(to.rel(), e);
        cache.indexChanged(m.tree());
    }

    @Override
    public void flush() throws ErrnoException {
        writeBack.flush();
    }

    /**
     * fsync(2), fdatasync(2) or msync(2) of a file the tracee wrote: its contents reach the host now,
     * durably (for the tracer; nothing to do for a path outside the mirrors or never opened for writing).
     */
    public void sync(String hostPath) throws ErrnoException {
        Loc l = locate(hostPath);
        if (l == null || l.rel().isEmpty()) return;
        writeBack.sync(l.mount(), l.rel());
    }

    /** Round trips and bytes this session cost so far. */
    public MirrorStats stats() {
        return counters.snapshot();
    }

    /** The inotify queue overflowed (tests): every tracked file is uploaded again now. */
    void writeEventsLost() {
        writeBack.eventsLost();
    }

    /** Files being tracked for write-back now (tests). */
    int trackedWrites() {
        return writeBack.tracked();
    }

    /**
     * Every tracee is gone, so every syscall it was about to make is made: the next run's listings (a
     * warm run can start within milliseconds of this one's exit status) must not keep a name the host
     * removed since, nor count this session as running. Cheap, so the exit status waits for it; the
     * rest of {@link #close} (read-ahead still in flight, the index on disk) need not.
     */
    public void settle() {
        for (Flux f; (f = fluxMarks.poll()) != null; ) f.tree().settled(f.rel(), f.mark());
        endSessions();
    }

    /**
     * Ends the session: stops write-back (call {@link #flush()} first: what did not reach the host is
     * dropped from the cache) and writes the index. The HostFiles stay the caller's to close.
     */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        if (whole.eager) for (Mount m : mounts) m.tree().kernelRootedRuns.decrementAndGet();
        ahead.close();
        whole.close(mounts);
        streamed.clear();
        settle();
        awaitPrefetches();
        writeBack.close();
        cache.saveQuietly();
        for (Mount m : mounts) cache.release(m.tree());
        LOG.debug("mirror session ({}): {}; {}", rootHostPath(), counters.snapshot(), counters.timing());
    }
}
