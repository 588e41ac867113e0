package io.tether.daemon.mirror;

import io.tether.daemon.files.HostAttr;
import io.tether.daemon.files.HostDirEntry;
import io.tether.daemon.files.HostExport;
import io.tether.daemon.files.HostFiles;
import io.tether.daemon.files.HostListing;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiConsumer;
import java.util.stream.Stream;

/**
 * A {@link HostFiles} serving local directories (one per export) as the client would, counting
 * round trips per operation, with faults to inject: one operation failing with an errno, or every
 * call failing (a lost connection gives EIO).
 */
final class DirectoryHostFiles implements HostFiles {
    private final List<HostExport> exports = new ArrayList<>();
    private final List<Path> roots = new ArrayList<>();
    private final Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
    private final Map<String, Integer> failing = new ConcurrentHashMap<>();
    private final Map<String, Integer> alwaysFailing = new ConcurrentHashMap<>();
    private final List<BiConsumer<Integer, Changed>> listeners = new CopyOnWriteArrayList<>();
    private volatile int failAll;
    private volatile long fetchDelayMs;
    /** While set, each readdir reads, then waits (in {@link #readdirsWaiting}) until counted down: what is in flight at once. */
    private volatile java.util.concurrent.CountDownLatch readdirGate;
    private final Set<String> readdirsWaiting = ConcurrentHashMap.newKeySet();
    private final List<String> readdirsAsked = new CopyOnWriteArrayList<>();
    /** "asked REL" when a fetch comes in, "answered REL" when it returns its file: the order fetches were in flight. */
    private final List<String> fetchEvents = new CopyOnWriteArrayList<>();
    /** Set while a readdirTree reads its directories: one call, not one per directory. */
    private final ThreadLocal<Boolean> inTree = new ThreadLocal<>();

    /** Export 0 (the guest root) served from {@code root}, cached under {@code cacheKey}. */
    DirectoryHostFiles(Path root, String cacheKey) {
        add(root, "/", false, cacheKey);
    }

    DirectoryHostFiles add(Path root, String guestPath, boolean readOnly, String cacheKey) {
        exports.add(new HostExport(exports.size(), guestPath, readOnly, cacheKey));
        roots.add(root);
        return this;
    }

    int calls(String op) {
        AtomicInteger n = calls.get(op);
        return n == null ? 0 : n.get();
    }

    int totalCalls() {
        return calls.values().stream().mapToInt(AtomicInteger::get).sum();
    }

    void failNext(String op, int errno) {
        failing.put(op, errno);
    }

    /** Every call of {@code op} fails with {@code errno} (0: stop). */
    void failAlways(String op, int errno) {
        if (errno == 0) alwaysFailing.remove(op);
        else alwaysFailing.put(op, errno);
    }

    void failEverything(int errno) {
        failAll = errno;
    }

    void slowFetch(long ms) {
        fetchDelayMs = ms;
    }

    /** From now on every readdir waits until {@link #releaseReaddirs}. */
    void holdReaddirs() {
        readdirGate = new java.util.concurrent.CountDownLatch(1);
    }

    void releaseReaddirs() {
        java.util.concurrent.CountDownLatch gate = readdirGate;
        readdirGate = null;
        if (gate != null) gate.countDown();
    }

    /** The rels of the readdirs held now. */
    Set<String> readdirsWaiting() {
        return Set.copyOf(readdirsWaiting);
    }

    /** The rel of every readdir asked for (not a walk's), in order. */
    List<String> readdirsAsked() {
        return List.copyOf(readdirsAsked);
    }

    /** Each fetch's "asked REL" and "answered REL" (successful ones), in the order they happened. */
    List<String> fetchEvents() {
        return List.copyOf(fetchEvents);
    }

    /** What an older client's watcher would push: the name only. */
    void push(int export, String rel) {
        for (BiConsumer<Integer, Changed> l : listeners) l.accept(export, Changed.unknown(rel));
    }

    /** What the client's watcher pushes: the name and what the host holds there now. */
    void pushNow(int export, String rel) {
        Changed c = now(export, rel);
        for (BiConsumer<Integer, Changed> l : listeners) l.accept(export, c);
    }

    /** Pushes {@code c} as given (a push the client made earlier, arriving late). */
    void push(int export, Changed c) {
        for (BiConsumer<Integer, Changed> l : listeners) l.accept(export, c);
    }

    Changed now(int export, String rel) {
        Path p = rel.isEmpty() ? roots.get(export) : roots.get(export).resolve(rel);
        try {
            return new Changed(rel, attr(p), true);
        } catch (java.nio.file.NoSuchFileException e) {
            return new Changed(rel, null, true);
        } catch (IOException e) {
            return Changed.unknown(rel);
        }
    }

