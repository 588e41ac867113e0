package io.tether.client.files;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.protobuf.ByteString;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.protocol.proto.Attr;
import io.tether.protocol.proto.DirEntry;
import io.tether.protocol.proto.StatFsReply;
import io.tether.protocol.proto.ValidateEntry;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every operation of the host file server against a temp directory, with its errno on failure. */
class HostTreeTest {
    @TempDir Path tmp;
    Path root;
    Path bind;
    HostTree tree;

    @BeforeEach
    void setUp() throws Exception {
        root = Files.createDirectory(tmp.resolve("root"));
        bind = Files.createDirectory(tmp.resolve("bind"));
        Files.writeString(root.resolve("hello.txt"), "hello world\n");
        Files.createDirectories(root.resolve("usr/lib"));
        Files.writeString(root.resolve("usr/lib/libc.so"), "ELF");
        Files.createSymbolicLink(root.resolve("lib"), Path.of("usr/lib"));
        tree = new HostTree(List.of(ExportRoot.open(0, root, false, walk()), ExportRoot.open(1, bind, false, walk()),
                ExportRoot.open(2, Files.createDirectory(tmp.resolve("ro")), true, walk())));
    }

    /** Whether to resolve by the O_NOFOLLOW walk (the fallback where openat2 is missing). */
    boolean walk() {
        return false;
    }

    @AfterEach
    void tearDown() {
        tree.close();
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static int errno(ThrowingRunnable r) {
        ErrnoException e = assertThrows(ErrnoException.class, r::run);
        return e.errno();
    }

    interface ThrowingRunnable {
        void run() throws Exception;
    }

    byte[] readAll(int export, String rel) throws ErrnoException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        tree.read(export, b(rel), 0, 0, (off, data, last, attr) -> out.write(data, 0, data.length));
        return out.toByteArray();
    }

    @Test
    void getattrFollowsOrNotAndReportsWhatLstatSays() throws Exception {
        Attr link = tree.getattr(0, b("lib"), false);
        assertEquals(HostCalls.S_IFLNK, link.getMode() & HostCalls.S_IFMT);
        Attr dir = tree.getattr(0, b("lib"), true);
        assertEquals(HostCalls.S_IFDIR, dir.getMode() & HostCalls.S_IFMT);
        Attr file = tree.getattr(0, b("hello.txt"), false);
        assertEquals(12, file.getSize());
        assertEquals(Files.getAttribute(root.resolve("hello.txt"), "unix:ino"), file.getIno());
        assertEquals(((java.nio.file.attribute.FileTime) Files.getAttribute(root.resolve("hello.txt"), "unix:ctime")).toInstant().getEpochSecond(),
                file.getCtimeNs() / 1_000_000_000L);
        assertEquals(HostCalls.S_IFDIR, tree.getattr(0, b(""), false).getMode() & HostCalls.S_IFMT);
        assertEquals(Errno.ENOENT, errno(() -> tree.getattr(0, b("missing"), false)));
        assertEquals(Errno.ENOTDIR, errno(() -> tree.getattr(0, b("hello.txt/x"), false)));
        assertEquals(Errno.EINVAL, errno(() -> tree.getattr(7, b(""), false)));
    }

    @Test
    void readdirListsEveryEntryWithAttributesAndLinkTargetsInBatches() throws Exception {
        Path big = Files.createDirectory(root.resolve("big"));
        for (int i = 0; i < 3000; i++) Files.writeString(big.resolve("file-with-a-longish-name-" + i), "x".repeat(i % 7));
        Files.createSymbolicLink(big.resolve("link"), Path.of("/somewhere/else"));
        List<DirEntry> all = new ArrayList<>();
        int[] batches = {0};
        Attr[] dirAttr = {null};
        Path[] host = {null};
        tree.readdir(0, b("big"), new HostTree.ListingSink() {
            @Override
            public void opened(Path hostDir) {
                host[0] = hostDir;
            }

            @Override
            public void batch(List<DirEntry> entries, Attr dir, boolean last) {
                batches[0]++;
                all.addAll(entries);
                if (last) dirAttr[0] = dir;
                else assertNull(dir);
            }
        });
        assertEquals(big.toRealPath(), host[0]);
        assertTrue(batches[0] > 1, "a big listing comes in several replies");
        assertEquals(3001, all.size());
        assertNotNull(dirAttr[0]);
        Map<String, DirEntry> byName = new HashMap<>();
        for (DirEntry e : all) byName.put(e.getName().toStringUtf8(), e);
        assertEquals(5, byName.get("file-with-a-longish-name-12").getAttr().getSize());
        assertEquals("/somewhere/else", byName.get("link").getLinkTarget().toStringUtf8());
        assertFalse(byName.containsKey(".") || byName.containsKey(".."));
        // Through a symlink inside the root; a file is ENOTDIR.
        List<DirEntry> lib = new ArrayList<>();
        tree.readdir(0, b("lib"), (entries, dir, last) -> lib.addAll(entries));
        assertEquals("libc.so", lib.get(0).getName().toStringUtf8());
        assertEquals(Errno.ENOTDIR, errno(() -> tree.readdir(0, b("hello.txt"), (e, d, l) -> { })));
        assertEquals(Errno.ENOENT, errno(() -> tree.readdir(0, b("nope"), (e, d, l) -> { })));
    }

