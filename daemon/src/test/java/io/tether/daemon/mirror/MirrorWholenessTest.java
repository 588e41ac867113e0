package io.tether.daemon.mirror;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A tree becomes and stays WHOLE (every directory listed), the condition of a kernel-rooted run. */
class MirrorWholenessTest {
    private static final int O_RDONLY = 0;

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
        // More unlisted directories than a run's start lists (Wholeness.FEW), a few levels deep.
        for (int i = 0; i < Wholeness.FEW + 6; i++) {
            Path d = Files.createDirectories(host.resolve("usr/lib/d" + i + "/sub"));
            Files.writeString(d.resolve("f"), "file " + i);
            Files.writeString(d.getParent().resolve("g"), "x".repeat(3000));
        }
        Files.createDirectories(host.resolve("etc/empty"));
        Files.writeString(host.resolve("etc/passwd"), "root:x:0:0\n");
        Files.createSymbolicLink(host.resolve("lib"), Path.of("usr/lib"));
    }

    @AfterEach
    void tearDown() {
        if (s != null) s.close();
        if (cache != null) cache.close();
    }

    private MirrorSession open(long maxBytes) throws Exception {
        if (cache == null) cache = MirrorCache.open(cacheDir, maxBytes);
        if (files == null) files = new DirectoryHostFiles(host, "rootfs-1");
        if (cache.tree("rootfs-1").entries.get("") == null) { // the tree's first run, which completes nothing
            MirrorSession first = cache.session(files);
            first.kind(first.rootHostPath() + "/usr/lib/d1/g"); // its lookups: more than FEW directories left unlisted
            first.close();
        }
        s = cache.session(files);
        return s;
    }

    private MirrorSession open() throws Exception {
        return open(1L << 30);
    }

    private String t(String rel) {
        return s.rootHostPath() + (rel.isEmpty() ? "" : "/" + rel);
    }

    private Tree tree() throws Exception {
        return cache.tree("rootfs-1");
    }

    /** Every path below {@code root} with its type, as "rel:d", "rel:f", "rel:l". */
    private static TreeSet<String> shape(Path root) throws IOException {
        TreeSet<String> out = new TreeSet<>();
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : (Iterable<Path>) all::iterator) {
                if (p.equals(root)) continue;
                String kind = Files.isSymbolicLink(p) ? "l" : Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS) ? "d" : "f";
                out.add(root.relativize(p) + ":" + kind);
            }
        }
        return out;
    }

    private static TreeSet<String> names(Path dir) throws IOException {
        TreeSet<String> out = new TreeSet<>();
        try (Stream<Path> in = Files.list(dir)) {
            in.forEach(p -> out.add(p.getFileName().toString()));
        }
        return out;
    }

    private static void eventually(String what, java.util.concurrent.Callable<Boolean> check) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!check.call()) {
            if (System.nanoTime() > end) throw new AssertionError("timed out waiting for " + what);
            Thread.sleep(20);
        }
    }

    @Test
    void aColdTreeIsNotWholeAndBecomesWholeInTheBackground() throws Exception {
        open();
        assertTrue(s.wholeUnder("/dev"), "the target's own directories are the kernel's");
        assertFalse(s.wholeUnder(t("")), "cold: nothing listed");
        s.awaitBackground();
        assertEquals(shape(host), shape(Path.of(t(""))), "every host directory and entry is in the mirror");
        assertEquals(List.of(), Wholeness.unlisted(tree(), ""));
        int calls = files.totalCalls();
        assertTrue(s.wholeUnder(t("")));
        assertTrue(s.wholeUnder(t("usr/lib")), "a subtree of a whole tree is whole");
        assertEquals(calls, files.totalCalls(), "a whole tree is answered without asking the host");
        assertTrue(files.calls("readdirTree") >= 1, "completed with walk listings");
        assertEquals(MirrorCache.BACKGROUND_NICE, files.walkerNice, "completion yields the CPU to the runs");
        assertEquals(0, DirectoryHostFiles.niceOfThisThread(), "as the test's own thread does not");
    }

    @Test
    void aTreeNeverListedStartsNoCompletionSoAColdRunHasTheLinkToItself() throws Exception {
        cache = MirrorCache.open(cacheDir, 1L << 30);
        files = new DirectoryHostFiles(host, "rootfs-1");
        s = cache.session(files);
        s.kind(t("usr/lib/d1/g")); // what the launch resolves before the question
        int calls = files.totalCalls();
        assertFalse(s.wholeUnder(t("")));
        s.awaitBackground();
        assertEquals(calls, files.totalCalls(), "nothing listed in a tree's first run but what it uses");
        s.close();
        s = cache.session(files); // the second run
        assertFalse(s.wholeUnder(t("")), "too much unlisted: completed in the background");
        s.awaitBackground();
        assertTrue(s.wholeUnder(t("")));
    }

    @Test
    void aTreeNoRunLooksIntoIsCompletedFromItsSecondRunOn() throws Exception {
        cache = MirrorCache.open(cacheDir, 1L << 30);
        files = new DirectoryHostFiles(host, "rootfs-1");
        s = cache.session(files);
        assertFalse(s.wholeUnder(t("")), "first run: nothing listed, nothing completed");
        s.awaitBackground();
        assertEquals(0, files.totalCalls());
        s.close();
        s = cache.session(files); // the second run, which does not look into it either
        assertFalse(s.wholeUnder(t("")));
        s.awaitBackground();
        assertTrue(s.wholeUnder(t("")), "completed by the second run's pass");
        assertEquals(shape(host), shape(Path.of(t(""))));
    }

    @Test
    void aFewUnlistedDirectoriesAreListedBeforeTheAnswer() throws Exception {
        open();
        s.wholeUnder(t(""));
        s.awaitBackground();
        s.close();
        // Between runs: a file added in one directory, a new subtree in another.
        Files.writeString(host.resolve("etc/hosts"), "127.0.0.1 localhost\n");
        Files.createDirectories(host.resolve("usr/lib/d3/new/deeper"));
        Files.writeString(host.resolve("usr/lib/d3/new/deeper/h"), "h");
        open();
        assertFalse(Wholeness.unlisted(tree(), "").isEmpty(), "validation found etc and usr/lib/d3 stale");
        assertTrue(s.wholeUnder(t("")), "listed before the answer");
        assertTrue(Files.exists(Path.of(t("etc/hosts"))));
        assertEquals("h".length(), Files.size(Path.of(t("usr/lib/d3/new/deeper/h"))), "a placeholder of the host's size");
        assertEquals(shape(host), shape(Path.of(t(""))));
    }

    @Test
    void aHostDirectoryPushedDuringAKernelRootedRunIsListedWithoutBeingAsked() throws Exception {
        open();
        s.wholeUnder(t(""));
        s.awaitBackground();
        assertTrue(s.wholeUnder(t("")));
        s.kernelResolves();
        Files.createDirectories(host.resolve("etc/made/a/b"));
        Files.writeString(host.resolve("etc/made/a/b/f"), "deep");
        Files.writeString(host.resolve("etc/made/top"), "top");
        files.pushNow(0, "etc/made"); // what the client's watch of etc pushes
        eventually("the new subtree listed with no lookup asking for it",
                () -> Files.exists(Path.of(t("etc/made/a/b/f")), LinkOption.NOFOLLOW_LINKS));
        s.awaitBackground();
        assertEquals(List.of(), Wholeness.unlisted(tree(), ""), "whole again");
        int calls = files.totalCalls();
        assertTrue(s.wholeUnder(t("")));
        assertEquals(calls, files.totalCalls());
        assertEquals(shape(host), shape(Path.of(t(""))));
    }

    @Test
    void aRewriteModeRunListsAChangedDirectoryOnlyWhenUsed() throws Exception {
        open();
        s.wholeUnder(t(""));
        s.awaitBackground();
        Files.createDirectories(host.resolve("etc/made"));
        int walks = files.calls("readdirTree");
        files.pushNow(0, "etc/made");
        s.awaitBackground();
        assertEquals(walks, files.calls("readdirTree"), "not kernel-rooted: the new directory waits for a lookup");
        assertFalse(Wholeness.unlisted(tree(), "").isEmpty());
    }

    @Test
    void aTreeOverTheCapIsNeverWhole() throws Exception {
        cache = MirrorCache.open(cacheDir, 1L << 30);
        cache.wholeCap(20);
        open();
        s.kind(t("usr/lib/d1/g")); // a few directories listed by use: more than 20 entries
        assertFalse(s.wholeUnder(t("")));
        s.awaitBackground();
        assertEquals(0, files.calls("readdirTree"), "not completed");
        assertFalse(s.wholeUnder(t("")));
        assertTrue(tree().tooBig);
    }

    @Test
    void evictionKeepsATreeWhole() throws Exception {
        open(16 * 1024); // room for 5 of the 3000-byte files
        s.wholeUnder(t(""));
        s.awaitBackground();
        int listings = files.calls("readdir") + files.calls("readdirTree");
        for (int i = 0; i < 12; i++) s.beforeOpen(t("usr/lib/d" + i + "/g"), O_RDONLY, 0);
        s.awaitBackground();
        assertTrue(cache.usedBytes() <= 16 * 1024, "contents were evicted: " + cache.usedBytes());
        assertTrue(s.wholeUnder(t("")), "evicted contents went back to placeholders, listings stayed");
        assertEquals(listings, files.calls("readdir") + files.calls("readdirTree"));
        assertEquals(shape(host), shape(Path.of(t(""))));
    }

    @Test
    void aWholeTreeIsWholeAgainAfterARestart() throws Exception {
        open();
        s.wholeUnder(t(""));
        s.awaitBackground();
        s.close();
        s = null;
        cache.close();
        cache = null;
        files = null;
        open();
        int listings = files.calls("readdir") + files.calls("readdirTree");
        assertTrue(s.wholeUnder(t("")), "the listed flags came back from the index and validation found nothing stale");
        assertEquals(0, listings);
        assertEquals(0, files.calls("readdir") + files.calls("readdirTree"));
    }

    @Test
    void aCompletionCutShortByTheSessionsCloseGoesOnInTheNextSession() throws Exception {
        open();
        assertFalse(s.wholeUnder(t("")));
        s.close(); // the pass stops at its next directory
        s.awaitBackground();
        assertFalse(tree().completing.get(), "no pass holds the tree after the close");
        int calls = files.totalCalls();
        s.awaitBackground();
        assertEquals(calls, files.totalCalls(), "nothing asked after the close");
        open();
        s.wholeUnder(t(""));
        s.awaitBackground();
        assertTrue(s.wholeUnder(t("")));
        assertEquals(shape(host), shape(Path.of(t(""))));
    }

    @Test
    void aWalkCutShortByTheRunsEndIsAppliedAsFarAsItCameAndTheNextRunGoesOn() throws Exception {
        open();
        MirrorSession run = s;
        // A short run: its session ends while the completion's walk is on its way, and the client's file
        // server goes with it. Its first directory had come.
        files.cutNextWalk(1, run::close);
        assertFalse(run.wholeUnder(t("")));
        eventually("a walk cut by the run's end", () -> files.walkCuts() == 1);
        run.awaitBackground();
        String cut = files.walkCutAt();
        String sub;
        try (Stream<Path> in = Files.list(host.resolve(cut))) {
            sub = cut + "/" + in.filter(Files::isDirectory).findFirst().orElseThrow().getFileName();
        }
        Entry came = tree().entries.get(cut);
        synchronized (came) {
            assertTrue(came.listed, cut + ": the directory that came before the run's end is applied after it");
        }
        assertEquals(names(host.resolve(cut)), names(Path.of(t(cut))), "a placeholder for every name of it");
        Entry notYet = tree().entries.get(sub);
        synchronized (notYet) {
            assertFalse(notYet.listed, sub + " never came");
        }
        assertFalse(tree().completing.get());
        open(); // the next run goes on from there
        assertFalse(s.wholeUnder(t("")));
        s.awaitBackground();
        assertTrue(s.wholeUnder(t("")));
        assertEquals(shape(host), shape(Path.of(t(""))));
    }

    @Test
    void aPassCutShortByItsSessionsCloseGoesOnInAnotherSessionOfTheTree() throws Exception {
        MirrorSession first = open();
        DirectoryHostFiles firstFiles = files;
        files = new DirectoryHostFiles(host, "rootfs-1"); // a second run's connection, the same tree
        MirrorSession second = cache.session(files);
        try {
            assertFalse(first.wholeUnder(t("")));
            second.wholeUnder(second.rootHostPath()); // asks too while the first one's pass runs (unless it is done)
            first.close();
            first.awaitBackground(); // its pass, cut short or done, hands on to the second session
            second.awaitBackground();
            assertEquals(List.of(), Wholeness.unlisted(tree(), ""));
            int calls = firstFiles.totalCalls() + files.totalCalls();
            assertTrue(second.wholeUnder(second.rootHostPath()));
            assertEquals(calls, firstFiles.totalCalls() + files.totalCalls());
        } finally {
            second.close();
        }
    }

    @Test
    void aDirectoryTheHostWillNotListKeepsTheTreeFromBeingWholeWithoutBeingAskedForAgainAndAgain() throws Exception {
        open();
        s.wholeUnder(t(""));
        s.awaitBackground();
        s.close();
        Files.writeString(host.resolve("etc/hosts"), "127.0.0.1 localhost\n");
        open(); // validation: etc is stale
        files.failAlways("readdir", io.tether.posix.Errno.EACCES);
        assertFalse(s.wholeUnder(t("")), "etc could not be listed");
        assertTrue(tree().incomplete.contains("etc"));
        s.awaitBackground();
        int asked = files.calls("readdir");
        s.kernelResolves(); // a pass: it leaves etc to be asked for when used
        s.awaitBackground();
        assertEquals(asked, files.calls("readdir"));
        files.failAlways("readdir", 0);
        assertTrue(s.wholeUnder(t("")), "listed at the next answer");
        assertTrue(tree().incomplete.isEmpty());
        assertTrue(Files.exists(Path.of(t("etc/hosts"))));
    }
}