    private Path path(int export, String rel, String op) throws ErrnoException {
        if (inTree.get() == null) calls.computeIfAbsent(op, k -> new AtomicInteger()).incrementAndGet();
        if (failAll != 0) throw new ErrnoException(failAll, op, rel);
        Integer e = failing.remove(op);
        if (e == null) e = alwaysFailing.get(op);
        if (e != null) throw new ErrnoException(e, op, rel);
        Path root = roots.get(export);
        return rel.isEmpty() ? root : root.resolve(rel);
    }

    static ErrnoException errno(IOException e, String op, Object what) {
        int n;
        if (e instanceof NoSuchFileException) n = Errno.ENOENT;
        else if (e instanceof FileAlreadyExistsException) n = Errno.EEXIST;
        else if (e instanceof DirectoryNotEmptyException) n = Errno.ENOTEMPTY;
        else if (e instanceof AccessDeniedException) n = Errno.EACCES;
        else if (e instanceof NotDirectoryException) n = Errno.ENOTDIR;
        else if (e instanceof FileSystemException f && String.valueOf(f.getReason()).contains("Not a directory")) n = Errno.ENOTDIR;
        else if (e instanceof FileSystemException f && String.valueOf(f.getReason()).contains("Is a directory")) n = Errno.EISDIR;
        else n = io.tether.daemon.files.RemoteHostFiles.localErrno(e); // a local write's full disk, as the real one says
        return new ErrnoException(n, op, String.valueOf(what));
    }

    static HostAttr attr(Path p) throws IOException {
        Map<String, Object> a = Files.readAttributes(p, "unix:*", LinkOption.NOFOLLOW_LINKS);
        return new HostAttr((Integer) a.get("mode"), (Integer) a.get("uid"), (Integer) a.get("gid"), (Long) a.get("size"),
                ns(a.get("lastAccessTime")), ns(a.get("lastModifiedTime")), ns(a.get("ctime")), (Long) a.get("ino"),
                (Long) a.get("dev"), (Integer) a.get("nlink"), (Long) a.get("rdev"), 0);
    }

    private static long ns(Object t) {
        return ((FileTime) t).to(TimeUnit.NANOSECONDS);
    }

    @Override
    public List<HostExport> exports() {
        return List.copyOf(exports);
    }

    @Override
    public String hostArch() {
        return System.getProperty("os.arch");
    }

    @Override
    public HostAttr getattr(int export, String rel, boolean follow) throws ErrnoException {
        Path p = path(export, rel, "getattr");
        try {
            return attr(follow ? p.toRealPath() : p);
        } catch (IOException e) {
            throw errno(e, "getattr", rel);
        }
    }

    /** One request, as over the wire; each directory's listing is its own (uncounted) read. */
    @Override
    public int readdirTree(int export, String rel, int maxEntries, BiConsumer<String, HostListing> sink) throws ErrnoException {
        path(export, rel, "readdirTree");
        walkerNice = niceOfThisThread();
        inTree.set(true);
        try {
            WalkCut cut = walkCut.get();
            if (cut == null) return HostFiles.super.readdirTree(export, rel, maxEntries, sink);
            int[] delivered = {0};
            // One walk is cut (the first to get that far), others in flight go on.
            return HostFiles.super.readdirTree(export, rel, maxEntries, (dir, listing) -> {
                if (delivered[0]++ == cut.after && walkCut.compareAndSet(cut, null)) throw new WalkCutException();
                sink.accept(dir, listing);
            });
        } catch (WalkCutException e) {
            walkCutAt = rel;
            walkCutsDone.incrementAndGet();
            walkCutAction.run();
            throw new ErrnoException(Errno.EIO, "readdirTree", rel + ": reset by peer: file server closed");
        } finally {
            inTree.remove();
        }
    }

    /** The niceness of the thread that asked for the last walk listing. */
    volatile int walkerNice = Integer.MIN_VALUE;

    /** This thread's nice value (/proc/thread-self/stat, field 19). */
    static int niceOfThisThread() {
        try {
            String stat = Files.readString(Path.of("/proc/thread-self/stat"));
            return Integer.parseInt(stat.substring(stat.lastIndexOf(')') + 2).split(" ")[16]);
        } catch (IOException | RuntimeException e) {
            return Integer.MIN_VALUE;
        }
    }

    private record WalkCut(int after) {}

    private static final class WalkCutException extends RuntimeException {
        WalkCutException() {
            super(null, null, false, false);
        }
    }