    @Test
    void readlinkReturnsTheRawTargetAndEinvalForOtherFiles() throws Exception {
        assertArrayEquals(b("usr/lib"), tree.readlink(0, b("lib")));
        assertEquals(Errno.EINVAL, errno(() -> tree.readlink(0, b("hello.txt"))));
        assertEquals(Errno.ENOENT, errno(() -> tree.readlink(0, b("missing"))));
    }

    @Test
    void readReturnsRangesOrTheWholeFileInChunksWithTheAttributesLast() throws Exception {
        byte[] data = new byte[200_000];
        new Random(1).nextBytes(data);
        Files.write(root.resolve("blob"), data);
        List<Long> offsets = new ArrayList<>();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Attr[] attr = {null};
        tree.read(0, b("blob"), 0, 0, (off, chunk, last, a) -> {
            assertTrue(chunk.length <= HostTree.CHUNK);
            offsets.add(off);
            out.write(chunk, 0, chunk.length);
            if (last) attr[0] = a;
            else assertNull(a);
        });
        assertArrayEquals(data, out.toByteArray());
        assertEquals(200_000, attr[0].getSize());
        assertEquals(List.of(0L, 61440L, 122880L, 184320L), offsets);
        ByteArrayOutputStream range = new ByteArrayOutputStream();
        tree.read(0, b("blob"), 1000, 10, (off, chunk, last, a) -> range.write(chunk, 0, chunk.length));
        assertArrayEquals(java.util.Arrays.copyOfRange(data, 1000, 1010), range.toByteArray());
        assertArrayEquals(b("hello world\n"), readAll(0, "hello.txt"));
        ByteArrayOutputStream past = new ByteArrayOutputStream();
        tree.read(0, b("hello.txt"), 100, 0, (off, chunk, last, a) -> {
            assertTrue(last);
            past.write(chunk, 0, chunk.length);
        });
        assertEquals(0, past.size());
        assertEquals(Errno.EISDIR, errno(() -> readAll(0, "usr")));
        assertEquals(Errno.ENOENT, errno(() -> readAll(0, "missing")));
        LibFifo.mkfifo(root.resolve("fifo"));
        assertEquals(Errno.EINVAL, errno(() -> readAll(0, "fifo")), "a FIFO is never opened on the host");
    }

    @Test
    void putReplacesAtomicallyKeepingTheOldModeAndCreatesNewFilesWithTheirMode() throws Exception {
        Path f = root.resolve("hello.txt");
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rwxr-x---"));
        HostTree.PutFile put = tree.beginPut(0, b("hello.txt"), 0600);
        put.write(0, b("new "));
        assertEquals("hello world\n", Files.readString(f), "the old file until the commit");
        put.write(4, b("contents"));
        Attr a = put.commit(true);
        assertEquals("new contents", Files.readString(f));
        assertEquals(0750, a.getMode() & 07777);
        assertEquals(12, a.getSize());
        assertEquals(Files.getAttribute(f, "unix:ino"), a.getIno());
        HostTree.PutFile fresh = tree.beginPut(0, b("usr/new.bin"), 0741);
        fresh.write(0, b("x"));
        assertEquals(0741, fresh.commit(false).getMode() & 07777);
        assertEquals("x", Files.readString(root.resolve("usr/new.bin")));
        assertEquals(Errno.EISDIR, errno(() -> tree.beginPut(0, b("usr"), 0644)));
        assertEquals(Errno.ENOENT, errno(() -> tree.beginPut(0, b("nodir/x"), 0644)));
        assertEquals(Errno.EROFS, errno(() -> tree.beginPut(2, b("x"), 0644)));
        assertNoTempFiles();
    }

