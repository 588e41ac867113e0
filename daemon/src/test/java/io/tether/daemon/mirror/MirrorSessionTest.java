package io.tether.daemon.mirror;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tether.daemon.files.HostAttr;
import io.tether.daemon.files.HostFiles;
import io.tether.daemon.guest.Bind;
import io.tether.daemon.guest.Change;
import io.tether.daemon.guest.FileKind;
import io.tether.daemon.guest.GuestView;
import io.tether.daemon.guest.ProcessIds;
import io.tether.daemon.guest.Resolved;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MirrorSessionTest {
    private static final int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0100, O_EXCL = 0200, O_TRUNC = 01000,
            O_DIRECTORY = 0200000;

    @TempDir
    Path tmp;
    Path host;
    Path cacheDir;
    MirrorCache cache;
    DirectoryHostFiles files;
    MirrorSession s;

    @BeforeEach
    void setUp() throws IOException {
        host = Files.createDirectories(tmp.resolve("host"));
        cacheDir = tmp.resolve("cache");
        Files.createDirectories(host.resolve("usr/share/doc"));
        Files.writeString(host.resolve("usr/share/doc/readme"), "hello from the host\n");
        Files.writeString(host.resolve("etc-file"), "x".repeat(5000));
        Files.createSymbolicLink(host.resolve("link"), Path.of("/usr/share"));
    }

    @AfterEach
    void tearDown() {
        if (s != null) s.close();
        if (cache != null) cache.close();
    }

    private MirrorSession open(long maxBytes) throws ErrnoException {
        if (cache == null) cache = MirrorCache.open(cacheDir, maxBytes);
        if (files == null) files = new DirectoryHostFiles(host, "rootfs-1");
        s = cache.session(files);
        return s;
    }

    private MirrorSession open() throws ErrnoException {
        return open(1L << 30);
    }

    private String t(String rel) {
        return s.rootHostPath() + "/" + rel;
    }

    /** Whether the mirror knows {@code rel} (made here, or noted by a lazy listing and made when looked up). */
    private boolean known(String rel) throws ErrnoException {
        return cache.tree("rootfs-1").entries.containsKey(rel);
    }

    private static String read(String targetPath) throws IOException {
        return Files.readString(Path.of(targetPath));
    }

    private static void eventually(String what, java.util.concurrent.Callable<Boolean> check) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!check.call()) {
            if (System.nanoTime() > end) throw new AssertionError("timed out waiting for " + what);
            Thread.sleep(20);
        }
    }

    @Test
    void aListingNamingSomethingOutsideItsDirectoryMakesNothingThereAndTheRestIsMirrored() throws Exception {
        open();
        files.tamper = (rel, l) -> {
            if (!rel.isEmpty()) return l;
            List<io.tether.daemon.files.HostDirEntry> named = new ArrayList<>(l.entries());
            HostAttr file = l.entries().stream().filter(e -> e.attr().isRegular()).findFirst().orElseThrow().attr();
            HostAttr dir = l.entries().stream().filter(e -> e.attr().isDirectory()).findFirst().orElseThrow().attr();
            for (String bad : List.of("../escaped-file", "..", ".", "", "sub/name")) named.add(new io.tether.daemon.files.HostDirEntry(bad, file, null));
            for (String bad : List.of("../escaped-dir", "sub/dir")) named.add(new io.tether.daemon.files.HostDirEntry(bad, dir, null));
            return new io.tether.daemon.files.HostListing(l.dir(), named);
        };
        assertEquals(FileKind.DIRECTORY, s.kind(t("usr")));
        assertEquals(FileKind.REGULAR, s.kind(t("etc-file")));
        s.beforeOpen(t("etc-file"), O_RDONLY, 0);
        assertEquals("x".repeat(5000), read(t("etc-file")));
        Path root = Path.of(s.rootHostPath());
        assertFalse(Files.exists(root.getParent().resolve("escaped-file"), LinkOption.NOFOLLOW_LINKS));
        assertFalse(Files.exists(root.getParent().resolve("escaped-dir"), LinkOption.NOFOLLOW_LINKS));
        assertFalse(Files.exists(root.resolve("sub"), LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void directoryIsListedOnceTheFirstTimeResolutionLooksInsideIt() throws Exception {
        open();
        assertEquals(0, files.calls("readdir"));
        assertEquals(FileKind.DIRECTORY, s.kind(t("usr")));
        assertEquals(1, files.calls("readdir"));
        assertEquals(FileKind.DIRECTORY, s.kind(t("usr/share")));
        assertEquals(FileKind.REGULAR, s.kind(t("usr/share/doc/readme")));
        assertEquals(FileKind.SYMLINK, s.kind(t("link")));
        assertEquals("/usr/share", s.readlink(t("link")));
        int listings = files.calls("readdir");
        assertEquals(4, listings, "/, usr, usr/share, usr/share/doc");
        for (int i = 0; i < 10; i++) s.kind(t("usr/share/doc/readme"));
        assertEquals(listings, files.calls("readdir"), "no round trip once listed");
        ErrnoException missing = assertThrows(ErrnoException.class, () -> s.kind(t("usr/nope")));
        assertEquals(Errno.ENOENT, missing.errno());
        assertEquals(0, files.calls("fetch"), "listing fetches no contents");
    }

    /**
     * Resolution keeps what it learnt of directories and symlinks; what a push, a re-listing or our own change
     * does to one of them is seen by the next lookup all the same.
     */
    @Test
    void keptDirectoriesAndSymlinksFollowPushesAndOurOwnChanges() throws Exception {
        Files.createDirectories(host.resolve("usr/lib/gone"));
        Files.createDirectories(host.resolve("usr/lib/moved/deep"));
        Files.createSymbolicLink(host.resolve("usr/lib/alias"), Path.of("moved"));
        open();
        for (String rel : List.of("usr", "usr/share", "usr/share/doc", "usr/lib", "usr/lib/gone", "usr/lib/moved", "usr/lib/moved/deep")) {
            assertEquals(FileKind.DIRECTORY, s.kind(t(rel)), rel);
        }
        assertEquals(FileKind.SYMLINK, s.kind(t("usr/lib/alias")));
        assertEquals("moved", s.readlink(t("usr/lib/alias")));
        assertEquals(FileKind.REGULAR, s.kind(t("usr/share/doc/readme")));
        assertEquals(9, s.lookupsKept(), "7 directories, a symlink and its target; the file is not kept");

        // The host removes a directory and repoints a symlink; the pushes reach us (the names, and their
        // directories, whose times changed: as the client's watches of both report them).
        deleteTree(host.resolve("usr/share/doc"));
        Files.delete(host.resolve("usr/lib/alias"));
        Files.createSymbolicLink(host.resolve("usr/lib/alias"), Path.of("gone"));
        files.push(0, "usr/share/doc");
        files.push(0, "usr/share");
        files.push(0, "usr/lib/alias");
        files.push(0, "usr/lib");
        s.awaitBackground();
        eventually("the removed directory seen", () -> {
            try {
                s.kind(t("usr/share/doc"));
                return false;
            } catch (ErrnoException e) {
                return e.errno() == Errno.ENOENT;
            }
        });
        eventually("the repointed symlink seen", () -> "gone".equals(s.readlink(t("usr/lib/alias"))));

        // Our own removal and rename, applied on the host and then by "the kernel" here.
        assertEquals(FileKind.DIRECTORY, s.kind(t("usr/lib/gone")));
        s.beforeChange(new Change.Rmdir(t("usr/lib/gone")));
        Files.deleteIfExists(Path.of(t("usr/lib/gone"))); // a re-listing of usr/lib may have removed it already
        assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class, () -> s.kind(t("usr/lib/gone"))).errno());
        assertEquals(FileKind.DIRECTORY, s.kind(t("usr/lib/moved/deep")));
        s.beforeChange(new Change.Rename(t("usr/lib/moved"), t("usr/lib/renamed"), 0));
        // A lookup racing the kernel's rename still finds the old name here (kept again); the call's exit stop drops it.
        // (as a resolution asks: every component from the root)
        assertEquals(FileKind.DIRECTORY, s.kind(t("usr")));
        assertEquals(FileKind.DIRECTORY, s.kind(t("usr/lib")));
        int before = s.lookupsKept();
        assertEquals(FileKind.DIRECTORY, s.kind(t("usr/lib/moved")));
        assertEquals(before + 1, s.lookupsKept());
        Files.move(Path.of(t("usr/lib/moved")), Path.of(t("usr/lib/renamed")));
        s.invalidate(t("usr/lib/moved"));
        assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class, () -> s.kind(t("usr/lib/moved"))).errno());
        assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class, () -> s.kind(t("usr/lib/moved/deep"))).errno());
        assertEquals(FileKind.DIRECTORY, s.kind(t("usr/lib/renamed/deep")));
        // A symlink we remove and make again elsewhere-pointing.
        s.beforeChange(new Change.Unlink(t("usr/lib/alias")));
        Files.delete(Path.of(t("usr/lib/alias")));
        s.beforeChange(new Change.Symlink("renamed", t("usr/lib/alias")));
        Files.createSymbolicLink(Path.of(t("usr/lib/alias")), Path.of("renamed"));
        assertEquals("renamed", s.readlink(t("usr/lib/alias")));
    }

    private static void deleteTree(Path p) throws IOException {
        try (var walk = Files.walk(p)) {
            for (Path q : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(q);
        }
    }

    @Test
    void aRewriteModeListingMakesOnlyTheNamesLookedUpUntilTheDirectoryIsRead() throws Exception {
        Path lib = Files.createDirectories(host.resolve("lib"));
        for (int i = 0; i < 50; i++) Files.writeString(lib.resolve("f" + i), "file " + i);
        Files.createSymbolicLink(lib.resolve("alias"), Path.of("f7"));
        Files.createDirectories(lib.resolve("sub"));
        open();
        assertEquals(FileKind.REGULAR, s.kind(t("lib/f3")));
        Path dir = Path.of(t("lib"));
        try (var names = Files.list(dir)) {
            assertEquals(List.of("f3", "sub"), names.map(p -> p.getFileName().toString()).sorted().toList(),
                    "the name looked up and the directories: the other 50 noted, not made");
        }
        assertFalse(s.kernelMayLookUpIn(t("lib")), "the kernel would not find the names not made");
        assertTrue(known("lib/f40"));
        assertEquals(6L, Files.size(Path.of(t("lib/f3"))), "a placeholder of the host's size");
        assertEquals(FileKind.SYMLINK, s.kind(t("lib/alias")));
        assertEquals("f7", s.readlink(t("lib/alias")));
        ErrnoException gone = assertThrows(ErrnoException.class, () -> s.kind(t("lib/nope")));
        assertEquals(Errno.ENOENT, gone.errno());
        s.beforeOpen(t("lib/f9"), O_RDONLY, 0); // an open makes and fetches it
        assertEquals("file 9", read(t("lib/f9")));
        // The host removes a noted name and adds one: the re-listing the push starts notes that too.
        Files.delete(lib.resolve("f20"));
        Files.writeString(lib.resolve("f99"), "late");
        files.push(0, "lib");
        assertEquals(FileKind.REGULAR, s.kind(t("lib/f99")));
        assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class, () -> s.kind(t("lib/f20"))).errno());
        assertFalse(known("lib/f20"));
        assertFalse(s.kernelMayLookUpIn(t("lib")));
        int listings = files.calls("readdir");
        s.beforeOpen(t("lib"), O_RDONLY | O_DIRECTORY, 0); // getdents comes next: every name made
        try (var names = Files.list(dir)) {
            assertEquals(52, names.count());
        }
        assertTrue(s.kernelMayLookUpIn(t("lib")));
        assertEquals(listings, files.calls("readdir"), "made from what was listed, no round trip");
        assertEquals("f7", Files.readSymbolicLink(Path.of(t("lib/alias"))).toString());
        assertEquals("file 40".length(), Files.size(Path.of(t("lib/f40"))));
    }

    @Test
    void namesNotMadeYetSurviveARestartAsNotedAndAreMadeWhenLookedUp() throws Exception {
        Path lib = Files.createDirectories(host.resolve("lib"));
        for (int i = 0; i < 5; i++) Files.writeString(lib.resolve("f" + i), "file " + i);
        Files.createSymbolicLink(lib.resolve("alias"), Path.of("f1"));
        open();
        s.kind(t("lib/f0"));
        s.close();
        cache.close();
        cache = null;
        s = null;
        open();
        int listings = files.calls("readdir");
        assertTrue(known("lib/f4"), "noted in the index");
        assertFalse(Files.exists(Path.of(t("lib/f4"))));
        assertEquals(FileKind.REGULAR, s.kind(t("lib/f4")));
        assertEquals("f1", s.readlink(t("lib/alias")));
        assertEquals(listings, files.calls("readdir"), "no listing again");
        s.beforeOpen(t("lib/f4"), O_RDONLY, 0);
        assertEquals("file 4", read(t("lib/f4")));
    }

    @Test
    void readingFilesOfADirectoryFetchesItsOtherSmallFilesAhead() throws Exception {
        Path lib = Files.createDirectories(host.resolve("lib"));
        for (int i = 0; i < 6; i++) Files.writeString(lib.resolve("m" + i), "module " + i);
        Files.write(lib.resolve("big"), new byte[(int) ReadAhead.MAX_FILE + 1]);
        open();
        s.beforeOpen(t("lib/m0"), O_RDONLY, 0);
        assertEquals(1, files.calls("fetch"), "one file read: nothing ahead");
        s.beforeOpen(t("lib/m1"), O_RDONLY, 0);
        s.awaitPrefetches();
        assertEquals(6, files.calls("fetch"), "the other small files came ahead, the big one did not");
        for (int i = 0; i < 6; i++) assertEquals("module " + i, read(t("lib/m" + i)));
        s.kind(t("lib/big"));
        assertEquals(ReadAhead.MAX_FILE + 1, Files.size(Path.of(t("lib/big"))), "still a placeholder");
    }

    /**
     * A cache that earlier runs filled past half (an LRU cache in use is full) still reads ahead: the bound is on
     * what one session fetches ahead, and what it fetches takes the room of the least recently used contents.
     */
    @Test
    void aCacheFilledPastHalfByEarlierRunsStillReadsAhead() throws Exception {
        Path old = Files.createDirectories(host.resolve("old"));
        for (int i = 0; i < 3; i++) Files.write(old.resolve("o" + i), new byte[100_000]);
        Path lib = Files.createDirectories(host.resolve("lib"));
        for (int i = 0; i < 6; i++) Files.writeString(lib.resolve("m" + i), "module " + i);
        open(400_000);
        for (int i = 0; i < 3; i++) s.beforeOpen(t("old/o" + i), O_RDONLY, 0);
        s.awaitPrefetches();
        assertTrue(cache.usedBytes() > cache.maxBytes() / 2, cache.usedBytes() + " of " + cache.maxBytes());
        s.close();
        files = null;
        open(400_000);
        int before = files.calls("fetch");
        s.beforeOpen(t("lib/m0"), O_RDONLY, 0);
        s.beforeOpen(t("lib/m1"), O_RDONLY, 0);
        s.awaitPrefetches();
        assertEquals(6, files.calls("fetch") - before, "the other small files came ahead");
    }

    @Test
    void aDirectoryReadThroughGetsItsBigFilesAheadToo() throws Exception {
        Path all = Files.createDirectories(host.resolve("all"));
        for (int i = 0; i < ReadAhead.BIG_AFTER + 8; i++) Files.writeString(all.resolve(String.format("s%02d", i)), "small " + i);
        byte[] big = new byte[(int) ReadAhead.MAX_FILE + 1];
        java.util.Arrays.fill(big, (byte) 'x');
        Files.write(all.resolve("big"), big);
        open();
        for (int i = 0; i < ReadAhead.BIG_AFTER - 1; i++) s.beforeOpen(t(String.format("all/s%02d", i)), O_RDONLY, 0);
        s.awaitPrefetches();
        s.kind(t("all/big")); // made here (listed lazily)
        assertEquals(0, Files.readAllBytes(Path.of(t("all/big")))[0], "a few reads: the big file is still a placeholder");
        s.beforeOpen(t(String.format("all/s%02d", ReadAhead.BIG_AFTER - 1)), O_RDONLY, 0);
        s.awaitPrefetches();
        assertEquals('x', Files.readAllBytes(Path.of(t("all/big")))[0], "read through: the big file came ahead");
    }

    /**
     * {@code find w -type f -exec cat {} +}: the files come in the walk's order, one per directory, so per-directory
     * read-ahead never sees two reads in one; after {@link TreeOrder#STREAK} of them the rest come ahead, the big
     * one too. Read in another order, nothing comes ahead.
     */
    @Test
    void filesReadInTheWalksOrderComeAheadAcrossDirectories() throws Exception {
        for (int i = 0; i < 8; i++) Files.writeString(Files.createDirectories(host.resolve("w/d" + i + "/sub")).resolve("f"), "file " + i);
        byte[] big = new byte[(int) ReadAhead.MAX_FILE + 1];
        java.util.Arrays.fill(big, (byte) 'x');
        Files.write(host.resolve("w/d3/big"), big);
        Files.writeString(host.resolve("other"), "not in the walk");
        open();
        List<String> order = walk("w");
        assertEquals(9, order.size(), order.toString());
        int before = files.calls("fetch");
        for (int i = 0; i < order.size(); i++) {
            s.awaitPrefetches();
            assertEquals(i >= TreeOrder.STREAK, contentsOf(order.get(i)), i + ": " + order.get(i));
            s.beforeOpen(t(order.get(i)), O_RDONLY, 0);
        }
        s.awaitPrefetches();
        assertEquals(order.size(), files.calls("fetch") - before, "the walk's files, each once, and nothing else");
        assertEquals('x', Files.readAllBytes(Path.of(t("w/d3/big")))[0]);
        assertEquals("file 7", read(t("w/d7/sub/f")));
        assertFalse(contentsOf("other"));

        s.close();
        cache.close();
        cache = null;
        files = null;
        deleteTree(cacheDir);
        open();
        order = walk("w");
        java.util.Collections.reverse(order);
        before = files.calls("fetch");
        for (String rel : order) {
            s.awaitPrefetches();
            assertFalse(contentsOf(rel), rel);
            s.beforeOpen(t(rel), O_RDONLY, 0);
        }
        assertEquals(order.size(), files.calls("fetch") - before, "out of order: each file fetched when read, nothing ahead");
    }

    /** A walk longer than the biggest window: what the reader has passed leaves the window, so the rest still comes ahead. */
    @Test
    void aWalkLongerThanTheWindowIsFetchedAheadToItsEnd() throws Exception {
        int files = (int) (TreeOrder.MAX_WINDOW / ReadAhead.MAX_FILE) + 8;
        for (int i = 0; i < files; i++) {
            Path d = Files.createDirectories(host.resolve(String.format("long/d%03d", i)));
            try (var f = new java.io.RandomAccessFile(d.resolve("f").toFile(), "rw")) {
                f.setLength(ReadAhead.MAX_FILE); // sparse on the host
            }
        }
        open();
        List<String> order = walk("long");
        assertEquals(files, order.size());
        for (int i = 0; i < order.size(); i++) {
            s.awaitPrefetches();
            assertEquals(i >= TreeOrder.STREAK, contentsOf(order.get(i)), i + ": " + order.get(i));
            s.beforeOpen(t(order.get(i)), O_RDONLY, 0);
        }
    }

    /**
     * Reads in the walk's order that stay in one directory (an interpreter's modules) start no read-ahead in walk
     * order: its big files stay placeholders until that directory's own read-ahead takes them (after many reads).
     */
    @Test
    void readsInOrderWithinOneDirectoryFetchNothingAheadInWalkOrder() throws Exception {
        Path pkg = Files.createDirectories(host.resolve("pkg"));
        byte[] big = new byte[(int) ReadAhead.MAX_FILE + 1];
        for (int i = 0; i < 8; i++) Files.write(pkg.resolve("m" + i), big);
        open();
        List<String> order = walk("pkg");
        assertEquals(8, order.size(), order.toString());
        for (int i = 0; i < order.size() - 2; i++) s.beforeOpen(t(order.get(i)), O_RDONLY, 0);
        s.awaitPrefetches();
        assertFalse(contentsOf(order.get(order.size() - 2)), "nothing ahead: " + order);
        assertFalse(contentsOf(order.get(order.size() - 1)));
    }

    /** Opens {@code rel} and the directories below it as find does (depth first, readdir order); its regular files in that order. */
    private List<String> walk(String rel) throws Exception {
        s.beforeOpen(t(rel), O_RDONLY | O_DIRECTORY, 0);
        List<String> found = new ArrayList<>();
        try (var names = Files.newDirectoryStream(Path.of(t(rel)))) {
            for (Path p : names) {
                String child = rel + "/" + p.getFileName();
                FileKind k = s.kind(t(child));
                if (k == FileKind.DIRECTORY) found.addAll(walk(child));
                else if (k == FileKind.REGULAR) found.add(child);
            }
        }
        return found;
    }

    @Test
    void aWalkListsTheWholeSubtreeInOneRequestAndAppliesADirectoryWhenItIsNeeded() throws Exception {
        for (String d : List.of("w/a/x", "w/b/y", "w/c")) Files.createDirectories(host.resolve(d));
        Files.writeString(host.resolve("w/b/y/f"), "f");
        open();
        s.beforeOpen(t("w"), O_RDONLY | O_DIRECTORY, 0);
        int listed = files.calls("readdir"); // the root and w
        assertEquals(2, listed, "one directory opened: nothing ahead");
        s.beforeOpen(t("w/a"), O_RDONLY | O_DIRECTORY, 0); // w/a opened inside w: a walk
        s.awaitPrefetches();
        assertEquals(1, files.calls("readdirTree"), "w's subtree in one request");
        assertFalse(Files.exists(Path.of(t("w/b/y/f")), LinkOption.NOFOLLOW_LINKS), "w/b/y kept, not applied, until needed");
        assertEquals(FileKind.REGULAR, s.kind(t("w/b/y/f")));
        assertEquals(FileKind.DIRECTORY, s.kind(t("w/a/x")));
        assertEquals(FileKind.DIRECTORY, s.kind(t("w/c")));
        s.beforeOpen(t("w/c"), O_RDONLY | O_DIRECTORY, 0);
        assertEquals(listed + 1, files.calls("readdir"), "only w/a was listed on its own (the tracee's, before the walk)");
        assertEquals(1, files.calls("readdirTree"), "the walk below w is covered");
        assertEquals(0, files.calls("fetch"));
        s.close();
        s = cache.session(files);
        for (String d : List.of("w", "w/a", "w/b", "w/b/y")) s.beforeOpen(t(d), O_RDONLY | O_DIRECTORY, 0);
        s.awaitPrefetches();
        assertEquals(1, files.calls("readdirTree"), "a cached tree is walked with no walk listing");
    }

    @Test
    void aWalkThroughACachedTreeStopsLookingAheadUntilItMisses() throws Exception {
        int n = 3 * ReadAhead.QUIET_LOOKS;
        List<String> walk = new java.util.ArrayList<>(List.of("w"));
        for (int i = 0; i < n; i++) {
            walk.add(String.format("w/d%02d", i));
            walk.add(String.format("w/d%02d/sub", i));
        }
        for (String d : walk) Files.createDirectories(host.resolve(d));
        Files.createDirectories(host.resolve("v/z/q/r"));
        open();
        for (String d : walk) s.beforeOpen(t(d), O_RDONLY | O_DIRECTORY, 0);
        s.awaitPrefetches();
        s.close();
        s = cache.session(files);
        for (String d : walk) {
            s.beforeOpen(t(d), O_RDONLY | O_DIRECTORY, 0);
            s.awaitPrefetches(); // a tracee's opens are far apart next to a look through a local directory
        }
        long looked = s.lookedAhead();
        assertTrue(looked <= ReadAhead.QUIET_LOOKS + 1, "a walk through the cached tree stops looking ahead: " + looked + " of " + walk.size());
        int readdirs = files.calls("readdir") + files.calls("readdirTree");
        for (String d : List.of("v", "v/z", "v/z/q")) s.beforeOpen(t(d), O_RDONLY | O_DIRECTORY, 0);
        s.awaitPrefetches();
        assertTrue(files.calls("readdir") + files.calls("readdirTree") > readdirs, "v's subtree was not cached");
        assertTrue(s.lookedAhead() > looked, "a miss starts the work ahead again");
        assertEquals(FileKind.DIRECTORY, s.kind(t("v/z/q/r")));
    }

    @Test
    void aTraceeWalkingThroughAWalkListingGetsAllOfItAppliedAhead() throws Exception {
        int n = ReadAhead.EAGER_AFTER + 8;
        for (int i = 0; i < n; i++) Files.createDirectories(host.resolve(String.format("w/d%02d/sub", i)));
        Files.writeString(host.resolve(String.format("w/d%02d/sub/f", n - 1)), "last");
        open();
        s.beforeOpen(t("w"), O_RDONLY | O_DIRECTORY, 0);
        for (int i = 0; i < ReadAhead.EAGER_AFTER; i++) s.beforeOpen(t(String.format("w/d%02d", i)), O_RDONLY | O_DIRECTORY, 0);
        String lastRel = String.format("w/d%02d/sub/f", n - 1);
        Path last = Path.of(t(lastRel));
        s.awaitPrefetches();
        assertFalse(known(lastRel), "not yet: " + (ReadAhead.EAGER_AFTER - 1) + " opens below the walk's root");
        s.beforeOpen(t(String.format("w/d%02d", ReadAhead.EAGER_AFTER)), O_RDONLY | O_DIRECTORY, 0);
        s.awaitPrefetches();
        assertTrue(Files.exists(last, LinkOption.NOFOLLOW_LINKS), "applied ahead of the tracee, every name made");
        int readdirs = files.calls("readdir");
        assertEquals(FileKind.REGULAR, s.kind(last.toString()));
        assertEquals(readdirs, files.calls("readdir"), "no round trip for it");
        assertEquals(1, files.calls("readdirTree"));
    }

    @Test
    void aWalkListingReadBeforeAHostChangeIsNotApplied() throws Exception {
        for (String d : List.of("w/a", "w/b")) Files.createDirectories(host.resolve(d));
        open();
        s.beforeOpen(t("w"), O_RDONLY | O_DIRECTORY, 0);
        s.beforeOpen(t("w/a"), O_RDONLY | O_DIRECTORY, 0);
        s.awaitPrefetches();
        assertEquals(1, files.calls("readdirTree"));
        Files.writeString(host.resolve("w/b/new"), "made on the host after the walk listing");
        int before = files.calls("readdir"); // the push may re-list w/b in the background, or the lookup below
        files.push(0, "w/b/new"); // what the client's watch of w/b pushes
        assertEquals(FileKind.REGULAR, s.kind(t("w/b/new")), "listed again, not from the walk listing");
        assertEquals(before + 1, files.calls("readdir"));
    }

    @Test
    void placeholderStatIsTheHostsSizeModeAndMtime() throws Exception {
        Path f = host.resolve("etc-file");
        Files.setPosixFilePermissions(f, DirectoryHostFiles.perms(0640));
        Files.setLastModifiedTime(f, FileTime.fromMillis(1_500_000_000_123L));
        open();
        s.kind(t("etc-file"));
        Map<String, Object> a = Files.readAttributes(Path.of(t("etc-file")), "unix:*", LinkOption.NOFOLLOW_LINKS);
        assertEquals(5000L, a.get("size"));
        assertEquals(0100640, (Integer) a.get("mode"));
        assertEquals(FileTime.fromMillis(1_500_000_000_123L), a.get("lastModifiedTime"));
        assertEquals(Files.getLastModifiedTime(host.resolve("usr")), Files.getLastModifiedTime(Path.of(t("usr"))));
        assertEquals(0, files.calls("fetch"));
    }

    @Test
    void contentsAreFetchedOnceThenServedLocallyAcrossSessions() throws Exception {
        open();
        s.kind(t("usr/share/doc/readme"));
        s.beforeOpen(t("usr/share/doc/readme"), O_RDONLY, 0);
        assertEquals("hello from the host\n", read(t("usr/share/doc/readme")));
        s.beforeOpen(t("usr/share/doc/readme"), O_RDONLY, 0);
        assertArrayEquals("hello".getBytes(), s.read(t("usr/share/doc/readme"), 0, 5));
        assertEquals(1, files.calls("fetch"));
        s.close();
        int before = files.totalCalls();
        s = cache.session(files);
        s.kind(t("usr/share/doc/readme"));
        s.beforeOpen(t("usr/share/doc/readme"), O_RDONLY, 0);
        assertEquals(1, files.calls("fetch"), "still cached");
        assertEquals(1, files.totalCalls() - before, "a warm session costs one validation round trip");
        assertEquals(1, files.calls("validate"));
    }

    @Test
    void creationReachesTheHostBeforeTheSyscallAndWritesGoBackOnClose() throws Exception {
        open();
        assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class, () -> s.kind(t("usr/new.txt"))).errno());
        s.beforeOpen(t("usr/new.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assertTrue(Files.exists(host.resolve("usr/new.txt")), "created on the host first");
        // What the tracee's open/write/close does to the mirror:
        Files.writeString(Path.of(t("usr/new.txt")), "written on the target");
        eventually("write-back on close", () -> Files.exists(host.resolve("usr/new.txt"))
                && Files.readString(host.resolve("usr/new.txt")).equals("written on the target"));
        assertEquals(1, files.calls("put"));
        s.flush();
        assertEquals(1, files.calls("put"), "nothing changed since: no second upload");
        s.sync(t("usr/new.txt"));
        assertEquals(1, files.calls("fsync"), "fsync of an unchanged file makes the last upload durable");
        MirrorStats stats = s.stats();
        assertEquals(1, stats.uploads());
        assertEquals(21, stats.uploadedBytes());
        assertEquals(1, stats.changes());
        assertEquals(files.calls("readdir"), stats.listings());
    }

    /** Watches kept between runs (FilesOpen.watch_epoch): the next run of that epoch asks what changed, nothing more. */
    @Test
    void aSessionOfTheEpochTheTreeWasValidatedUnderAsksOnlyWhatChanged() throws Exception {
        files = new DirectoryHostFiles(host, "rootfs-1");
        files.epoch = 7;
        files.changed = List.of();
        open(); // a cold tree: nothing to validate, and from now on epoch 7's
        s.beforeOpen(t("usr/share/doc/readme"), O_RDONLY, 0);
        assertEquals("hello from the host\n", read(t("usr/share/doc/readme")));
        s.close();
        Files.writeString(host.resolve("usr/share/doc/readme"), "changed on the host, same tree\n");
        files.changed = List.of("usr/share/doc/readme");
        s = cache.session(files);
        assertEquals(0, files.calls("validate"), "no revalidation under the same epoch");
        assertEquals(1, files.calls("changes"));
        s.beforeOpen(t("usr/share/doc/readme"), O_RDONLY, 0);
        assertEquals("changed on the host, same tree\n", read(t("usr/share/doc/readme")));

        // Another client's session (no epoch) runs meanwhile: its listings are not watched, so the next revalidates.
        MirrorSession foreign = cache.session(new DirectoryHostFiles(host, "rootfs-1"));
        foreign.close();
        s.close();
        s = cache.session(files);
        assertEquals(1, files.calls("validate"), "revalidated after another client's session");
        assertEquals(1, files.calls("changes"));
        s.close();
        // The client cannot tell (a gap in its watching): ESTALE, then a full revalidation.
        files.changed = null;
        s = cache.session(files);
        assertEquals(2, files.calls("changes"));
        assertEquals(2, files.calls("validate"));
    }

    /** A warm run can start within milliseconds of the last: its listing drops what the host removed since. */
    @Test
    void aFileTheLastSessionCreatedAndTheHostRemovedIsGoneAtOnceInTheNext() throws Exception {
        open();
        s.beforeOpen(t("usr/made"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        Files.writeString(Path.of(t("usr/made")), "x"); // the kernel's create, then a write
        s.flush();
        s.close();
        Files.delete(host.resolve("usr/made"));
        s = cache.session(files); // well within the kernel's 2 s grace of the create
        assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class, () -> s.kind(t("usr/made"))).errno());
        assertFalse(Files.exists(Path.of(t("usr/made"))), "the mirror dropped it");
    }

    @Test
    void creatingAFileTheHostMadeSinceTheListingKeepsItsContents() throws Exception {
        open();
        s.kind(t("usr/share/doc/readme"));
        Files.writeString(host.resolve("usr/share/doc/late"), "made on the host after the listing\n");
        s.beforeOpen(t("usr/share/doc/late"), O_RDWR | O_CREAT, 0644);
        assertEquals("made on the host after the listing\n", read(t("usr/share/doc/late")));
        s.flush();
        assertEquals("made on the host after the listing\n", Files.readString(host.resolve("usr/share/doc/late")));
    }

    /** cp -p up to the utimensat's entry stop: create, write, close, then the host gets the source's times. */
    private FileTime copyWrittenThenTimesSet() throws Exception {
        open();
        s.kind(t("usr"));
        s.beforeOpen(t("usr/copy"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        Files.writeString(Path.of(t("usr/copy")), "copied contents");
        s.beforeChange(new Change.Utimes(t("usr/copy"), 1_400_000_000L, 0, 1_400_000_000L, 0, false));
        return FileTime.fromMillis(1_400_000_000_000L);
    }

    @Test
    void anUploadBetweenTheHostsUtimesAndTheKernelsKeepsTheProgramsTimes() throws Exception {
        FileTime when = copyWrittenThenTimesSet();
        // A late close event (here: a lost-events rescan) uploads the file before the kernel's utimensat:
        // the file is untouched since the times were set, so they are not "written since".
        s.writeEventsLost();
        s.flush();
        assertEquals(when, Files.getLastModifiedTime(host.resolve("usr/copy")), "the host keeps the program's times");
        Files.setLastModifiedTime(Path.of(t("usr/copy")), when); // the kernel's utimensat
        s.writeEventsLost();
        s.flush();
        assertEquals("copied contents", Files.readString(host.resolve("usr/copy")));
        assertEquals(when, Files.getLastModifiedTime(host.resolve("usr/copy")), "and after the next upload too");
        assertEquals(when, Files.getLastModifiedTime(Path.of(t("usr/copy"))), "and so does the mirror");
        // Written after the times were set: the write's time wins, as on a local file.
        Files.writeString(Path.of(t("usr/copy")), "rewritten");
        s.flush();
        assertEquals("rewritten", Files.readString(host.resolve("usr/copy")));
        assertNotEquals(when, Files.getLastModifiedTime(host.resolve("usr/copy")), "a later write's time is the host's");
    }

    @Test
    void aFileRemovedRightAfterWritingIsNotUploaded() throws Exception {
        open();
        s.kind(t("usr"));
        files.failAlways("put", Errno.EIO); // any upload would show as a failure below
        s.beforeOpen(t("usr/tmpfile"), O_WRONLY | O_CREAT | O_EXCL, 0600);
        try (var ch = java.nio.channels.FileChannel.open(Path.of(t("usr/tmpfile")), StandardOpenOption.CREATE_NEW,
                StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap("scratch".getBytes()));
            s.beforeChange(new Change.Unlink(t("usr/tmpfile")));
            Files.delete(Path.of(t("usr/tmpfile")));
        }
        assertFalse(Files.exists(host.resolve("usr/tmpfile")));
        s.flush();
        assertEquals(0, s.trackedWrites());
    }

    @Test
    void explicitTimesSetAfterWritingSurviveTheWriteBack() throws Exception {
        FileTime when = copyWrittenThenTimesSet();
        Files.setLastModifiedTime(Path.of(t("usr/copy")), when); // the kernel's utimensat
        s.flush();
        assertEquals("copied contents", Files.readString(host.resolve("usr/copy")));
        assertEquals(when, Files.getLastModifiedTime(host.resolve("usr/copy")), "the host keeps the program's times");
        assertEquals(when, Files.getLastModifiedTime(Path.of(t("usr/copy"))), "and so does the mirror");
        // touch -d of a cached file that was never written here:
        s.kind(t("etc-file"));
        s.beforeOpen(t("etc-file"), O_RDONLY, 0);
        s.beforeChange(new Change.Utimes(t("etc-file"), 1_400_000_000L, 0, 1_400_000_000L, 0, false));
        Files.setLastModifiedTime(Path.of(t("etc-file")), when);
        eventually("the host's new attributes kept", () -> files.calls("getattr") >= 1);
        Thread.sleep(100);
        s.close();
        int fetches = files.calls("fetch");
        s = cache.session(files);
        s.kind(t("usr/copy"));
        s.beforeOpen(t("usr/copy"), O_RDONLY, 0);
        s.beforeOpen(t("etc-file"), O_RDONLY, 0);
        assertEquals(fetches, files.calls("fetch"), "no refetch in the next run: what we set is what we hold");
        assertEquals(when, Files.getLastModifiedTime(Path.of(t("usr/copy"))));
    }

    @Test
    void linkingAnUnnamedFileIntoTheTreePutsItOnTheHost() throws Exception {
        open();
        s.kind(t("usr"));
        // An O_TMPFILE file: only its /proc/self/fd link names it (here a plain file outside the mirror).
        Path unnamed = Files.writeString(tmp.resolve("unnamed"), "from O_TMPFILE");
        int fd = MirrorFs.open(unnamed.toString(), O_RDONLY, 0);
        try {
            String procLink = "/proc/self/fd/" + fd;
            s.beforeChange(new Change.Link(procLink, t("usr/named")));
            assertEquals("from O_TMPFILE", Files.readString(host.resolve("usr/named")));
            Files.createLink(Path.of(t("usr/named")), unnamed); // the kernel's linkat
            ErrnoException exists = assertThrows(ErrnoException.class, () -> s.beforeChange(new Change.Link(procLink, t("usr/named"))));
            assertEquals(Errno.EEXIST, exists.errno());
        } finally {
            MirrorFs.close(fd);
        }
    }

    @Test
    void flushUploadsAFileStillOpenForWriting() throws Exception {
        open();
        s.kind(t("etc-file"));
        s.beforeOpen(t("etc-file"), O_RDWR, 0);
        try (var ch = java.nio.channels.FileChannel.open(Path.of(t("etc-file")), StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap("YY".getBytes()), 0);
            s.flush();
            String onHost = Files.readString(host.resolve("etc-file"));
            assertEquals("YY" + "x".repeat(4998), onHost);
        }
    }

    @Test
    void aFailedUploadLeavesTheHostFileOldAndFailsFlushWithItsErrno() throws Exception {
        open();
        s.kind(t("etc-file"));
        s.beforeOpen(t("etc-file"), O_WRONLY | O_TRUNC, 0);
        files.failAlways("put", Errno.ENOSPC);
        Files.writeString(Path.of(t("etc-file")), "new");
        eventually("the failed upload", () -> files.calls("put") >= 1);
        assertEquals("x".repeat(5000), Files.readString(host.resolve("etc-file")));
        ErrnoException e = assertThrows(ErrnoException.class, s::flush);
        assertEquals(Errno.ENOSPC, e.errno());
        assertTrue(e.getMessage().contains("etc-file"), e.getMessage());
        files.failAlways("put", 0);
        s.flush(); // the retry goes through
        assertEquals("new", Files.readString(host.resolve("etc-file")));
    }

    /** The index follows a file's rename and unlink by its own entry, a directory's with everything below it. */
    @Test
    void renamesAndUnlinksMoveAndDropTheIndexEntriesBelowThem() throws Exception {
        Files.writeString(host.resolve("usr/share/doc/sibling"), "stays\n");
        open();
        s.beforeOpen(t("usr/share/doc/readme"), O_RDONLY, 0);
        s.kind(t("usr/share/doc/sibling"));
        s.awaitPrefetches();
        int fetches = files.calls("fetch");
        s.beforeChange(new Change.Rename(t("usr/share/doc/readme"), t("usr/share/doc/renamed"), 0));
        Files.move(Path.of(t("usr/share/doc/readme")), Path.of(t("usr/share/doc/renamed")));
        assertFalse(known("usr/share/doc/readme"));
        assertTrue(known("usr/share/doc/renamed"));
        s.beforeOpen(t("usr/share/doc/renamed"), O_RDONLY, 0);
        assertEquals(fetches, files.calls("fetch"), "its contents went with it");

        s.beforeChange(new Change.Rename(t("usr/share/doc"), t("usr/share/docs"), 0));
        Files.move(Path.of(t("usr/share/doc")), Path.of(t("usr/share/docs")));
        for (String name : List.of("renamed", "sibling")) {
            assertFalse(known("usr/share/doc/" + name), name);
            assertTrue(known("usr/share/docs/" + name), name);
        }
        s.beforeOpen(t("usr/share/docs/renamed"), O_RDONLY, 0);
        assertEquals("hello from the host\n", read(t("usr/share/docs/renamed")));
        assertEquals(fetches, files.calls("fetch"));

        s.beforeChange(new Change.Unlink(t("usr/share/docs/renamed")));
        Files.delete(Path.of(t("usr/share/docs/renamed")));
        assertFalse(known("usr/share/docs/renamed"));
        assertTrue(known("usr/share/docs/sibling"));
        s.beforeChange(new Change.Unlink(t("usr/share/docs/sibling")));
        Files.deleteIfExists(Path.of(t("usr/share/docs/sibling")));
        s.beforeChange(new Change.Rmdir(t("usr/share/docs")));
        Files.delete(Path.of(t("usr/share/docs")));
        assertFalse(known("usr/share/docs"));
        assertTrue(known("usr/share"));
    }

    @Test
    void mutationsReachTheHostFirstWithTheirErrno() throws Exception {
        Files.writeString(host.resolve("usr/lost"), "removed on the host, unpushed\n");
        open();
        s.kind(t("usr/share"));
        Files.delete(host.resolve("usr/lost"));
        s.beforeChange(new Change.Mkdir(t("usr/made"), 0750));
        assertTrue(Files.isDirectory(host.resolve("usr/made")));
        Files.createDirectory(Path.of(t("usr/made"))); // the kernel's mkdir
        assertEquals(FileKind.DIRECTORY, s.kind(t("usr/made")));
        int listings = files.calls("readdir");
        s.beforeOpen(t("usr/made"), O_RDONLY | 0200000, 0);
        assertEquals(listings, files.calls("readdir"), "a directory we made is known empty");

        ErrnoException exists = assertThrows(ErrnoException.class, () -> s.beforeChange(new Change.Mkdir(t("usr/share"), 0755)));
        assertEquals(Errno.EEXIST, exists.errno());
        ErrnoException gone = assertThrows(ErrnoException.class, () -> s.beforeChange(new Change.Unlink(t("usr/lost"))));
        assertEquals(Errno.ENOENT, gone.errno());
        // A name its listed directory lacks: nothing to remove, no request; the kernel's unlink says ENOENT.
        int removals = files.calls("unlink") + files.calls("rmdir");
        s.beforeChange(new Change.Unlink(t("usr/none")));
        s.beforeChange(new Change.Rmdir(t("usr/none.d")));
        assertEquals(removals, files.calls("unlink") + files.calls("rmdir"));
        assertFalse(Files.exists(Path.of(t("usr/none"))));

        s.beforeChange(new Change.Rename(t("usr/share/doc/readme"), t("usr/made/readme2"), 0));
        assertFalse(Files.exists(host.resolve("usr/share/doc/readme")));
        assertEquals("hello from the host\n", Files.readString(host.resolve("usr/made/readme2")));
        Files.move(Path.of(t("usr/share/doc/readme")), Path.of(t("usr/made/readme2"))); // the kernel's rename
        s.beforeOpen(t("usr/made/readme2"), O_RDONLY, 0);
        assertEquals("hello from the host\n", read(t("usr/made/readme2")));

        s.beforeChange(new Change.Unlink(t("usr/made/readme2")));
        assertFalse(Files.exists(host.resolve("usr/made/readme2")));
        s.beforeChange(new Change.Symlink("made", t("usr/sym")));
        assertEquals(Path.of("made"), Files.readSymbolicLink(host.resolve("usr/sym")));
        s.beforeChange(new Change.Chmod(t("etc-file"), 0600));
        assertEquals(DirectoryHostFiles.perms(0600), Files.getPosixFilePermissions(host.resolve("etc-file")));
        ErrnoException notEmpty = assertThrows(ErrnoException.class, () -> s.beforeChange(new Change.Rmdir(t("usr/share"))));
        assertEquals(Errno.ENOTEMPTY, notEmpty.errno());
    }

    @Test
    void renameAcrossExportsIsExdevAndAReadOnlyExportRefusesWrites() throws Exception {
        Path src = Files.createDirectories(tmp.resolve("src"));
        Files.writeString(src.resolve("main.c"), "int main(void){return 0;}\n");
        Path ro = Files.createDirectories(tmp.resolve("ro"));
        Files.writeString(ro.resolve("data"), "ro");
        files = new DirectoryHostFiles(host, "rootfs-1").add(src, "/home/u/src", false, "src-1").add(ro, "/opt/ro", true, "ro-1");
        open();
        List<Bind> binds = s.binds();
        assertEquals(2, binds.size());
        Bind b = binds.get(0);
        assertEquals("/home/u/src", b.guestPath());
        String srcMirror = b.hostPath();
        assertEquals(FileKind.REGULAR, s.kind(srcMirror + "/main.c"));
        ErrnoException xdev = assertThrows(ErrnoException.class,
                () -> s.beforeChange(new Change.Rename(srcMirror + "/main.c", t("main.c"), 0)));
        assertEquals(Errno.EXDEV, xdev.errno());
        String roMirror = binds.get(1).hostPath();
        s.kind(roMirror + "/data");
        ErrnoException rofs = assertThrows(ErrnoException.class, () -> s.beforeOpen(roMirror + "/data", O_WRONLY, 0));
        assertEquals(Errno.EROFS, rofs.errno());
        s.beforeOpen(srcMirror + "/main.c", O_RDONLY, 0);
        assertEquals("int main(void){return 0;}\n", read(srcMirror + "/main.c"));
        assertEquals(FileKind.DIRECTORY, s.kind("/proc"), "paths outside the mirrors are this machine's");
    }

    @Test
    void aGuestViewOverTheSessionResolvesThroughTheMirror() throws Exception {
        Path src = Files.createDirectories(tmp.resolve("src"));
        Files.writeString(src.resolve("main.c"), "int main(void){return 0;}\n");
        files = new DirectoryHostFiles(host, "rootfs-1").add(src, "/home/u/src", false, "src-1");
        open();
        GuestView.Builder b = GuestView.builder(s.rootHostPath()).fileAccess(s).defaultBinds(false)
                .glueDir(Files.createDirectories(tmp.resolve("glue")).toString());
        for (Bind bind : s.binds()) b.bind(bind);
        GuestView view = b.build();
        Resolved readme = view.resolve("/", "/link/doc/readme", true, ProcessIds.NONE);
        assertEquals(t("usr/share/doc/readme"), readme.hostPath());
        assertEquals(FileKind.REGULAR, readme.kind());
        Resolved missing = view.resolve("/", "/usr/nothing", false, ProcessIds.NONE);
        assertFalse(missing.exists());
        Resolved mainC = view.resolve("/home/u", "src/main.c", true, ProcessIds.NONE);
        assertEquals(s.binds().get(0).hostPath() + "/main.c", mainC.hostPath());
        assertEquals(FileKind.REGULAR, mainC.kind());
        assertEquals("/home/u/src/main.c", view.toGuest(mainC.hostPath()).orElseThrow());
        assertEquals(0, files.calls("fetch"), "resolution fetches no contents");
    }

    @Test
    void aHostChangeBetweenTwoRunsIsSeenByTheSecond() throws Exception {
        open();
        s.kind(t("usr/share/doc/readme"));
        s.beforeOpen(t("usr/share/doc/readme"), O_RDONLY, 0);
        s.close();
        Files.writeString(host.resolve("usr/share/doc/readme"), "edited on the host, longer\n");
        s = cache.session(files);
        assertEquals(1, files.calls("validate"));
        s.kind(t("usr/share/doc/readme"));
        assertEquals(27L, Files.size(Path.of(t("usr/share/doc/readme"))), "placeholder re-stated");
        s.beforeOpen(t("usr/share/doc/readme"), O_RDONLY, 0);
        assertEquals("edited on the host, longer\n", read(t("usr/share/doc/readme")));
        assertEquals(2, files.calls("fetch"));
    }

    @Test
    void aPushedInvalidationMakesTheNextOpenSeeTheHostsChange() throws Exception {
        open();
        s.kind(t("usr/share/doc/readme"));
        s.beforeOpen(t("usr/share/doc/readme"), O_RDONLY, 0);
        Files.writeString(host.resolve("usr/share/doc/readme"), "pushed\n");
        Files.writeString(host.resolve("usr/share/doc/added"), "new file\n");
        int listings = files.calls("readdir");
        files.push(0, "usr/share/doc/readme");
        files.push(0, "usr/share/doc");
        // Seen by the very next lookup (which waits for the listing the push started, or makes it).
        assertEquals(FileKind.REGULAR, s.kind(t("usr/share/doc/added")));
        assertEquals(7L, Files.size(Path.of(t("usr/share/doc/readme"))), "placeholder re-stated");
        s.beforeOpen(t("usr/share/doc/readme"), O_RDONLY, 0);
        assertEquals("pushed\n", read(t("usr/share/doc/readme")));
        assertTrue(files.calls("readdir") - listings <= 2, "two pushes, at most two listings: " + (files.calls("readdir") - listings));
        Files.writeString(host.resolve("usr/later"), "x");
        files.push(0, "usr/later");
        eventually("a listing made in the background", () -> known("usr/later"));
        files.push(0, "never/seen/before");
        assertEquals(FileKind.DIRECTORY, s.kind(t("usr")), "a push about what we never listed costs nothing");
    }

    /** The client says what the host holds as it pushes: the echo of our own change is held already, news is not. */
    @Test
    void theEchoOfOurOwnChangeCostsNoListingButAHostChangeStillDoes() throws Exception {
        Files.writeString(host.resolve("usr/share/doc/old"), "old\n");
        Files.writeString(host.resolve("usr/share/doc/other"), "other\n");
        open();
        s.kind(t("usr/share/doc/readme"));
        s.beforeOpen(t("usr/share/doc/other"), O_RDONLY, 0);
        s.kind(t("etc-file"));
        // The read of "other" fetches its neighbours ahead: done before we rename and remove them, or a
        // fetch that lost its file to our own change re-lists the directory (harmless, but not an echo).
        s.awaitPrefetches();
        // Our own changes, each applied on the host first, then by "the kernel" in the mirror.
        s.beforeChange(new Change.Mkdir(t("usr/made"), 0750));
        Files.createDirectory(Path.of(t("usr/made")));
        s.beforeOpen(t("usr/made/new"), O_WRONLY | O_CREAT | O_EXCL, 0644);
        Files.createFile(Path.of(t("usr/made/new")));
        // Its upload (at the close, in the background) is our change too, and replaces the host's file:
        // made now, so the push below tells the host as it is after it. A push taken before an upload in
        // flight waits for it and then differs from what we hold: news (a listing), not this echo.
        s.flush();
        s.beforeChange(new Change.Rename(t("usr/share/doc/readme"), t("usr/made/readme2"), 0));
        Files.move(Path.of(t("usr/share/doc/readme")), Path.of(t("usr/made/readme2")));
        s.beforeChange(new Change.Symlink("readme2", t("usr/made/sym")));
        Files.createSymbolicLink(Path.of(t("usr/made/sym")), Path.of("readme2"));
        s.beforeChange(new Change.Chmod(t("etc-file"), 0600));
        Files.setPosixFilePermissions(Path.of(t("etc-file")), DirectoryHostFiles.perms(0600));
        s.beforeChange(new Change.Unlink(t("usr/share/doc/old")));
        Files.delete(Path.of(t("usr/share/doc/old")));
        s.awaitBackground(); // listings ahead of the opens above are not the echoes' doing
        int listings = files.calls("readdir");
        for (String rel : List.of("usr/made", "usr/made/new", "usr/share/doc/readme", "usr/made/readme2", "usr/made/sym", "etc-file",
                "usr/share/doc/old")) {
            files.pushNow(0, rel);
        }
        assertEquals(FileKind.SYMLINK, s.kind(t("usr/made/sym")));
        assertEquals(FileKind.REGULAR, s.kind(t("usr/made/new")));
        assertThrows(ErrnoException.class, () -> s.kind(t("usr/share/doc/old")));
        s.beforeOpen(t("usr/made/readme2"), O_RDONLY, 0);
        assertEquals("hello from the host\n", read(t("usr/made/readme2")));
        s.awaitBackground(); // an echo taken for news is listed again in the background: counted before we look
        assertEquals(listings, files.calls("readdir"), "the echoes of our own changes are held already");

        // News: the host rewrites a file we hold, and makes one we never saw.
        Files.writeString(host.resolve("usr/share/doc/other"), "edited on the host\n");
        Files.writeString(host.resolve("usr/fresh"), "fresh\n");
        files.pushNow(0, "usr/share/doc/other");
        files.pushNow(0, "usr/fresh");
        s.beforeOpen(t("usr/share/doc/other"), O_RDONLY, 0);
        assertEquals("edited on the host\n", read(t("usr/share/doc/other")));
        s.beforeOpen(t("usr/fresh"), O_RDONLY, 0);
        assertEquals("fresh\n", read(t("usr/fresh")));
        assertTrue(files.calls("readdir") >= listings + 2, "news is listed again");
        // The news above is done listing (again, and ahead), or a late listing would take the chmod below.
        s.awaitBackground();
        // A chmod the host made behind our back changes no size nor mtime: news all the same.
        Files.setPosixFilePermissions(host.resolve("etc-file"), DirectoryHostFiles.perms(0644));
        int before = files.calls("readdir");
        files.pushNow(0, "etc-file");
        s.kind(t("etc-file"));
        s.awaitBackground();
        assertEquals(before + 1, files.calls("readdir"));
        assertEquals(DirectoryHostFiles.perms(0644), Files.getPosixFilePermissions(Path.of(t("etc-file"))));
    }

    /**
     * gcc's temporaries: the echo of a create arrives after the file's chmod, showing the host as it was
     * before it. Its ctime, older than the one we hold, says so: no news. The same state at our ctime
     * (one clock tick can hold two changes) or later may be someone else's change: news.
     */
    @Test
    void aPushShowingAStateOlderThanOursIsNoNewsButOneAtOurCtimeIs() throws Exception {
        open();
        s.kind(t("usr/share/doc/readme"));
        s.beforeOpen(t("usr/share/doc/tmp1"), O_WRONLY | O_CREAT | O_EXCL, 0600);
        Files.createFile(Path.of(t("usr/share/doc/tmp1")));
        s.beforeChange(new Change.Chmod(t("usr/share/doc/tmp1"), 0644));
        Files.setPosixFilePermissions(Path.of(t("usr/share/doc/tmp1")), DirectoryHostFiles.perms(0644));
        s.awaitBackground();
        int listings = files.calls("readdir");
        HostAttr held = files.now(0, "usr/share/doc/tmp1").now();

        files.push(0, new HostFiles.Changed("usr/share/doc/tmp1", withModeAndCtime(held, 0100600, held.ctimeNs() - 1_000_000), true));
        assertEquals(FileKind.REGULAR, s.kind(t("usr/share/doc/tmp1")));
        s.awaitBackground();
        assertEquals(listings, files.calls("readdir"), "what the host held before our chmod is no news");

        files.push(0, new HostFiles.Changed("usr/share/doc/tmp1", withModeAndCtime(held, 0100600, held.ctimeNs()), true));
        assertEquals(FileKind.REGULAR, s.kind(t("usr/share/doc/tmp1")));
        s.awaitBackground();
        assertEquals(listings + 1, files.calls("readdir"), "a different state at our ctime is news");
    }

    private static HostAttr withModeAndCtime(HostAttr a, int mode, long ctimeNs) {
        return new HostAttr(mode, a.uid(), a.gid(), a.size(), a.atimeNs(), a.mtimeNs(), ctimeNs, a.ino(), a.dev(), a.nlink(),
                a.rdev(), a.blocks());
    }

    /** The journal of the watches kept between runs says what the host holds too: the last run's own changes are no news. */
    @Test
    void theNextRunOfTheEpochListsNothingForTheLastRunsOwnChanges() throws Exception {
        files = new DirectoryHostFiles(host, "rootfs-1");
        files.epoch = 7;
        files.changed = List.of();
        files.changesTold = true;
        open();
        s.kind(t("usr/share/doc/readme"));
        s.beforeOpen(t("usr/share/doc/new"), O_WRONLY | O_CREAT | O_EXCL, 0644);
        Files.createFile(Path.of(t("usr/share/doc/new")));
        s.beforeChange(new Change.Unlink(t("etc-file")));
        Files.delete(Path.of(t("etc-file")));
        s.flush();
        s.close();
        files.changed = List.of("usr/share/doc/new", "etc-file");
        s = cache.session(files);
        int listings = files.calls("readdir");
        assertEquals(FileKind.REGULAR, s.kind(t("usr/share/doc/new")));
        assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class, () -> s.kind(t("etc-file"))).errno());
        assertEquals(listings, files.calls("readdir"), "our own changes of the last run");
        s.close();

        Files.writeString(host.resolve("usr/share/doc/new"), "written on the host between the runs\n");
        files.changed = List.of("usr/share/doc/new");
        s = cache.session(files);
        s.beforeOpen(t("usr/share/doc/new"), O_RDONLY, 0);
        assertEquals("written on the host between the runs\n", read(t("usr/share/doc/new")));
        assertEquals(listings + 1, files.calls("readdir"));
    }

    @Test
    void aFileThatVanishedOnTheHostGivesEnoentAtOpen() throws Exception {
        open();
        s.kind(t("usr/share/doc/readme"));
        Files.delete(host.resolve("usr/share/doc/readme"));
        ErrnoException e = assertThrows(ErrnoException.class, () -> s.beforeOpen(t("usr/share/doc/readme"), O_RDONLY, 0));
        assertEquals(Errno.ENOENT, e.errno());
        assertFalse(Files.exists(Path.of(t("usr/share/doc/readme")), LinkOption.NOFOLLOW_LINKS), "mirror entry removed");
    }

    @Test
    void aLostConnectionGivesEio() throws Exception {
        Files.createDirectories(host.resolve("opt/x"));
        open();
        s.kind(t("usr/share/doc/readme"));
        files.failEverything(Errno.EIO);
        assertEquals(Errno.EIO, assertThrows(ErrnoException.class, () -> s.beforeOpen(t("usr/share/doc/readme"), O_RDONLY, 0)).errno());
        assertEquals(Errno.EIO, assertThrows(ErrnoException.class, () -> s.kind(t("opt/x"))).errno(), "a listing to make");
        assertEquals(Errno.EIO, assertThrows(ErrnoException.class, () -> s.beforeChange(new Change.Mkdir(t("d"), 0755))).errno());
        assertEquals(FileKind.REGULAR, s.kind(t("usr/share/doc/readme")), "what is listed stays usable");
    }

    @Test
    void manyThreadsOpeningOneFileCauseOneFetch() throws Exception {
        open();
        s.kind(t("etc-file"));
        files.slowFetch(200);
        ExecutorService pool = Executors.newFixedThreadPool(16);
        CountDownLatch go = new CountDownLatch(1);
        List<Future<String>> results = new ArrayList<>();
        try {
            for (int i = 0; i < 16; i++) {
                results.add(pool.submit(() -> {
                    go.await();
                    s.beforeOpen(t("etc-file"), O_RDONLY, 0);
                    return read(t("etc-file"));
                }));
            }
            go.countDown();
            for (Future<String> r : results) assertEquals("x".repeat(5000), r.get(10, TimeUnit.SECONDS));
        } finally {
            pool.shutdownNow();
        }
        assertEquals(1, files.calls("fetch"));
        assertTrue(MirrorFs.list(cache.dir().resolve("tmp").toString()).stream().noneMatch(n -> n.startsWith("fetch")),
                "no fetch leftovers");
    }

    @Test
    void sessionsSharingTheCacheFetchAFileOnce() throws Exception {
        open();
        files.slowFetch(200);
        List<MirrorSession> sessions = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            for (int i = 0; i < 4; i++) sessions.add(cache.session(files));
            CountDownLatch go = new CountDownLatch(1);
            List<Future<String>> results = new ArrayList<>();
            for (MirrorSession each : sessions) {
                results.add(pool.submit(() -> {
                    go.await();
                    String p = each.rootHostPath() + "/usr/share/doc/readme";
                    each.kind(p);
                    each.beforeOpen(p, O_RDONLY, 0);
                    return read(p);
                }));
            }
            go.countDown();
            for (Future<String> r : results) assertEquals("hello from the host\n", r.get(10, TimeUnit.SECONDS));
        } finally {
            pool.shutdownNow();
            for (MirrorSession each : sessions) each.close();
        }
        assertEquals(1, files.calls("fetch"));
        assertEquals(4, files.calls("readdir"), "/, usr, usr/share, usr/share/doc: each listed once for all");
    }

    /**
     * This machine's /bin/true, libc and loader in the host tree, laid out as Debian's merged /usr (lib and
     * lib64 symlinks); returns the library directory. Skipped where there is no x86_64 Debian-style libc.
     */
    private Path hostTrueWithItsLibraries() throws IOException {
        Path trueBin = Path.of("/bin/true").toRealPath();
        Path libc = Path.of("/lib/x86_64-linux-gnu/libc.so.6");
        Path ld = Path.of("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isRegularFile(libc) && Files.exists(ld)
                && System.getProperty("os.arch").equals("amd64"), "needs x86_64 Debian-style /lib/x86_64-linux-gnu");
        Files.createDirectories(host.resolve("usr/bin"));
        Files.copy(trueBin, host.resolve("usr/bin/true"));
        Path lib = Files.createDirectories(host.resolve("usr/lib/x86_64-linux-gnu"));
        Files.copy(libc.toRealPath(), lib.resolve("libc.so.6"));
        Files.copy(ld.toRealPath(), lib.resolve("ld-linux-x86-64.so.2"));
        Files.createSymbolicLink(host.resolve("lib"), Path.of("usr/lib"));
        Files.createDirectories(host.resolve("lib64"));
        Files.createSymbolicLink(host.resolve("lib64/ld-linux-x86-64.so.2"), Path.of("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"));
        return lib;
    }

    @Test
    void execPrefetchesTheInterpreterAndNeededLibraries() throws Exception {
        hostTrueWithItsLibraries();
        open();
        s.kind(t("usr/bin/true"));
        s.beforeExec(t("usr/bin/true"));
        assertEquals(Files.size(host.resolve("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")),
                Files.size(Path.of(t("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"))));
        assertTrue(contentsOf("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"), "the interpreter is here before exec returns");
        s.awaitPrefetches();
        assertTrue(contentsOf("usr/lib/x86_64-linux-gnu/libc.so.6"), "DT_NEEDED prefetched");
        assertArrayEquals(Files.readAllBytes(host.resolve("usr/lib/x86_64-linux-gnu/libc.so.6")),
                Files.readAllBytes(Path.of(t("usr/lib/x86_64-linux-gnu/libc.so.6"))));
        int fetches = files.calls("fetch");
        assertEquals(3, fetches, "true, ld.so, libc");
        s.beforeOpen(t("usr/lib/x86_64-linux-gnu/libc.so.6"), O_RDONLY, 0);
        assertEquals(fetches, files.calls("fetch"), "the loader's open costs no round trip");
        s.beforeExec(t("usr/bin/true"));
        assertEquals(fetches, files.calls("fetch"), "the same program again: nothing to fetch");
        // The host replaces the loader: the next exec of the same program must bring the new one.
        Path hostLd = host.resolve("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
        byte[] newer = java.util.Arrays.copyOf(Files.readAllBytes(hostLd), (int) Files.size(hostLd) + 1);
        Files.write(hostLd, newer);
        files.pushNow(0, "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
        s.beforeExec(t("usr/bin/true"));
        assertTrue(contentsOf("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"), "the new loader is here before exec returns");
        assertArrayEquals(newer, Files.readAllBytes(Path.of(t("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"))));
    }

    @Test
    void execAsksForTheLoaderFirstAndForItsEtcStepsBeforeTheLibraries() throws Exception {
        hostTrueWithItsLibraries();
        Files.createDirectories(host.resolve("etc"));
        Files.writeString(host.resolve("etc/ld.so.cache"), "glibc-ld.so.cache1.1");
        Files.writeString(host.resolve("etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
        open();
        s.kind(t("usr/bin/true"));
        s.beforeExec(t("usr/bin/true"));
        s.awaitPrefetches();
        List<String> ev = files.fetchEvents();
        String ld = "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", libc = "usr/lib/x86_64-linux-gnu/libc.so.6";
        assertEquals(List.of("asked usr/bin/true", "answered usr/bin/true"), ev.subList(0, 2), ev.toString());
        assertTrue(ev.indexOf("answered " + ld) >= 0 && ev.indexOf("answered " + ld) < ev.indexOf("asked " + libc),
                "libc is asked for once the loader is here: " + ev);
        assertTrue(ev.indexOf("answered etc/ld.so.cache") >= 0 && ev.indexOf("answered etc/ld.so.cache") < ev.indexOf("asked " + libc),
                "and once the loader's first steps are: " + ev);
        assertTrue(files.readdirsAsked().contains("etc"), "the listing of /etc, for the access of /etc/ld.so.preload");
        assertEquals(4, files.calls("fetch"), "true, ld.so, ld.so.cache, libc: " + ev);
        // What the loader then does costs no round trip, and its open of the cache is no read of /etc.
        int calls = files.totalCalls();
        ErrnoException none = assertThrows(ErrnoException.class, () -> s.kind(t("etc/ld.so.preload")));
        assertEquals(Errno.ENOENT, none.errno());
        s.beforeOpen(t("etc/ld.so.cache"), O_RDONLY, 0);
        s.beforeOpen(t(libc), O_RDONLY, 0);
        s.awaitPrefetches();
        assertEquals(calls, files.totalCalls());
    }

    @Test
    void execListsTheLoadersAndTheLibrarySearchPathsDirectoriesAtOnce() throws Exception {
        hostTrueWithItsLibraries();
        Files.createDirectories(host.resolve("etc"));
        open();
        s.kind(t("usr/bin/true"));
        files.holdReaddirs();
        java.util.concurrent.CompletableFuture<Void> exec = java.util.concurrent.CompletableFuture.runAsync(() -> {
            try {
                s.beforeExec(t("usr/bin/true"));
            } catch (ErrnoException e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
        // Held until all are asked: one after another, usr/lib/x86_64-linux-gnu would wait for usr/lib's answer.
        Set<String> atOnce = Set.of("lib64", "usr/lib", "usr/lib/x86_64-linux-gnu", "etc");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!files.readdirsWaiting().containsAll(atOnce) && System.nanoTime() < deadline) Thread.sleep(5);
        Set<String> waiting = files.readdirsWaiting();
        files.releaseReaddirs();
        exec.get(30, TimeUnit.SECONDS);
        assertTrue(waiting.containsAll(atOnce), "in flight at once: " + waiting);
        s.awaitPrefetches();
        assertTrue(contentsOf("usr/lib/x86_64-linux-gnu/libc.so.6"), "DT_NEEDED prefetched");
        assertEquals(files.readdirsAsked().size(), Set.copyOf(files.readdirsAsked()).size(),
                "no directory listed twice: " + files.readdirsAsked());
        assertFalse(files.readdirsAsked().contains("usr/lib64"), "a directory the listed /usr lacks is not asked for");
    }

    @Test
    void theLoadersOpensOfPrefetchedLibrariesFetchNothingElseOfTheirDirectory() throws Exception {
        Path lib = hostTrueWithItsLibraries();
        for (int i = 0; i < 6; i++) Files.writeString(lib.resolve("other" + i), "other " + i);
        open();
        s.kind(t("usr/bin/true"));
        files.slowFetch(500);
        java.util.concurrent.CompletableFuture<Void> exec = java.util.concurrent.CompletableFuture.runAsync(() -> {
            try {
                s.beforeExec(t("usr/bin/true"));
            } catch (ErrnoException e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (files.calls("fetch") < 3 && System.nanoTime() < deadline) Thread.sleep(5);
        // The loader opens libc while its prefetch is still in flight (its fetch takes 500 ms).
        s.beforeOpen(t("usr/lib/x86_64-linux-gnu/libc.so.6"), O_RDONLY, 0);
        exec.get(30, TimeUnit.SECONDS);
        files.slowFetch(0);
        s.beforeOpen(t("usr/lib/x86_64-linux-gnu/other0"), O_RDONLY, 0);
        s.awaitPrefetches();
        assertEquals(4, files.calls("fetch"), "true, ld.so, libc and the one file read: the loader's open is no read of the directory");
        s.beforeOpen(t("usr/lib/x86_64-linux-gnu/other1"), O_RDONLY, 0);
        s.awaitPrefetches();
        assertTrue(files.calls("fetch") > 5, "two files read there: the others come ahead");
    }

    private boolean contentsOf(String rel) {
        for (Tree tree : List.of(cacheTree())) {
            Entry e = tree.entries.get(rel);
            if (e != null) {
                synchronized (e) {
                    return e.contents;
                }
            }
        }
        return false;
    }

    private Tree cacheTree() {
        try {
            return cache.tree("rootfs-1");
        } catch (ErrnoException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void truncateOfAPlaceholderKeepsTheHostsFirstBytes() throws Exception {
        open();
        s.kind(t("etc-file"));
        s.beforeChange(new Change.Truncate(t("etc-file"), 10));
        assertEquals(10L, Files.size(host.resolve("etc-file")));
        assertEquals("x".repeat(10), read(t("etc-file")));
    }
}