    private final java.util.concurrent.atomic.AtomicReference<WalkCut> walkCut = new java.util.concurrent.atomic.AtomicReference<>();
    private volatile Runnable walkCutAction = () -> {};
    private final AtomicInteger walkCutsDone = new AtomicInteger();

    /**
     * The next walk listing stops after {@code dirs} directories: {@code atCut} runs (a run's end closing its
     * session) and the walk fails as a client's file server going away would.
     */
    void cutNextWalk(int dirs, Runnable atCut) {
        walkCutAction = atCut;
        walkCut.set(new WalkCut(dirs));
    }

    int walkCuts() {
        return walkCutsDone.get();
    }

    /** The rel of the walk {@link #cutNextWalk} cut. */
    String walkCutAt() {
        return walkCutAt;
    }

    private volatile String walkCutAt;

    @Override
    public HostListing readdir(int export, String rel) throws ErrnoException {
        Path p = path(export, rel, "readdir");
        if (inTree.get() != null) return list(p, rel);
        readdirsAsked.add(rel);
        java.util.concurrent.CountDownLatch gate = readdirGate;
        if (gate == null) return list(p, rel);
        // Read now, answered when released: the reply is on its way meanwhile.
        HostListing listing = null;
        ErrnoException failed = null;
        try {
            listing = list(p, rel);
        } catch (ErrnoException e) {
            failed = e;
        }
        readdirsWaiting.add(rel);
        try {
            if (!gate.await(60, TimeUnit.SECONDS)) throw new ErrnoException(Errno.EIO, "readdir", "held too long: " + rel);
        } catch (InterruptedException e) {
            throw new ErrnoException(Errno.EINTR, "readdir", rel);
        } finally {
            readdirsWaiting.remove(rel);
        }
        if (failed != null) throw failed;
        return listing;
    }

    /** When set, every listing as the host read it goes through this first (a client's bugs, for tests). */
    volatile java.util.function.BiFunction<String, HostListing, HostListing> tamper;

    private HostListing list(Path p, String rel) throws ErrnoException {
        HostListing read = list0(p, rel);
        var t = tamper;
        return t == null ? read : t.apply(rel, read);
    }

    private static HostListing list0(Path p, String rel) throws ErrnoException {
        try (Stream<Path> s = Files.list(p)) {
            List<HostDirEntry> entries = new ArrayList<>();
            for (Path c : (Iterable<Path>) s::iterator) {
                HostAttr a = attr(c);
                entries.add(new HostDirEntry(c.getFileName().toString(), a,
                        a.isSymlink() ? Files.readSymbolicLink(c).toString() : null));
            }
            return new HostListing(attr(p), entries);
        } catch (IOException e) {
            throw errno(e, "readdir", rel);
        }
    }

    @Override
    public String readlink(int export, String rel) throws ErrnoException {
        Path p = path(export, rel, "readlink");
        try {
            return Files.readSymbolicLink(p).toString();
        } catch (IOException e) {
            throw errno(e, "readlink", rel);
        }
    }

    @Override
    public byte[] read(int export, String rel, long offset, int length) throws ErrnoException {
        Path p = path(export, rel, "read");
        try {
            byte[] all = Files.readAllBytes(p);
            int from = (int) Math.min(offset, all.length);
            return java.util.Arrays.copyOfRange(all, from, Math.min(all.length, from + length));
        } catch (IOException e) {
            throw errno(e, "read", rel);
        }
    }

    @Override
    public HostAttr fetch(int export, String rel, Path localFile) throws ErrnoException {
        Path p = path(export, rel, "fetch");
        fetchEvents.add("asked " + rel);
        try {
            if (fetchDelayMs > 0) Thread.sleep(fetchDelayMs);
            HostAttr a = attr(p);
            if (a.isDirectory()) throw new ErrnoException(Errno.EISDIR, "fetch", rel);
            // In place, as the HostFiles contract says: an existing local file keeps its inode.
            try (java.nio.channels.FileChannel in = java.nio.channels.FileChannel.open(p);
                    java.nio.channels.FileChannel out = java.nio.channels.FileChannel.open(localFile, StandardOpenOption.CREATE,
                            StandardOpenOption.WRITE)) {
                long size = in.size();
                for (long at = 0; at < size; ) at += in.transferTo(at, size - at, out.position(at));
                out.truncate(size);
            }
            fetchEvents.add("answered " + rel);
            return a;
        } catch (IOException e) {
            if (e instanceof ErrnoException x) throw x;
            throw errno(e, "fetch", rel);
        } catch (InterruptedException e) {
            throw new ErrnoException(Errno.EINTR, "fetch", rel);
        }
    }

