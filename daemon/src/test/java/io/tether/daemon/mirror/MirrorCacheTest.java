package io.tether.daemon.mirror;

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