    @Test
    void aPutCarryingTheProgramsChmodReplacesTheOldMode() throws Exception {
        Path f = root.resolve("hello.txt");
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-r--r--"));
        HostTree.PutFile put = tree.beginPut(0, b("hello.txt"), 0755, true);
        put.write(0, b("#!/bin/sh\n"));
        assertEquals(0755, put.commit(false).getMode() & 07777);
        assertEquals("rwxr-xr-x", PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
    }

    @Test
    void anAbortedPutLeavesTheOldFileAndNoTemporaryFile() throws Exception {
        HostTree.PutFile put = tree.beginPut(0, b("hello.txt"), 0644);
        put.write(0, b("half of a new"));
        put.abort();
        assertEquals("hello world\n", Files.readString(root.resolve("hello.txt")));
        assertNoTempFiles();
    }

    void assertNoTempFiles() throws Exception {
        try (Stream<Path> all = Files.walk(root)) {
            assertEquals(List.of(), all.filter(p -> p.getFileName().toString().contains(".tether-")).toList());
        }
    }

    @Test
    void createMakesTheFileWithItsExactModeAndHonoursExclusiveAndTruncate() throws Exception {
        Attr a = tree.create(0, b("new"), 0777, true, false);
        assertEquals(0777, a.getMode() & 07777, "the client's umask does not apply");
        assertEquals(Errno.EEXIST, errno(() -> tree.create(0, b("new"), 0644, true, false)));
        assertEquals(12, tree.create(0, b("hello.txt"), 0644, false, false).getSize());
        assertEquals(0, tree.create(0, b("hello.txt"), 0644, false, true).getSize());
        assertEquals(0, Files.size(root.resolve("hello.txt")));
        assertEquals(Errno.EISDIR, errno(() -> tree.create(0, b("usr"), 0644, false, false)));
        assertEquals(Errno.ENOENT, errno(() -> tree.create(0, b("nodir/x"), 0644, false, false)));
        assertEquals(Errno.EROFS, errno(() -> tree.create(2, b("x"), 0644, false, false)));
    }

    @Test
    void theGuestUmaskComesOffNewModesButNotOffChmod() throws Exception {
        try (HostTree t = new HostTree(List.of(ExportRoot.open(0, root, false, walk())), 027)) {
            assertEquals(0640, t.create(0, b("c"), 0666, true, false).getMode() & 07777);
            assertEquals(0750, t.mkdir(0, b("m"), 0777).getMode() & 07777);
            assertEquals(0640, t.mknod(0, b("p"), 0010666, 0).getMode() & 07777);
            HostTree.PutFile put = t.beginPut(0, b("n"), 0666);
            assertEquals(0640, put.commit(false).getMode() & 07777);
            assertEquals(0777, t.chmod(0, b("c"), 0777).getMode() & 07777);
        }
    }

    @Test
    void truncateCutsOrExtends() throws Exception {
        assertEquals(5, tree.truncate(0, b("hello.txt"), 5).getSize());
        assertEquals("hello", Files.readString(root.resolve("hello.txt")));
        assertEquals(100, tree.truncate(0, b("hello.txt"), 100).getSize());
        assertEquals(Errno.EISDIR, errno(() -> tree.truncate(0, b("usr"), 0)));
    }

    @Test
    void mkdirMknodUnlinkRmdir() throws Exception {
        assertEquals(0705, tree.mkdir(0, b("d"), 0705).getMode() & 07777);
        assertTrue(Files.isDirectory(root.resolve("d")));
        assertEquals(Errno.EEXIST, errno(() -> tree.mkdir(0, b("d"), 0755)));
        assertEquals(Errno.EEXIST, errno(() -> tree.mkdir(0, b(""), 0755)));
        Attr fifo = tree.mknod(0, b("d/fifo"), 0010666, 0);
        assertEquals(0010000, fifo.getMode() & HostCalls.S_IFMT);
        assertEquals(0666, fifo.getMode() & 07777);
        assertEquals(Errno.ENOTEMPTY, errno(() -> tree.rmdir(0, b("d"))));
        assertEquals(Errno.EISDIR, errno(() -> tree.unlink(0, b("d"))));
        tree.unlink(0, b("d/fifo"));
        assertEquals(Errno.ENOENT, errno(() -> tree.unlink(0, b("d/fifo"))));
        tree.rmdir(0, b("d"));
        assertFalse(Files.exists(root.resolve("d")));
        assertEquals(Errno.ENOTDIR, errno(() -> tree.rmdir(0, b("hello.txt"))));
        assertEquals(Errno.EBUSY, errno(() -> tree.rmdir(0, b(""))));
        assertEquals(Errno.EROFS, errno(() -> tree.mkdir(2, b("x"), 0755)));
        // Unlinking a symlink removes the link, never its target.
        tree.unlink(0, b("lib"));
        assertTrue(Files.exists(root.resolve("usr/lib/libc.so")));
    }

    @Test
    void renameWithFlagsAndExdevAcrossExports() throws Exception {
        Files.writeString(root.resolve("a"), "A");
        Files.writeString(root.resolve("b"), "B");
        assertEquals(Errno.EEXIST, errno(() -> tree.rename(0, b("a"), 0, b("b"), 1 /* RENAME_NOREPLACE */)));
        tree.rename(0, b("a"), 0, b("b"), 2 /* RENAME_EXCHANGE */);
        assertEquals("B", Files.readString(root.resolve("a")));
        tree.rename(0, b("a"), 0, b("usr/c"), 0);
        assertEquals("B", Files.readString(root.resolve("usr/c")));
        assertEquals(Errno.EXDEV, errno(() -> tree.rename(0, b("b"), 1, b("b"), 0)));
        assertEquals(Errno.ENOENT, errno(() -> tree.rename(0, b("nope"), 0, b("x"), 0)));
        assertEquals(Errno.EBUSY, errno(() -> tree.rename(0, b(""), 0, b("x"), 0)));
    }

    @Test
    void linkAndSymlink() throws Exception {
        tree.link(0, b("hello.txt"), 0, b("usr/hard"));
        assertEquals(Files.getAttribute(root.resolve("hello.txt"), "unix:ino"), Files.getAttribute(root.resolve("usr/hard"), "unix:ino"));
        assertEquals(Errno.EEXIST, errno(() -> tree.link(0, b("hello.txt"), 0, b("usr/hard"))));
        assertEquals(Errno.EXDEV, errno(() -> tree.link(0, b("hello.txt"), 1, b("x"))));
        tree.symlink(0, b("abs"), b("/etc/passwd"));
        assertEquals("/etc/passwd", Files.readSymbolicLink(root.resolve("abs")).toString(), "stored as written");
        assertEquals(Errno.EEXIST, errno(() -> tree.symlink(0, b("abs"), b("x"))));
        // link() does not follow a symlink source: the new name is another link.
        tree.link(0, b("lib"), 0, b("lib2"));
        assertTrue(Files.isSymbolicLink(root.resolve("lib2")));
    }

    @Test
    void chmodChownUtimes() throws Exception {
        assertEquals(0604, tree.chmod(0, b("hello.txt"), 0604).getMode() & 07777);
        assertEquals(0700, tree.chmod(0, b("lib"), 0700).getMode() & 07777, "chmod follows, inside the root");
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(root.resolve("usr/lib"))));
        assumeTrue(io.tether.posix.LibC.getuid() == 0, "chown to another user needs root");
        tree.chown(0, b("hello.txt"), 1234, -1, true);
        assertEquals(1234, Files.getAttribute(root.resolve("hello.txt"), "unix:uid"));
        tree.chown(0, b("lib"), 4321, 4321, false);
        assertEquals(4321, Files.getAttribute(root.resolve("lib"), "unix:uid", java.nio.file.LinkOption.NOFOLLOW_LINKS));
        assertEquals(0, Files.getAttribute(root.resolve("usr/lib"), "unix:uid"), "lchown leaves the target");
        tree.utimes(0, b("hello.txt"), 1000, HostCalls.UTIME_OMIT, 2000, 5, true);
        Attr a = tree.getattr(0, b("hello.txt"), false);
        assertEquals(2000L * 1_000_000_000L + 5, a.getMtimeNs());
        tree.utimes(0, b("lib"), 10, 0, 20, 0, false);
        assertEquals(20L * 1_000_000_000L, tree.getattr(0, b("lib"), false).getMtimeNs());
        long before = System.currentTimeMillis() / 1000 - 5;
        tree.utimes(0, b("hello.txt"), 0, HostCalls.UTIME_NOW, 0, HostCalls.UTIME_NOW, true);
        assertTrue(tree.getattr(0, b("hello.txt"), false).getMtimeNs() / 1_000_000_000L >= before);
    }

    @Test
    void statfsFsyncAndXattrs() throws Exception {
        StatFsReply s = tree.statfs(0, b("hello.txt"));
        assertTrue(s.getBsize() > 0 && s.getBlocks() > 0 && s.getNamelen() >= 255, s.toString());
        tree.fsync(0, b("hello.txt"));
        tree.fsync(0, b("usr"));
        assertEquals(Errno.ENOENT, errno(() -> tree.fsync(0, b("missing"))));
        try {
            tree.setxattr(0, b("hello.txt"), b("user.tether"), b("value"), 0, true);
        } catch (ErrnoException e) {
            assumeTrue(e.errno() != Errno.EOPNOTSUPP, "no user xattrs on this file system");
            throw e;
        }
        assertArrayEquals(b("value"), tree.getxattr(0, b("hello.txt"), b("user.tether"), false));
        assertTrue(tree.listxattr(0, b("hello.txt"), true).stream().anyMatch(n -> new String(n, StandardCharsets.UTF_8).equals("user.tether")));
        assertEquals(Errno.EEXIST, errno(() -> tree.setxattr(0, b("hello.txt"), b("user.tether"), b("v"), 1 /* XATTR_CREATE */, true)));
        tree.removexattr(0, b("hello.txt"), b("user.tether"), true);
        assertEquals(Errno.ENODATA, errno(() -> tree.getxattr(0, b("hello.txt"), b("user.tether"), true)));
        // Through a symlink: followed (the directory) or not (the link itself: no user xattrs on links).
        tree.setxattr(0, b("lib"), b("user.dir"), b("d"), 0, true);
        assertArrayEquals(b("d"), tree.getxattr(0, b("usr/lib"), b("user.dir"), false));
        assertEquals(Errno.ENODATA, errno(() -> tree.getxattr(0, b("lib"), b("user.dir"), false)));
        assertEquals(Errno.EROFS, errno(() -> tree.setxattr(2, b(""), b("user.x"), b("v"), 0, true)));
    }

    @Test
    void validateReturnsWhatChangedOrVanished() throws Exception {
        Attr hello = tree.getattr(0, b("hello.txt"), false);
        Attr lib = tree.getattr(0, b("usr/lib/libc.so"), false);
        Files.writeString(root.resolve("usr/lib/libc.so"), "ELF2");
        Files.writeString(root.resolve("gone"), "x");
        Attr gone = tree.getattr(0, b("gone"), false);
        Files.delete(root.resolve("gone"));
        List<ByteString> stale = tree.validate(0, List.of(entry("hello.txt", hello), entry("usr/lib/libc.so", lib), entry("gone", gone)));
        assertEquals(List.of(ByteString.copyFromUtf8("usr/lib/libc.so"), ByteString.copyFromUtf8("gone")), stale);
    }

    static ValidateEntry entry(String rel, Attr a) {
        return ValidateEntry.newBuilder().setRel(ByteString.copyFromUtf8(rel)).setMtimeNs(a.getMtimeNs()).setCtimeNs(a.getCtimeNs())
                .setSize(a.getSize()).setIno(a.getIno()).build();
    }

    @Test
    void aFileExportServesOnlyItsFileAndReplacesItByName() throws Exception {
        Path file = Files.writeString(tmp.resolve("config.txt"), "old");
        try (HostTree t = new HostTree(List.of(ExportRoot.open(0, root, false, walk()), ExportRoot.open(1, file, false, walk())))) {
            assertEquals(3, t.getattr(1, b(""), true).getSize());
            assertEquals(Errno.ENOTDIR, errno(() -> t.getattr(1, b("x"), true)));
            HostTree.PutFile put = t.beginPut(1, b(""), 0644);
            put.write(0, b("new!"));
            put.commit(false);
            assertEquals("new!", Files.readString(file));
            assertEquals(4, t.getattr(1, b(""), true).getSize(), "the new file, not the replaced one");
        }
    }

    /** mkfifo for a test fixture. */
    static final class LibFifo {
        static void mkfifo(Path p) throws ErrnoException {
            io.tether.posix.LibC.mkfifo(p.toString(), 0644);
        }
    }
}