    @Override
    public HostAttr put(int export, String rel, Path localFile, int mode, boolean chmod, boolean sync) throws ErrnoException {
        Path p = path(export, rel, "put");
        Path tmp = p.resolveSibling("." + p.getFileName() + ".tether-tmp");
        try {
            Files.copy(localFile, tmp, StandardCopyOption.REPLACE_EXISTING);
            Files.setPosixFilePermissions(tmp, perms(mode));
            Files.move(tmp, p, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return attr(p);
        } catch (IOException e) {
            throw errno(e, "put", rel);
        }
    }

    static Set<PosixFilePermission> perms(int mode) {
        Set<PosixFilePermission> s = java.util.EnumSet.noneOf(PosixFilePermission.class);
        PosixFilePermission[] order = {PosixFilePermission.OTHERS_EXECUTE, PosixFilePermission.OTHERS_WRITE,
                PosixFilePermission.OTHERS_READ, PosixFilePermission.GROUP_EXECUTE, PosixFilePermission.GROUP_WRITE,
                PosixFilePermission.GROUP_READ, PosixFilePermission.OWNER_EXECUTE, PosixFilePermission.OWNER_WRITE,
                PosixFilePermission.OWNER_READ};
        for (int i = 0; i < order.length; i++) {
            if ((mode & (1 << i)) != 0) s.add(order[i]);
        }
        return s;
    }

    @Override
    public HostAttr create(int export, String rel, int mode, boolean exclusive, boolean truncate) throws ErrnoException {
        Path p = path(export, rel, "create");
        try {
            if (Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
                if (exclusive) throw new ErrnoException(Errno.EEXIST, "create", rel);
                if (truncate) Files.write(p, new byte[0]);
            } else {
                Files.createFile(p);
                Files.setPosixFilePermissions(p, perms(mode));
            }
            return attr(p);
        } catch (IOException e) {
            if (e instanceof ErrnoException x) throw x;
            throw errno(e, "create", rel);
        }
    }

    @Override
    public HostAttr truncate(int export, String rel, long size) throws ErrnoException {
        Path p = path(export, rel, "truncate");
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(p, java.nio.file.StandardOpenOption.WRITE)) {
            ch.truncate(size);
        } catch (IOException e) {
            throw errno(e, "truncate", rel);
        }
        try {
            return attr(p);
        } catch (IOException e) {
            throw errno(e, "truncate", rel);
        }
    }

    @Override
    public HostAttr mkdir(int export, String rel, int mode) throws ErrnoException {
        Path p = path(export, rel, "mkdir");
        try {
            Files.createDirectory(p);
            Files.setPosixFilePermissions(p, perms(mode));
            return attr(p);
        } catch (IOException e) {
            throw errno(e, "mkdir", rel);
        }
    }

    @Override
    public HostAttr mknod(int export, String rel, int mode, long rdev) throws ErrnoException {
        path(export, rel, "mknod");
        throw new ErrnoException(Errno.EPERM, "mknod", rel);
    }

