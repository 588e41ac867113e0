package io.tether.daemon.mirror;

import io.tether.daemon.files.HostAttr;
import io.tether.daemon.files.HostDirEntry;
import io.tether.daemon.files.HostListing;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The mirror of one export (one cache key): a real directory tree under {@code trees/<key>} and the
 * {@link Entry} of each mirrored path, keyed by export-relative path ("" is the export's root).
 * Applies host listings to the local tree ({@link #apply}): directories, real symlinks, and sparse
 * placeholders with the host's size, mode, owner (when we may chown) and times.
 */
final class Tree {
    private static final Logger LOG = LoggerFactory.getLogger(Tree.class);
    /** Whether we may give files the host's owners (and need no write access to fill directories). */
    static final boolean ROOT = MirrorFs.isRoot();
    private static final int EUID = MirrorFs.euid(), EGID = MirrorFs.egid();

    final String key;
    /** Target path of the mirror's root directory (canonical). */
    final String root;
    final ConcurrentHashMap<String, Entry> entries = new ConcurrentHashMap<>();
    /** Listings and fetches in flight, one per path ("L:" + rel, "F:" + rel): every waiter shares it. */
    final ConcurrentHashMap<String, CompletableFuture<Void>> inFlight = new ConcurrentHashMap<>();
    /**
     * Paths the host just changed and the kernel is about to change here (deadline, nanoTime): a
     * listing that races the tracee's own syscall must not make it first, or that syscall would fail.
     */
    private final ConcurrentHashMap<String, Long> inFlux = new ConcurrentHashMap<>();
    static final long FLUX_NS = 2_000_000_000L;
    /**
     * Counts what may have changed the host's tree since a listing was read (pushed invalidations, host-first
     * changes): a walk's listing received ahead is applied only if this has not moved since it was asked for.
     */
    final java.util.concurrent.atomic.AtomicLong changes = new java.util.concurrent.atomic.AtomicLong();
    /**
     * Narrower than {@link #changes}: per directory, the {@link #changeSeq} of the last host-first change
     * among its entries (or of its own attributes), so a walk's listing of a directory no change touched is
     * still applied while the run changes files elsewhere (a build writing /tmp would otherwise send a
     * completion back to one readdir per directory). Cleared, with {@link #changes} moved, past a bound.
     */
    private final ConcurrentHashMap<String, Long> dirChanged = new ConcurrentHashMap<>();
    final java.util.concurrent.atomic.AtomicLong changeSeq = new java.util.concurrent.atomic.AtomicLong();
    private static final int DIR_CHANGED_MAX = 10_000;

    /** A host-first change of {@code rel}: its directory's listing, its parent's (its times) and its own are stale. */
    void changedAt(String rel) {
        if (dirChanged.size() > DIR_CHANGED_MAX) {
            changes.incrementAndGet(); // first: whatever was asked before the clear is not applied
            dirChanged.clear();
        }
        long seq = changeSeq.incrementAndGet();
        dirChanged.put(rel, seq);
        if (rel.isEmpty()) return;
        String dir = parentOf(rel);
        dirChanged.put(dir, seq);
        if (!dir.isEmpty()) dirChanged.put(parentOf(dir), seq);
    }

    /** Whether a listing of {@code relDir} read at {@code seq} ({@link #changeSeq}) may predate a change of ours. */
    boolean changedSince(String relDir, long seq) {
        Long last = dirChanged.get(relDir);
        return last != null && last > seq;
    }

    /**
     * Counts removals and replacements of local names (a re-listing applying the host's changes): a session's
     * {@link LookupCache} keeps no answer across one.
     */
    final java.util.concurrent.atomic.AtomicLong layout = new java.util.concurrent.atomic.AtomicLong();

    /** Counts changes to {@link #entries} ({@link MirrorCache#indexChanged}); what this tree's index file holds is {@link #savedIndexEdits}. */
    final java.util.concurrent.atomic.AtomicLong indexEdits = new java.util.concurrent.atomic.AtomicLong();
    /** The last answer of a run's start for the whole tree (Wholeness: its info line is said when it turns true). */
    volatile boolean answeredWhole;
    /** Sessions opened on this tree since the daemon started (Wholeness: a tree's first run completes nothing). */
    final java.util.concurrent.atomic.AtomicInteger runs = new java.util.concurrent.atomic.AtomicInteger();
    /** Guarded by the cache ({@link MirrorCache#save}). */
    long savedIndexEdits;
    /** Sessions holding this tree ({@link MirrorCache#acquire}); guarded by the cache's tree lock. */
    int users;
    /** When a session last held it (ms): the least recently used idle trees go first when the disk is short. */
    volatile long lastUseMs;
    /**
     * Listed directories that lack some of the host's entries (one could not be mirrored: a full disk) or
     * that the host would not list (EACCES): the kernel would not answer there as the host does, so the
     * tree is not whole ({@link Wholeness}) until a listing of them succeeds. Stored as unlisted.
     */
    final Set<String> incomplete = ConcurrentHashMap.newKeySet();
    /** A background completion or re-listing pass runs on this tree ({@link Wholeness}): one at a time. */
    final java.util.concurrent.atomic.AtomicBoolean completing = new java.util.concurrent.atomic.AtomicBoolean();
    /** Sessions that asked for a pass here, with their mount of this tree: one goes on when a pass's session closes. */
    final ConcurrentHashMap<Wholeness, Mount> wanting = new ConcurrentHashMap<>();
    /** A pass was asked for since the running one last looked: it goes round again. */
    final java.util.concurrent.atomic.AtomicBoolean passAgain = new java.util.concurrent.atomic.AtomicBoolean();
    /**
     * Listed directories some of whose entries are not made here yet (lazily listed for a rewrite-mode run:
     * every lookup there stops and makes the name it looks up, {@link #materialize}), by the names still
     * absent. The kernel may not look names up in them by itself until {@link #materializeDir}; a tree
     * with any is not whole. Stored as unlisted, their absent entries not at all.
     */
    final ConcurrentHashMap<String, Set<String>> sparse = new ConcurrentHashMap<>();
    /** Sessions of this tree whose run is kernel-rooted: while any runs, listings make every entry at once. */
    final java.util.concurrent.atomic.AtomicInteger kernelRootedRuns = new java.util.concurrent.atomic.AtomicInteger();
    /** Guards a directory's sparse set while a listing or {@link #materializeDir} works on it (striped by name). */
    private final Object[] sparseLocks = new Object[32];

    {
        for (int i = 0; i < sparseLocks.length; i++) sparseLocks[i] = new Object();
    }

    /** Set once the tree outgrew the completion cap (logged once): it stays in rewrite mode. */
    volatile boolean tooBig;
    private final MirrorCache cache;

    Tree(MirrorCache cache, String key, String root) {
        this.cache = cache;
        this.key = key;
        this.root = root;
    }

    String pathOf(String rel) {
        return rel.isEmpty() ? root : root + "/" + rel;
    }

    static String parentOf(String rel) {
        int slash = rel.lastIndexOf('/');
        return slash < 0 ? "" : rel.substring(0, slash);
    }

    /** The last component of {@code rel}: its name in its directory. */
    static String nameOf(String rel) {
        return rel.substring(rel.lastIndexOf('/') + 1);
    }

    /** Notes {@code rel} as absent: listed, not made here ({@link Entry#absent}; the index's load). */
    void noteAbsent(String rel) {
        sparse.computeIfAbsent(parentOf(rel), d -> ConcurrentHashMap.newKeySet()).add(nameOf(rel));
    }

    static String child(String relDir, String name) {
        return relDir.isEmpty() ? name : relDir + "/" + name;
    }

    static boolean isUnder(String rel, String relDir) {
        return relDir.isEmpty() || rel.equals(relDir) || rel.startsWith(relDir + "/");
    }

    // ---- whose watches cover this tree (tether.proto FilesOpen.watch_epoch); in memory only ----
    /** The epoch under which everything here was last validated and since listed, or 0. */
    private long watchEpoch;
    /** Sessions running on this tree, by the epoch they announced. */
    private final Map<Long, Integer> active = new HashMap<>();

    /**
     * A session of {@code epoch} starts: true if it may ask the client what changed instead of
     * revalidating (the tree was validated under this epoch, and no session of another client's
     * watches runs or has run since). Pair with {@link #sessionEnded}.
     */
    synchronized boolean sessionStarted(long epoch) {
        boolean alone = active.keySet().stream().allMatch(e -> e == epoch);
        boolean trusted = epoch != 0 && alone && watchEpoch == epoch;
        if (epoch != watchEpoch) watchEpoch = 0; // what this client lists is not watched by the other's
        active.merge(epoch, 1, Integer::sum);
        return trusted;
    }

    /** The session of {@code epoch} revalidated the whole tree: if it alone runs here, its watches now cover it. */
    synchronized void validatedUnder(long epoch) {
        if (epoch != 0 && active.keySet().stream().allMatch(e -> e == epoch)) watchEpoch = epoch;
    }

    synchronized void sessionEnded(long epoch) {
        active.computeIfPresent(epoch, (e, n) -> n > 1 ? n - 1 : null);
    }

    /** The kernel is about to create, remove or rename {@code rel} after the host did; returns the mark, for {@link #settled}. */
    long expectKernel(String rel) {
        long deadline = System.nanoTime() + FLUX_NS;
        inFlux.put(rel, deadline);
        return deadline;
    }

    /** The syscall behind {@code mark} is over (its session ended): listings may touch {@code rel} again at once. */
    void settled(String rel, long mark) {
        inFlux.remove(rel, mark);
    }

    private boolean inFlux(String rel) {
        Long deadline = inFlux.get(rel);
        if (deadline == null) return false;
        if (System.nanoTime() - deadline > 0) {
            inFlux.remove(rel, deadline);
            return false;
        }
        return true;
    }

    Entry entry(String rel, HostAttr attr) {
        return entries.computeIfAbsent(rel, r -> new Entry(r, attr));
    }

    private Object sparseLock(String relDir) {
        return sparseLocks[(relDir.hashCode() & 0x7fffffff) % sparseLocks.length];
    }

    /** Makes the mirror of {@code relDir} hold exactly the host's listing; marks it listed. */
    void apply(String relDir, HostListing listing) throws ErrnoException {
        apply(relDir, listing, false);
    }

    /**
     * As {@link #apply(String, HostListing)}; {@code lazy}: names not here yet other than directories are only
     * noted ({@link Entry#absent}, the directory {@link #sparse}) and made when looked up, unless a
     * kernel-rooted run uses the tree (the kernel looks them up without asking). A cold run's listings
     * name thousands of files of which it looks up tens (ld.so's search path, /usr/bin).
     */
    void apply(String relDir, HostListing listing, boolean lazy) throws ErrnoException {
        synchronized (sparseLock(relDir)) {
            apply0(relDir, listing, lazy && kernelRootedRuns.get() == 0);
        }
    }

    private void apply0(String relDir, HostListing listing, boolean lazy) throws ErrnoException {
        String dir = pathOf(relDir);
        MirrorFs.LocalStat dirStat = MirrorFs.lstatOrNull(dir);
        if (dirStat == null || !dirStat.isDirectory()) {
            if (dirStat != null) removeLocal(relDir);
            MirrorFs.mkdirs(dir);
        }
        HostAttr dirAttr = listing.dir(); // null if the server sent none: the entry's own attributes stand
        // We must be able to write in it while populating it; the host decides the tracees' rights.
        if (!ROOT || dirStat == null) MirrorFs.chmod(dir, (dirAttr == null ? 0755 : dirMode(dirAttr.mode())) | 0700);
        Map<String, HostDirEntry> host = new HashMap<>();
        for (HostDirEntry e : listing.entries()) host.put(e.name(), e);
        List<String> local = MirrorFs.list(dir);
        Set<String> present = new HashSet<>(local);
        boolean lost = false;
        // New entries inherit the group of a set-group-ID directory instead of ours.
        boolean sgid = (MirrorFs.lstat(dir).mode() & 02000) != 0;
        for (String name : local) {
            if (!host.containsKey(name)) {
                String rel = child(relDir, name);
                if (inFlux(rel)) continue;
                Entry gone = entries.get(rel);
                if (gone != null && gone.pinned()) continue; // being written here: the write-back decides
                removeLocal(rel);
            }
        }
        // Names an earlier lazy listing noted that the host no longer has.
        Set<String> absentBefore = sparse.get(relDir);
        if (absentBefore != null) {
            for (String name : List.copyOf(absentBefore)) {
                if (host.containsKey(name)) continue;
                Entry gone = entries.get(child(relDir, name));
                if (gone == null) continue;
                boolean made;
                synchronized (gone) {
                    made = !gone.absent;
                    if (!made) {
                        entries.remove(gone.rel, gone);
                        gone.absent = false; // and never made by a lookup that found it before
                    }
                }
                // Made by a lookup after this directory was read above: gone all the same.
                if (made && !gone.pinned() && !inFlux(gone.rel)) removeLocal(gone.rel);
            }
        }
        Set<String> absent = ConcurrentHashMap.newKeySet();
        int lostNames = 0;
        ErrnoException firstLost = null;
        boolean roomAsked = false;
        for (HostDirEntry e : listing.entries()) {
            if (!isEntryName(e.name())) { // a client's bug: never a path out of this directory
                lost = true;
                lostNames++;
                if (firstLost == null) firstLost = new ErrnoException(Errno.EIO, "mirror", "a malformed name in " + relDir + ": " + e.name());
                continue;
            }
            for (;;) {
                try {
                    String rel = child(relDir, e.name());
                    int how = present.contains(e.name()) || inFlux(rel) ? APPLY : note(rel, e, lazy);
                    if (how == NOTED) absent.add(e.name());
                    if (how != APPLY) break;
                    try {
                        applyEntry(rel, e, present.contains(e.name()), sgid);
                    } catch (ErrnoException ex) {
                        // Made here since we read the directory (the tracee's own create): look again.
                        if (ex.errno() != Errno.EEXIST || present.contains(e.name())) throw ex;
                        applyEntry(rel, e, true, sgid);
                    }
                    break;
                } catch (ErrnoException ex) {
                    // The cache's disk is full: once per listing, the trees no session uses make room, then this name again.
                    if (isFull(ex) && !roomAsked) {
                        roomAsked = true;
                        if (cache.makeRoom(this)) continue;
                    }
                    lost = true;
                    lostNames++;
                    if (firstLost == null) firstLost = new ErrnoException(ex.errno(), "mirror", child(relDir, e.name()));
                    break;
                }
            }
        }
        if (firstLost != null) {
            LOG.warn("mirror {}: cannot mirror {} of the {} names in {} (the first: {}); they stay unlisted until a listing can",
                    key, lostNames, listing.entries().size(), relDir.isEmpty() ? "/" : relDir, firstLost.getMessage());
        }
        if (absent.isEmpty()) sparse.remove(relDir);
        else sparse.put(relDir, absent);
        if (lost) incomplete.add(relDir);
        else incomplete.remove(relDir);
        Entry self = entry(relDir, dirAttr);
        if (dirAttr != null) stamp(dir, dirAttr, true);
        synchronized (self) {
            if (dirAttr != null) self.attr = dirAttr;
            self.listed = true;
            self.lastUse = System.currentTimeMillis();
        }
        cache.indexChanged(this);
    }

    private static final int APPLY = 0, NOTED = 1, MADE = 2;

    /** One directory entry's name: not empty, not . or .., no slash or NUL. */
    static boolean isEntryName(String name) {
        return !name.isEmpty() && !name.equals(".") && !name.equals("..") && name.indexOf('/') < 0 && name.indexOf('\0') < 0;
    }

    /**
     * A listed name not made here: with {@code lazy}, NOTED as absent unless it is a directory (made at
     * once: paths are walked through them) or an entry already made; without, an absent one is MADE now,
     * keeping its entry; anything else is left to {@link #applyEntry} (APPLY).
     */
    private int note(String rel, HostDirEntry e, boolean lazy) throws ErrnoException {
        HostAttr a = e.attr();
        Entry ex = entries.get(rel);
        if (ex == null) {
            if (!lazy || a.isDirectory()) return APPLY;
            Entry n = new Entry(rel, a);
            n.absent = true;
            n.linkTarget = e.linkTarget();
            return entries.putIfAbsent(rel, n) == null ? NOTED : APPLY;
        }
        synchronized (ex) {
            if (!ex.absent) return APPLY;
            if (a.isDirectory() || (a.mode() & HostAttr.S_IFMT) != (ex.attr.mode() & HostAttr.S_IFMT)) {
                entries.remove(rel, ex); // became a directory (or another type): made afresh
                ex.absent = false;
                return APPLY;
            }
            ex.attr = a;
            ex.linkTarget = e.linkTarget();
            if (lazy) return NOTED;
        }
        materialize(rel);
        return MADE;
    }

    /**
     * Makes {@code rel} here if a lazy listing left it absent (a no-op otherwise): a placeholder, symlink or
     * node as {@link #applyEntry} would have made it, keeping the entry.
     */
    void materialize(String rel) throws ErrnoException {
        materialize(rel, null);
    }

    /** As {@link #materialize(String)}; {@code sgid}: whether its directory is set-group-ID, null to look. */
    private void materialize(String rel, Boolean sgid) throws ErrnoException {
        Entry e = entries.get(rel);
        if (e == null) return;
        String relDir = parentOf(rel);
        synchronized (e) {
            if (!e.absent) return;
            if (!inFlux(rel)) make(pathOf(rel), e.attr, e.linkTarget, sgid != null ? sgid : setGroupId(relDir));
            e.absent = false;
            e.linkTarget = null;
        }
        Set<String> names = sparse.get(relDir);
        if (names != null) names.remove(nameOf(rel));
    }

    private boolean setGroupId(String relDir) throws ErrnoException {
        return (MirrorFs.lstat(pathOf(relDir)).mode() & 02000) != 0;
    }

    /** The names in the mirror of {@code relDir}: those made here (in readdir order), then those still absent. */
    List<String> names(String relDir) throws ErrnoException {
        List<String> names = new java.util.ArrayList<>(MirrorFs.list(pathOf(relDir)));
        Set<String> absent = sparse.get(relDir);
        if (absent != null) {
            Set<String> here = new HashSet<>(names);
            for (String name : absent) if (!here.contains(name)) names.add(name);
        }
        return names;
    }

    /** Makes every absent entry of {@code relDir} here: the kernel may then look names up in it by itself. */
    void materializeDir(String relDir) throws ErrnoException {
        synchronized (sparseLock(relDir)) {
            Set<String> names = sparse.get(relDir);
            if (names == null) return;
            boolean sgid = setGroupId(relDir); // once for all its names
            for (String name : List.copyOf(names)) materialize(child(relDir, name), sgid);
            if (names.isEmpty()) sparse.remove(relDir, names);
        }
    }

    /** Creates what an absent entry stands for (an existing name, made meanwhile by a fetch or the kernel, stays). */
    private void make(String path, HostAttr a, String linkTarget, boolean sgid) throws ErrnoException {
        try {
            make0(path, a, linkTarget, sgid);
        } catch (ErrnoException ex) {
            if (!isFull(ex) || !cache.makeRoom(this)) throw ex;
            make0(path, a, linkTarget, sgid); // idle trees made room
        }
    }

    /** The cache's disk is full (blocks, inodes or quota). */
    static boolean isFull(ErrnoException ex) {
        return ex.errno() == Errno.ENOSPC || ex.errno() == Errno.EDQUOT;
    }

    private void make0(String path, HostAttr a, String linkTarget, boolean sgid) throws ErrnoException {
        try {
            if (a.isSymlink()) {
                MirrorFs.symlink(linkTarget == null ? "" : linkTarget, path);
                stampNew(path, a, false, sgid);
            } else if (a.isRegular()) {
                newPlaceholder(path, a, sgid);
            } else if ((a.mode() & HostAttr.S_IFMT) == 0010000 || ROOT) {
                MirrorFs.mknod(path, a.mode(), a.rdev());
                stamp(path, a, false);
            }
        } catch (ErrnoException ex) {
            if (ex.errno() != Errno.EEXIST) throw ex;
        }
    }

    /**
     * Mirrors one listed entry. {@code maybePresent}: false when the directory, as read just before,
     * has no such name (no lstat then); {@code sgid}: the directory is set-group-ID.
     */
    private void applyEntry(String rel, HostDirEntry e, boolean maybePresent, boolean sgid) throws ErrnoException {
        String path = pathOf(rel);
        HostAttr a = e.attr();
        if (inFlux(rel)) return;
        MirrorFs.LocalStat local = maybePresent ? MirrorFs.lstatOrNull(path) : null;
        Entry ex = entries.get(rel);
        if (local != null && ex == null) {
            // Left over from before a restart and not in the index: rebuild it from the host's word.
            removeLocal(rel);
            local = null;
        } else if (local == null && ex != null && !ex.pinned()) {
            forget(rel); // known but gone from the tree: its contents (and what lay below) no longer count
            ex = null;
        }
        if (local != null && ex != null) {
            synchronized (ex) {
                ex.absent = false; // here after all (made after the index was written)
                ex.linkTarget = null;
            }
        }
        if (local != null && local.type() != (a.mode() & HostAttr.S_IFMT)) {
            if (ex != null && ex.pinned()) return;
            removeLocal(rel);
            local = null;
            ex = null;
        }
        if (a.isDirectory()) {
            if (local == null) {
                MirrorFs.mkdir(path, 0700);
                stampNew(path, a, true, sgid);
                entries.put(rel, new Entry(rel, a));
                return;
            }
            boolean restamp;
            synchronized (ex) {
                // A directory whose contents changed is re-listed when next used.
                if (ex.listed && !sameDir(ex.attr, a)) ex.listed = false;
                restamp = ex.attr == null || !sameMeta(ex.attr, a);
                ex.attr = a;
            }
            if (restamp) stamp(path, a, true);
        } else if (a.isSymlink()) {
            String target = e.linkTarget() == null ? "" : e.linkTarget();
            if (local != null && ex.attr != null && ex.attr.sameContentAs(a) && MirrorFs.readlink(path).equals(target)) return;
            if (local != null) MirrorFs.unlink(path);
            MirrorFs.symlink(target, path);
            if (local != null) layout.incrementAndGet();
            stampNew(path, a, false, sgid);
            entries.put(rel, new Entry(rel, a));
        } else if (a.isRegular()) {
            if (local == null) {
                newPlaceholder(path, a, sgid);
                entries.put(rel, new Entry(rel, a));
                return;
            }
            synchronized (ex) {
                if (ex.writers > 0) return; // our own unsent writes win until written back
                if (ex.contents && ex.attr != null && ex.attr.sameContentAs(a)) {
                    if (!sameMeta(ex.attr, a)) stamp(path, a, false);
                    ex.attr = a;
                    return;
                }
                if (!ex.contents && local.size() == a.size() && ex.attr != null && ex.attr.sameContentAs(a)) {
                    if (!sameMeta(ex.attr, a)) stamp(path, a, false);
                    ex.attr = a;
                    return;
                }
                // Changed on the host: a fresh placeholder renamed over it (open fds and maps keep the old file).
                placeholder(rel, a);
                if (ex.contents) cache.released(ex.bytes);
                ex.contents = false;
                ex.bytes = 0;
                ex.attr = a;
            }
        } else {
            if (local == null) {
                int type = a.mode() & HostAttr.S_IFMT;
                try {
                    if (type == 0010000 || ROOT) {
                        MirrorFs.mknod(path, a.mode(), a.rdev());
                        stamp(path, a, false);
                    } else {
                        return; // a device or socket we may not make: absent here
                    }
                } catch (ErrnoException ex2) {
                    return;
                }
            }
            entries.put(rel, new Entry(rel, a));
        }
    }

    /**
     * A placeholder at a new name nobody can hold open: made in place, in one open and a few fd calls (the
     * owner only when creating did not give it; the mode always: the daemon's umask varies, Spawner sets a
     * run's around a spawn). EEXIST if the name is taken.
     */
    private static void newPlaceholder(String path, HostAttr a, boolean sgid) throws ErrnoException {
        int fd = MirrorFs.open(path, MirrorFs.O_WRONLY | MirrorFs.O_CREAT | MirrorFs.O_EXCL, a.mode() & 0777);
        try {
            if (a.size() > 0) MirrorFs.ftruncate(fd, a.size(), path);
            MirrorFs.fstamp(fd, a.mode(), needsChown(a, sgid), a.uid(), a.gid(), a.atimeNs(), a.mtimeNs(), path);
        } finally {
            MirrorFs.close(fd);
        }
    }

    /**
     * Puts a placeholder for {@code rel}: a sparse file of the host's size, mode, owner and times,
     * made aside and renamed into place so nobody sees it half made.
     */
    void placeholder(String rel, HostAttr a) throws ErrnoException {
        String tmp = cache.tempPath("ph");
        int fd = MirrorFs.open(tmp, MirrorFs.O_WRONLY | MirrorFs.O_CREAT | MirrorFs.O_EXCL, 0600);
        try {
            MirrorFs.ftruncate(fd, a.size(), tmp);
        } finally {
            MirrorFs.close(fd);
        }
        try {
            stamp(tmp, a, false);
            MirrorFs.rename(tmp, pathOf(rel));
        } catch (ErrnoException e) {
            try {
                MirrorFs.unlink(tmp);
            } catch (ErrnoException ignored) {
                // best effort
            }
            throw e;
        }
    }

    /** Gives a local file the host's mode, owner (when root) and times. */
    static void stamp(String path, HostAttr a, boolean dir) throws ErrnoException {
        if (ROOT) {
            try {
                MirrorFs.lchown(path, a.uid(), a.gid());
            } catch (ErrnoException e) {
                // an id this file system refuses: keep ours
            }
        }
        if (!a.isSymlink()) MirrorFs.chmod(path, dir ? dirMode(a.mode()) : a.mode());
        MirrorFs.lutimes(path, a.atimeNs(), a.mtimeNs());
    }

    /** Like {@link #stamp}, for what we just made: the owner only when creating did not give it. */
    private static void stampNew(String path, HostAttr a, boolean dir, boolean sgid) throws ErrnoException {
        boolean chown = needsChown(a, sgid);
        if (chown) {
            try {
                MirrorFs.lchown(path, a.uid(), a.gid());
            } catch (ErrnoException e) {
                // an id this file system refuses: keep ours
            }
        }
        if (!a.isSymlink()) MirrorFs.chmod(path, dir ? dirMode(a.mode()) : a.mode());
        MirrorFs.lutimes(path, a.atimeNs(), a.mtimeNs());
    }

    /** Whether a file we create gets an owner other than the host's (we may chown only as root). */
    private static boolean needsChown(HostAttr a, boolean sgid) {
        return ROOT && (sgid || a.uid() != EUID || a.gid() != EGID);
    }

    /** Directories stay writable and searchable for us when we are not root: the host enforces rights. */
    static int dirMode(int mode) {
        return ROOT ? mode & 07777 : (mode & 07777) | 0700;
    }

    private static boolean sameDir(HostAttr a, HostAttr b) {
        return a != null && a.mtimeNs() == b.mtimeNs() && a.ctimeNs() == b.ctimeNs() && a.ino() == b.ino();
    }

    private static boolean sameMeta(HostAttr a, HostAttr b) {
        return a.mode() == b.mode() && a.uid() == b.uid() && a.gid() == b.gid() && a.mtimeNs() == b.mtimeNs()
                && a.atimeNs() == b.atimeNs();
    }

    /** Removes a mirrored path and everything below it, locally and from the index. */
    void removeLocal(String rel) throws ErrnoException {
        try {
            MirrorFs.removeTree(pathOf(rel));
        } finally {
            layout.incrementAndGet();
        }
        forget(rel);
    }

    /**
     * Whether no entry can lie below {@code rel}, known without looking at every entry (a build's unlink or rename
     * of a file would otherwise scan the whole tree's index): entries below a name come only from listing it as a
     * directory, so not below a name known as anything else, nor below one unknown here that is no local directory.
     */
    private boolean nothingBelow(String rel) {
        if (rel.isEmpty()) return false;
        Entry e = entries.get(rel);
        if (e != null) {
            synchronized (e) {
                return e.attr != null && !e.attr.isDirectory();
            }
        }
        try {
            MirrorFs.LocalStat st = MirrorFs.lstatOrNull(pathOf(rel));
            return st == null || !st.isDirectory();
        } catch (ErrnoException ex) {
            return false;
        }
    }

    /** Drops the index entries of {@code rel} and below (their contents no longer count). */
    void forget(String rel) {
        if (nothingBelow(rel)) {
            Entry e = entries.remove(rel);
            if (e != null) {
                synchronized (e) {
                    if (e.contents) cache.released(e.bytes);
                    e.contents = false;
                    e.bytes = 0;
                }
            }
            incomplete.remove(rel);
            sparse.remove(rel);
            cache.indexChanged(this);
            return;
        }
        for (Entry e : List.copyOf(entries.values())) {
            if (isUnder(e.rel, rel)) {
                entries.remove(e.rel, e);
                synchronized (e) {
                    if (e.contents) cache.released(e.bytes);
                    e.contents = false;
                    e.bytes = 0;
                }
            }
        }
        incomplete.removeIf(r -> isUnder(r, rel));
        sparse.keySet().removeIf(r -> isUnder(r, rel));
        cache.indexChanged(this);
    }

    /** Moves the entries of {@code from} and below to {@code to} (a rename the kernel is about to make). */
    void move(String from, String to) {
        forgetOnly(to);
        if (nothingBelow(from)) {
            Entry e = entries.remove(from);
            if (e != null) entries.put(to, moved(e, to));
            if (incomplete.remove(from)) incomplete.add(to);
            Set<String> names = sparse.remove(from);
            if (names != null) sparse.put(to, names);
            cache.indexChanged(this);
            return;
        }
        for (String r : List.copyOf(incomplete)) {
            if (isUnder(r, from) && incomplete.remove(r)) incomplete.add(to + r.substring(from.length()));
        }
        for (String r : List.copyOf(sparse.keySet())) {
            Set<String> names = isUnder(r, from) ? sparse.remove(r) : null;
            if (names != null) sparse.put(to + r.substring(from.length()), names);
        }
        for (Entry e : List.copyOf(entries.values())) {
            if (isUnder(e.rel, from)) {
                entries.remove(e.rel, e);
                String rel = to + e.rel.substring(from.length());
                entries.put(rel, moved(e, rel));
            }
        }
        cache.indexChanged(this);
    }

    /** A copy of {@code e} at {@code rel}. */
    private static Entry moved(Entry e, String rel) {
        synchronized (e) {
            Entry moved = new Entry(rel, e.attr);
            moved.listed = e.listed;
            moved.contents = e.contents;
            moved.bytes = e.bytes;
            moved.lastUse = e.lastUse;
            moved.writers = e.writers;
            moved.localIno = e.localIno;
            moved.localCtimeNs = e.localCtimeNs;
            moved.absent = e.absent;
            moved.linkTarget = e.linkTarget;
            return moved;
        }
    }

    private void forgetOnly(String rel) {
        if (rel.isEmpty()) return;
        forget(rel);
    }

    /** A path that must exist in the host's eyes: ENOENT / ENOTDIR otherwise. */
    static ErrnoException missing(String op, String path) {
        return new ErrnoException(Errno.ENOENT, op, path);
    }
}
