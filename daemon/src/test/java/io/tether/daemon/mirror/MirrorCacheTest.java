package io.tether.daemon.mirror;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MirrorCacheTest {
    private static final int O_RDONLY = 0, O_WRONLY = 1;

    @TempDir
    Path tmp;
    Path host;
    Path cacheDir;

    @BeforeEach
    void setUp() throws IOException {
        host = Files.createDirectories(tmp.resolve("host"));
        cacheDir = tmp.resolve("cache");
        for (int i = 0; i < 6; i++) {
            byte[] b = new byte[1000];
            Arrays.fill(b, (byte) ('a' + i));
            Files.write(host.resolve("f" + i), b);
        }
    }

    private static String target(MirrorSession s, String rel) {
        return s.rootHostPath() + "/" + rel;
    }

    private static void open(MirrorSession s, String rel) throws ErrnoException {
        s.kind(target(s, rel));
        s.beforeOpen(target(s, rel), O_RDONLY, 0);
    }

    @Test
    void leastRecentlyUsedContentsAreEvictedBackToPlaceholders() throws Exception {
        DirectoryHostFiles files = new DirectoryHostFiles(host, "root");
        try (MirrorCache cache = MirrorCache.open(cacheDir, 3000); MirrorSession s = cache.session(files)) {
            for (String f : new String[] {"f0", "f1", "f2"}) {
                open(s, f);
                Thread.sleep(5);
            }
            assertEquals(3000, cache.usedBytes());
            open(s, "f0"); // f0 used again: f1 is now the oldest
            Thread.sleep(5);
            open(s, "f3");
            assertTrue(cache.usedBytes() <= 3000, "bounded: " + cache.usedBytes());
            byte[] f1 = Files.readAllBytes(Path.of(target(s, "f1")));
            assertEquals(1000, f1.length, "an evicted file keeps the host's size");
            assertEquals(0, f1[0], "and is a placeholder again");
            assertEquals('a', Files.readAllBytes(Path.of(target(s, "f0")))[0], "recently used contents stay");
            int fetches = files.calls("fetch");
            open(s, "f1");
            assertEquals(fetches + 1, files.calls("fetch"), "refetched when opened again");
            assertEquals('b', Files.readAllBytes(Path.of(target(s, "f1")))[0]);
        }
    }

    @Test
    void aFileBeingWrittenIsNeverEvictedAndAFullCacheGivesEnospc() throws Exception {
        DirectoryHostFiles files = new DirectoryHostFiles(host, "root");
        try (MirrorCache cache = MirrorCache.open(cacheDir, 1500); MirrorSession s = cache.session(files)) {
            s.kind(target(s, "f0"));
            s.beforeOpen(target(s, "f0"), O_WRONLY, 0);
            ErrnoException full = assertThrows(ErrnoException.class, () -> open(s, "f1"));
            assertEquals(Errno.ENOSPC, full.errno());
            assertEquals('a', Files.readAllBytes(Path.of(target(s, "f0")))[0], "pinned contents kept");
        }
    }

    @Test
    void theIndexSurvivesARestart() throws Exception {
        DirectoryHostFiles files = new DirectoryHostFiles(host, "root");
        long used;
        try (MirrorCache cache = MirrorCache.open(cacheDir, 1 << 20)) {
            try (MirrorSession s = cache.session(files)) {
                open(s, "f0");
                open(s, "f1");
            }
            used = cache.usedBytes(); // f0, f1 and what was read ahead with them
            assertTrue(used >= 2000, "f0 and f1 at least: " + used);
        }
        assertTrue(Files.isRegularFile(cacheDir.resolve("index.d/root")), "one index file per tree");
        assertFalse(Files.exists(cacheDir.resolve("index")));
        DirectoryHostFiles again = new DirectoryHostFiles(host, "root");
        try (MirrorCache cache = MirrorCache.open(cacheDir, 1 << 20); MirrorSession s = cache.session(again)) {
            assertEquals(used, cache.usedBytes());
            open(s, "f0");
            open(s, "f1");
            assertEquals(0, again.calls("fetch"));
            assertEquals(0, again.calls("readdir"), "the listing survived too");
            assertEquals(1, again.calls("validate"));
            assertEquals('b', Files.readAllBytes(Path.of(target(s, "f1")))[0]);
        }
    }

    @Test
    void aSessionThatChangesNothingLeavesTheIndexAlone() throws Exception {
        DirectoryHostFiles files = new DirectoryHostFiles(host, "root");
        Path index = cacheDir.resolve("index.d/root");
        try (MirrorCache cache = MirrorCache.open(cacheDir, 1 << 20)) {
            try (MirrorSession s = cache.session(files)) {
                open(s, "f0");
            }
            Object written = Files.getAttribute(index, "unix:ino");
            try (MirrorSession s = cache.session(files)) {
                open(s, "f0"); // warm: validated, nothing new
            }
            assertEquals(written, Files.getAttribute(index, "unix:ino"), "a warm session rewrote the index");
            Files.write(host.resolve("f0"), new byte[] {'z'});
            try (MirrorSession s = cache.session(files)) {
                open(s, "f0"); // stale: fetched again, so the index changes
                assertEquals('z', Files.readAllBytes(Path.of(target(s, "f0")))[0]);
            }
            assertNotEquals(written, Files.getAttribute(index, "unix:ino"), "a change reaches the index at session end");
        }
    }

    @Test
    void aBigCacheIsValidatedInRequestsThatFitAProtocolMessage() throws Exception {
        Path many = Files.createDirectories(host.resolve("many"));
        for (int i = 0; i < 3000; i++) Files.writeString(many.resolve("a-rather-long-file-name-number-" + i), "");
        try (MirrorCache cache = MirrorCache.open(cacheDir, 1 << 20); MirrorSession s = cache.session(new DirectoryHostFiles(host, "root"))) {
            s.kind(target(s, "many/a-rather-long-file-name-number-0"));
        }
        Files.writeString(many.resolve("a-rather-long-file-name-number-7"), "changed");
        DirectoryHostFiles again = new DirectoryHostFiles(host, "root");
        try (MirrorCache cache = MirrorCache.open(cacheDir, 1 << 20); MirrorSession s = cache.session(again)) {
            assertTrue(again.calls("validate") > 1, "split: " + again.calls("validate"));
            assertTrue(again.largestValidation * (30 + 48) < 64 * 1024, "each part fits 64 KiB: " + again.largestValidation);
            s.kind(target(s, "many/a-rather-long-file-name-number-7"));
            assertEquals(7L, Files.size(Path.of(target(s, "many/a-rather-long-file-name-number-7"))), "the change is seen");
        }
    }

    @Test
    void aSessionOnOneTreeLeavesAnotherTreesIndexAlone() throws Exception {
        Path root = cacheDir.resolve("index.d/root"), other = cacheDir.resolve("index.d/other");
        try (MirrorCache cache = MirrorCache.open(cacheDir, 1 << 20)) {
            try (MirrorSession s = cache.session(new DirectoryHostFiles(host, "root"))) {
                open(s, "f0");
            }
            try (MirrorSession s = cache.session(new DirectoryHostFiles(host, "other"))) {
                open(s, "f0");
            }
            Object rootIno = Files.getAttribute(root, "unix:ino"), otherIno = Files.getAttribute(other, "unix:ino");
            Files.write(host.resolve("f0"), new byte[] {'z'});
            try (MirrorSession s = cache.session(new DirectoryHostFiles(host, "other"))) {
                open(s, "f0"); // stale in this tree: fetched again
                assertEquals('z', Files.readAllBytes(Path.of(target(s, "f0")))[0]);
            }
            assertNotEquals(otherIno, Files.getAttribute(other, "unix:ino"), "the changed tree's index is written");
            assertEquals(rootIno, Files.getAttribute(root, "unix:ino"), "the other tree's index is not rewritten");
        }
    }

    /**
     * Trees are bounded by the disk: with the cache's file system short of room, a session's start drops the
     * least recently used trees no session holds (mirror, index, and their contents from the count), never a
     * held one; which was used last survives a restart (the index files' times).
     */
    @Test
    void aShortDiskDropsTheLeastRecentlyUsedIdleTrees() throws Exception {
        try (MirrorCache cache = MirrorCache.open(cacheDir, 1 << 20)) {
            for (String key : List.of("a", "b", "c")) {
                try (MirrorSession s = cache.session(new DirectoryHostFiles(host, key))) {
                    open(s, "f0");
                }
                Thread.sleep(20);
            }
            assertEquals(3000, cache.usedBytes());
            int[] shortFor = {1};
            cache.roomProbe(() -> inodesFree(shortFor[0]-- > 0 ? 2 : 100)); // 1% of 200, then half
            try (MirrorSession s = cache.session(new DirectoryHostFiles(host, "d"))) {
                open(s, "f0");
            }
            assertFalse(Files.exists(cacheDir.resolve("trees/a")), "the least recently used tree went");
            eventually(() -> !Files.exists(cacheDir.resolve("index.d/a")));
            for (String key : List.of("b", "c", "d")) assertTrue(Files.isDirectory(cacheDir.resolve("trees/" + key)), key);
            assertEquals(3000, cache.usedBytes(), "a's contents no longer count, d's do");

            Thread.sleep(20);
            try (MirrorSession held = cache.session(new DirectoryHostFiles(host, "b"))) {
                cache.roomProbe(() -> new MirrorFs.Room(20_000, 200, 1 << 20, 1 << 20)); // short of blocks for good; c or d alone would end it
                try (MirrorSession s = cache.session(new DirectoryHostFiles(host, "e"))) {
                    open(s, "f0");
                    assertEquals('a', Files.readAllBytes(Path.of(target(s, "f0")))[0]);
                }
                for (String key : List.of("c", "d")) assertFalse(Files.exists(cacheDir.resolve("trees/" + key)), key);
                open(held, "f2");
                assertEquals('c', Files.readAllBytes(Path.of(target(held, "f2")))[0], "the held tree stayed and serves");
                Thread.sleep(20);
            }
        }
        try (MirrorCache cache = MirrorCache.open(cacheDir, 1 << 20)) {
            int[] shortFor = {1};
            cache.roomProbe(() -> inodesFree(shortFor[0]-- > 0 ? 2 : 100)); // 1% of 200, then half
            cache.session(new DirectoryHostFiles(host, "f")).close();
            assertFalse(Files.exists(cacheDir.resolve("trees/e")), "e was used before b, which a session held last");
            assertTrue(Files.isDirectory(cacheDir.resolve("trees/b")));
        }
    }

    /** 200 inodes, {@code free} of them free: a tree here (the root and six files) is 7. */
    private static MirrorFs.Room inodesFree(int free) {
        return new MirrorFs.Room(1L << 30, 1L << 30, 200, free);
    }

    /**
     * A disk short of room because of other files (a board's flash full of logs): dropping the trees would not
     * end it, so a session's start keeps them (else every run would be cold); a create that fails for room
     * still drops the least recently used.
     */
    @Test
    void aDiskFilledByOtherFilesKeepsTheTrees() throws Exception {
        try (MirrorCache cache = MirrorCache.open(cacheDir, 1 << 20)) {
            for (String key : List.of("a", "b")) {
                try (MirrorSession s = cache.session(new DirectoryHostFiles(host, key))) {
                    open(s, "f0");
                }
                Thread.sleep(20);
            }
            cache.roomProbe(() -> new MirrorFs.Room(1L << 30, 1L << 30, 1_000_000, 10_000)); // 1% free; the trees hold 14
            try (MirrorSession s = cache.session(new DirectoryHostFiles(host, "c"))) {
                open(s, "f0");
            }
            for (String key : List.of("a", "b", "c")) assertTrue(Files.isDirectory(cacheDir.resolve("trees/" + key)), key + " stays");
            assertEquals(3000, cache.usedBytes());
            assertTrue(cache.makeRoom(cache.tree("c")), "c could not make a name: room is made");
            assertFalse(Files.exists(cacheDir.resolve("trees/a")), "the least recently used tree went");
            assertTrue(Files.isDirectory(cacheDir.resolve("trees/b")), "and only that one: the rest would not help");
        }
    }

    /**
     * A disk really full (a tmpfs out of inodes: placeholders cost one each) while a directory is mirrored: the
     * idle trees make room and the directory comes whole. Root only (it mounts the tmpfs).
     */
    @Test
    void aFullDiskDropsIdleTreesAndTheDirectoryStillComesWhole() throws Exception {
        Assumptions.assumeTrue(MirrorFs.isRoot(), "mounting a tmpfs needs root");
        Path many = Files.createDirectories(host.resolve("many"));
        for (int i = 0; i < 150; i++) Files.writeString(many.resolve("n" + i), "");
        Path small = Files.createDirectories(tmp.resolve("small"));
        Process mount = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=8m,nr_inodes=220", "tmpfs", small.toString())
                .redirectErrorStream(true).start();
        String said = new String(mount.getInputStream().readAllBytes());
        Assumptions.assumeTrue(mount.waitFor() == 0, () -> "mount: " + said);
        byte[] big = new byte[5 << 20];
        Arrays.fill(big, (byte) 'B');
        Files.write(host.resolve("big"), big);
        try (MirrorCache cache = MirrorCache.open(small.resolve("cache"), 1L << 30)) {
            cache.roomProbe(() -> new MirrorFs.Room(1L << 30, 1L << 30, 1 << 20, 1 << 20)); // only a failed create or write makes room here
            for (String key : List.of("a", "b")) {
                try (MirrorSession s = cache.session(new DirectoryHostFiles(host, key))) {
                    s.beforeOpen(target(s, "many"), O_RDONLY | 0200000, 0);
                    try (var names = Files.list(Path.of(target(s, "many")))) {
                        assertEquals(150, names.count(), key + ": every name is here");
                    }
                    open(s, "big");
                }
            }
            assertFalse(Files.exists(small.resolve("cache/trees/a")), "a's inodes made room for b's names");
            try (MirrorSession s = cache.session(new DirectoryHostFiles(host, "c"))) {
                open(s, "big"); // 5 MiB more than the 8 MiB disk has: b's contents make room
                assertArrayEquals(big, Files.readAllBytes(Path.of(target(s, "big"))));
            }
            assertFalse(Files.exists(small.resolve("cache/trees/b")), "b's blocks made room for c's file");
        } finally {
            new ProcessBuilder("umount", "-l", small.toString()).start().waitFor();
        }
    }

    private static void eventually(java.util.function.BooleanSupplier check) throws InterruptedException {
        long end = System.nanoTime() + 5_000_000_000L;
        while (!check.getAsBoolean()) {
            if (System.nanoTime() > end) throw new AssertionError("timed out");
            Thread.sleep(10);
        }
    }

    @Test
    void aCorruptIndexFileStartsOnlyItsTreeClean() throws Exception {
        try (MirrorCache cache = MirrorCache.open(cacheDir, 1 << 20)) {
            for (String key : new String[] {"root", "other"}) {
                try (MirrorSession s = cache.session(new DirectoryHostFiles(host, key))) {
                    open(s, "f0");
                }
            }
        }
        Path file = cacheDir.resolve("index.d/root");
        byte[] index = Files.readAllBytes(file);
        index[index.length / 2] ^= 0x55;
        Files.write(file, index);
        DirectoryHostFiles again = new DirectoryHostFiles(host, "root"), other = new DirectoryHostFiles(host, "other");
        try (MirrorCache cache = MirrorCache.open(cacheDir, 1 << 20)) {
            try (MirrorSession s = cache.session(again)) {
                open(s, "f0");
                assertEquals(1, again.calls("fetch"), "the tree of the corrupt index is fetched again");
                assertEquals('a', Files.readAllBytes(Path.of(target(s, "f0")))[0]);
            }
            try (MirrorSession s = cache.session(other)) {
                open(s, "f0");
                assertEquals(0, other.calls("fetch"), "the other tree stays warm");
                assertEquals(0, other.calls("readdir"));
            }
        }
        assertTrue(MirrorIndex.read(file) != null, "written again");
    }

    @Test
    void anIndexFileNamedForAnotherTreeIsNotTrusted() throws Exception {
        try (MirrorCache cache = MirrorCache.open(cacheDir, 1 << 20); MirrorSession s = cache.session(new DirectoryHostFiles(host, "root"))) {
            open(s, "f0");
        }
        Files.move(cacheDir.resolve("index.d/root"), cacheDir.resolve("index.d/other"));
        Files.move(cacheDir.resolve("trees/root"), cacheDir.resolve("trees/other"));
        DirectoryHostFiles other = new DirectoryHostFiles(host, "other");
        try (MirrorCache cache = MirrorCache.open(cacheDir, 1 << 20); MirrorSession s = cache.session(other)) {
            assertEquals(0, cache.usedBytes());
            open(s, "f0");
            assertEquals(1, other.calls("fetch"));
        }
    }

    @Test
    void theSingleIndexOfEarlierVersionsIsMigrated() throws Exception {
        DirectoryHostFiles files = new DirectoryHostFiles(host, "root");
        long used;
        try (MirrorCache cache = MirrorCache.open(cacheDir, 1 << 20); MirrorSession s = cache.session(files)) {
            open(s, "f0");
            used = cache.usedBytes();
        }
        // The format-1 index: magic "TMI1", version 1, the number of trees, each tree as a tree file holds it
        // (after its magic and version), then the CRC of all that.
        Path treeFile = cacheDir.resolve("index.d/root");
        byte[] tree = Files.readAllBytes(treeFile);
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        java.io.DataOutputStream out = new java.io.DataOutputStream(bytes);
        out.writeInt(0x544d4931);
        out.writeInt(1);
        out.writeInt(1);
        out.write(tree, 8, tree.length - 16);
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update(bytes.toByteArray());
        out.writeLong(crc.getValue());
        Files.write(cacheDir.resolve("index"), bytes.toByteArray());
        Files.delete(treeFile);
        DirectoryHostFiles again = new DirectoryHostFiles(host, "root");
        try (MirrorCache cache = MirrorCache.open(cacheDir, 1 << 20)) {
            assertEquals(used, cache.usedBytes());
            try (MirrorSession s = cache.session(again)) {
                open(s, "f0");
                assertEquals(0, again.calls("fetch"), "warm after the upgrade");
                assertEquals(0, again.calls("readdir"));
            }
            assertTrue(MirrorIndex.read(treeFile) != null, "the tree has its own file");
            assertFalse(Files.exists(cacheDir.resolve("index")), "and the old index is gone");
        }
    }

    @Test
    void contentsReplacedBehindTheIndexAreNotTrusted() throws Exception {
        DirectoryHostFiles files = new DirectoryHostFiles(host, "root");
        String f0;
        try (MirrorCache cache = MirrorCache.open(cacheDir, 1 << 20); MirrorSession s = cache.session(files)) {
            open(s, "f0");
            f0 = target(s, "f0");
        }
        // As if eviction replaced it and the daemon died before writing the index.
        Path aside = tmp.resolve("ph");
        Files.write(aside, new byte[1000]);
        Files.move(aside, Path.of(f0), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        DirectoryHostFiles again = new DirectoryHostFiles(host, "root");
        try (MirrorCache cache = MirrorCache.open(cacheDir, 1 << 20); MirrorSession s = cache.session(again)) {
            open(s, "f0");
            assertEquals(1, again.calls("fetch"));
            assertEquals('a', Files.readAllBytes(Path.of(f0))[0]);
        }
    }

    @Test
    void aListedDirectoryRemovedByHandIsListedAgain() throws Exception {
        Files.createDirectories(host.resolve("d/e"));
        Files.writeString(host.resolve("d/e/g"), "g");
        String e;
        try (MirrorCache cache = MirrorCache.open(cacheDir, 1 << 20); MirrorSession s = cache.session(new DirectoryHostFiles(host, "root"))) {
            s.kind(target(s, "d/e/g"));
            e = target(s, "d/e");
        }
        MirrorFs.removeTree(e);
        try (MirrorCache cache = MirrorCache.open(cacheDir, 1 << 20); MirrorSession s = cache.session(new DirectoryHostFiles(host, "root"))) {
            open(s, "d/e/g");
            assertEquals("g", Files.readString(Path.of(target(s, "d/e/g"))));
        }
    }

    @Test
    void aCacheDirectoryThatCannotBeCreatedIsAClearError() throws Exception {
        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        ErrnoException e = assertThrows(ErrnoException.class, () -> MirrorCache.open(file.resolve("cache"), 1000));
        assertTrue(e.getMessage().contains(file.resolve("cache").toString()), e.getMessage());
        assertTrue(e.getMessage().contains("cache directory"), e.getMessage());
    }

    @Test
    void aSecondDaemonOnTheSameDirectoryGetsItsOwnInstance() throws Exception {
        try (MirrorCache first = MirrorCache.open(cacheDir, 1000); MirrorCache second = MirrorCache.open(cacheDir, 1000)) {
            assertEquals(cacheDir.toRealPath(), first.dir());
            assertEquals(cacheDir.toRealPath().resolve("instance-1"), second.dir());
        }
        try (MirrorCache again = MirrorCache.open(cacheDir, 1000)) {
            assertEquals(cacheDir.toRealPath(), again.dir(), "the lock goes with the daemon");
        }
    }

    @Test
    void nobodyElseListsTheMirrors() throws Exception {
        try (MirrorCache cache = MirrorCache.open(cacheDir, 1000)) {
            assertEquals("rwx--x--x", java.nio.file.attribute.PosixFilePermissions.toString(
                    Files.getPosixFilePermissions(cache.dir().resolve("trees"))));
            assertEquals("rwx------", java.nio.file.attribute.PosixFilePermissions.toString(
                    Files.getPosixFilePermissions(cache.dir().resolve("tmp"))));
        }
    }

    @Test
    void sizesAcceptKMG() {
        assertEquals(2L << 30, MirrorCache.parseSize("2G"));
        assertEquals(512L << 20, MirrorCache.parseSize("512m"));
        assertEquals(100L << 10, MirrorCache.parseSize("100K"));
        assertEquals(12345, MirrorCache.parseSize("12345"));
        assertThrows(IllegalArgumentException.class, () -> MirrorCache.parseSize("lots"));
        assertThrows(IllegalArgumentException.class, () -> MirrorCache.parseSize("-1G"));
    }

    @Test
    void oddCacheKeysGetSafeDirectoryNames() {
        assertEquals("rootfs-abc_1.2", MirrorCache.dirName("rootfs-abc_1.2"));
        String odd = MirrorCache.dirName("../../etc");
        assertFalse(odd.contains("/"));
        assertTrue(odd.startsWith("k-"));
    }
}