    @Override
    public void unlink(int export, String rel) throws ErrnoException {
        Path p = path(export, rel, "unlink");
        try {
            if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) throw new ErrnoException(Errno.EISDIR, "unlink", rel);
            Files.delete(p);
        } catch (IOException e) {
            if (e instanceof ErrnoException x) throw x;
            throw errno(e, "unlink", rel);
        }
    }

    @Override
    public void rmdir(int export, String rel) throws ErrnoException {
        Path p = path(export, rel, "rmdir");
        try {
            if (!Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) throw new NoSuchFileException(rel);
                throw new ErrnoException(Errno.ENOTDIR, "rmdir", rel);
            }
            Files.delete(p);
        } catch (IOException e) {
            if (e instanceof ErrnoException x) throw x;
            throw errno(e, "rmdir", rel);
        }
    }

    @Override
    public HostAttr rename(int export, String rel, int toExport, String toRel, int flags) throws ErrnoException {
        Path p = path(export, rel, "rename");
        if (export != toExport) throw new ErrnoException(Errno.EXDEV, "rename", rel);
        Path to = roots.get(toExport).resolve(toRel);
        try {
            Files.move(p, to, StandardCopyOption.ATOMIC_MOVE);
            return attr(to);
        } catch (IOException e) {
            throw errno(e, "rename", rel);
        }
    }

    @Override
    public void link(int export, String rel, int toExport, String toRel) throws ErrnoException {
        Path p = path(export, rel, "link");
        if (export != toExport) throw new ErrnoException(Errno.EXDEV, "link", rel);
        try {
            Files.createLink(roots.get(toExport).resolve(toRel), p);
        } catch (IOException e) {
            throw errno(e, "link", rel);
        }
    }

    @Override
    public HostAttr symlink(int export, String rel, String target) throws ErrnoException {
        Path p = path(export, rel, "symlink");
        try {
            Files.createSymbolicLink(p, Path.of(target));
            return attr(p);
        } catch (IOException e) {
            throw errno(e, "symlink", rel);
        }
    }

    @Override
    public HostAttr chmod(int export, String rel, int mode) throws ErrnoException {
        Path p = path(export, rel, "chmod");
        try {
            Files.setPosixFilePermissions(p, perms(mode));
            return attr(p);
        } catch (IOException e) {
            throw errno(e, "chmod", rel);
        }
    }

    @Override
    public void chown(int export, String rel, long uid, long gid, boolean follow) throws ErrnoException {
        path(export, rel, "chown");
    }

    @Override
    public void utimes(int export, String rel, long atimeS, long atimeNs, long mtimeS, long mtimeNs, boolean follow)
            throws ErrnoException {
        Path p = path(export, rel, "utimes");
        try {
            Files.setLastModifiedTime(p, FileTime.from(mtimeS * 1_000_000_000L + mtimeNs, TimeUnit.NANOSECONDS));
        } catch (IOException e) {
            throw errno(e, "utimes", rel);
        }
    }

    @Override
    public long[] statfs(int export, String rel) throws ErrnoException {
        path(export, rel, "statfs");
        return new long[10];
    }

    @Override
    public void fsync(int export, String rel) throws ErrnoException {
        path(export, rel, "fsync");
    }

    @Override
    public byte[] getxattr(int export, String rel, String name, boolean follow) throws ErrnoException {
        path(export, rel, "getxattr");
        throw new ErrnoException(Errno.ENODATA, "getxattr", rel);
    }

    @Override
    public void setxattr(int export, String rel, String name, byte[] value, int flags, boolean follow) throws ErrnoException {
        path(export, rel, "setxattr");
        throw new ErrnoException(Errno.EOPNOTSUPP, "setxattr", rel);
    }

    @Override
    public List<String> listxattr(int export, String rel, boolean follow) throws ErrnoException {
        path(export, rel, "listxattr");
        return List.of();
    }

    @Override
    public void removexattr(int export, String rel, String name, boolean follow) throws ErrnoException {
        path(export, rel, "removexattr");
        throw new ErrnoException(Errno.ENODATA, "removexattr", rel);
    }

    /** What {@link #watchEpoch} announces, and what {@link #changes} answers next (null: ESTALE). */
    volatile long epoch;
    volatile List<String> changed;

    @Override
    public long watchEpoch() {
        return epoch;
    }

    @Override
    public List<String> changes(int export) throws ErrnoException {
        path(export, "", "changes");
        List<String> c = changed;
        if (c == null) throw new ErrnoException(Errno.ESTALE, "validate", "changes");
        changed = List.of();
        return c;
    }

    /** Whether {@link #changesNow} says what the host holds at each changed rel (as the client does). */
    volatile boolean changesTold;

    @Override
    public List<Changed> changesNow(int export) throws ErrnoException {
        List<Changed> c = new ArrayList<>();
        for (String rel : changes(export)) c.add(changesTold ? now(export, rel) : Changed.unknown(rel));
        return c;
    }

    /** The largest Validation list one validate call was given. */
    volatile int largestValidation;

    @Override
    public List<String> validate(int export, List<Validation> cached) throws ErrnoException {
        path(export, "", "validate");
        largestValidation = Math.max(largestValidation, cached.size());
        List<String> stale = new ArrayList<>();
        for (Validation v : cached) {
            Path p = v.rel().isEmpty() ? roots.get(export) : roots.get(export).resolve(v.rel());
            try {
                HostAttr a = attr(p);
                if (a.mtimeNs() != v.mtimeNs() || a.ctimeNs() != v.ctimeNs() || a.size() != v.size() || a.ino() != v.ino()) {
                    stale.add(v.rel());
                }
            } catch (IOException e) {
                stale.add(v.rel());
            }
        }
        return stale;
    }

    @Override
    public void onInvalidate(BiConsumer<Integer, String> listener) {
        listeners.add((export, c) -> listener.accept(export, c.rel()));
    }

    @Override
    public void onChanged(BiConsumer<Integer, Changed> listener) {
        listeners.add(listener);
    }

    @Override
    public void close() {
    }
}
