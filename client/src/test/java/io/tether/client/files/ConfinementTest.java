package io.tether.client.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.protocol.proto.Attr;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The security boundary: no request reads, writes or learns anything outside its export. A secret
 * lies next to the export; every attack below must miss it (ENOENT and friends, or the same-named
 * file inside the export) and leave it untouched.
 */
class ConfinementTest {
    @TempDir Path tmp;
    Path root;
    Path outside;
    Path secret;
    HostTree tree;

    boolean walk() {
        return false;
    }

    @BeforeEach
    void setUp() throws Exception {
        root = Files.createDirectory(tmp.resolve("root"));
        outside = Files.createDirectory(tmp.resolve("outside"));
        secret = Files.writeString(outside.resolve("secret"), "SECRET");
        Files.setPosixFilePermissions(secret, PosixFilePermissions.fromString("rw-------"));
        Files.createDirectories(root.resolve("inside"));
        Files.writeString(root.resolve("inside/secret"), "inside");
        tree = new HostTree(List.of(ExportRoot.open(0, root, false, walk())));
    }

    @AfterEach
    void secretIsUntouched() throws Exception {
        tree.close();
        assertEquals("SECRET", Files.readString(secret));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(secret)));
        try (var s = Files.list(outside)) {
            assertEquals(List.of(secret), s.toList(), "nothing created outside the export");
        }
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    String read(String rel) throws ErrnoException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        tree.read(0, b(rel), 0, 0, (off, data, last, attr) -> out.write(data, 0, data.length));
        return out.toString(StandardCharsets.UTF_8);
    }

    void assertMisses(String rel) {
        ErrnoException e = assertThrows(ErrnoException.class, () -> read(rel), rel);
        assertTrue(e.errno() == Errno.ENOENT || e.errno() == Errno.ELOOP || e.errno() == Errno.ENOTDIR || e.errno() == Errno.EXDEV,
                rel + ": " + e.getMessage());
        assertThrows(ErrnoException.class, () -> tree.getattr(0, b(rel), true), rel);
    }

    @Test
    void dotDotStopsAtTheRoot() throws Exception {
        assertMisses("../outside/secret");
        assertMisses("../../../../" + outside + "/secret");
        assertEquals("inside", read("../../inside/secret"), "'..' of the root is the root");
        assertEquals("inside", read("inside/../../inside/secret"));
        assertMisses("inside/../../outside/secret");
        List<String> names = new java.util.ArrayList<>();
        tree.readdir(0, b(".."), (entries, dir, last) -> entries.forEach(e -> names.add(e.getName().toStringUtf8())));
        assertEquals(List.of("inside"), names, "listing '..' lists the root");
    }

    @Test
    void absoluteSymlinksStartOverAtTheRoot() throws Exception {
        Files.createSymbolicLink(root.resolve("abs"), secret);
        Files.createSymbolicLink(root.resolve("absdir"), outside);
        Files.createSymbolicLink(root.resolve("tohere"), Path.of("/inside/secret"));
        assertMisses("abs");
        assertMisses("absdir/secret");
        assertEquals("inside", read("tohere"), "an absolute link means the export's root");
        assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class, () -> tree.readdir(0, b("absdir"), (e, d, l) -> { })).errno());
    }

    @Test
    void relativeSymlinksCannotClimbOut() throws Exception {
        Files.createSymbolicLink(root.resolve("rel"), Path.of("../outside/secret"));
        Files.createSymbolicLink(root.resolve("inside/deep"), Path.of("../../../../outside"));
        Files.createSymbolicLink(root.resolve("inside/up"), Path.of(".."));
        assertMisses("rel");
        assertMisses("inside/deep/secret");
        assertEquals("inside", read("inside/up/inside/up/inside/up/../../inside/secret"));
    }

    @Test
    void aSymlinkInTheMiddleOfThePathStaysInside() throws Exception {
        Files.createSymbolicLink(root.resolve("mid"), Path.of("../outside"));
        Files.createSymbolicLink(root.resolve("inside/chain1"), Path.of("../mid"));
        assertMisses("mid/secret");
        assertMisses("inside/chain1/secret");
        Files.createDirectories(root.resolve("outside"));
        Files.writeString(root.resolve("outside/secret"), "decoy inside");
        assertEquals("decoy inside", read("mid/secret"), "'../outside' from the root is the root's own 'outside'");
    }

    @Test
    void procSelfRootLinksLeadNowhere() throws Exception {
        Files.createSymbolicLink(root.resolve("proc-root"), Path.of("/proc/self/root" + secret));
        Files.createSymbolicLink(root.resolve("proc-cwd"), Path.of("/proc/self/cwd"));
        assertMisses("proc-root");
        assertMisses("proc-cwd/pom.xml");
    }

    @Test
    void magicLinksInsideAnExportAreRefused() throws Exception {
        // An export that contains a real procfs (a rootfs with /proc mounted): /proc/self/root is a
        // magic link to the host's "/" and must not be followed.
        try (HostTree proc = new HostTree(List.of(ExportRoot.open(0, Path.of("/proc/self"), true, walk())))) {
            ErrnoException e = assertThrows(ErrnoException.class, () -> proc.getattr(0, b("root" + secret), true));
            assertTrue(e.errno() == Errno.ELOOP || e.errno() == Errno.ENOENT || e.errno() == Errno.EXDEV, e.getMessage());
            assertThrows(ErrnoException.class, () -> proc.getattr(0, b("cwd/pom.xml"), true));
            assertThrows(ErrnoException.class, () -> proc.getattr(0, b("fd/0"), true));
        }
    }

    @Test
    void aSymlinkSwappedInDuringRequestsNeverLeadsOut() throws Exception {
        Path dir = Files.createDirectory(root.resolve("dir"));
        Files.writeString(dir.resolve("secret"), "inside");
        Path realDir = root.resolve("swap.dir");
        Files.move(dir, realDir);
        Files.createSymbolicLink(root.resolve("swap.link"), outside);
        Files.createSymbolicLink(root.resolve("swap.rel"), Path.of("../outside"));
        Path swap = root.resolve("swap");
        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger flips = new AtomicInteger();
        Thread swapper = new Thread(() -> {
            try {
                while (!stop.get()) {
                    // Alternate: the real directory, an absolute and a relative link out.
                    for (Path p : new Path[] {realDir, root.resolve("swap.link"), root.resolve("swap.rel")}) {
                        Path tmpLink = root.resolve("swap.tmp");
                        Files.deleteIfExists(tmpLink);
                        if (p.equals(realDir)) Files.createSymbolicLink(tmpLink, Path.of("swap.dir"));
                        else Files.createSymbolicLink(tmpLink, Files.readSymbolicLink(p));
                        Files.move(tmpLink, swap, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                        flips.incrementAndGet();
                    }
                }
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        swapper.start();
        int inside = 0;
        try {
            for (int i = 0; i < 3000; i++) {
                try {
                    String got = read("swap/secret");
                    assertNotEquals("SECRET", got, "read escaped the export");
                    assertEquals("inside", got);
                    inside++;
                } catch (ErrnoException e) {
                    assertTrue(e.errno() == Errno.ENOENT || e.errno() == Errno.EAGAIN || e.errno() == Errno.EXDEV, e.getMessage());
                }
                try {
                    Attr a = tree.getattr(0, b("swap/secret"), true);
                    assertEquals(6, a.getSize(), "same size as the outside secret: compare inodes");
                    assertNotEquals(Files.getAttribute(secret, "unix:ino"), a.getIno());
                } catch (ErrnoException e) {
                    // the link pointed out of the export at that moment
                }
                try {
                    tree.chmod(0, b("swap/secret"), 0644);
                } catch (ErrnoException e) {
                    // likewise
                }
            }
        } finally {
            stop.set(true);
            swapper.join();
        }
        assertTrue(flips.get() > 10, "the swapper ran: " + flips.get());
        assertTrue(inside > 0, "some requests found the directory");
    }

    @Test
    void changesWhoseDestinationEscapesStayInsideOrFail() throws Exception {
        Files.createSymbolicLink(root.resolve("mid"), outside);
        Files.createSymbolicLink(root.resolve("abs"), secret);
        Files.writeString(root.resolve("mine"), "mine");
        assertEquals(Errno.ENOENT, errnoOf(() -> tree.rename(0, b("mine"), 0, b("../outside/moved"), 0)));
        assertEquals(Errno.ENOENT, errnoOf(() -> tree.rename(0, b("mine"), 0, b("mid/moved"), 0)));
        assertEquals(Errno.ENOENT, errnoOf(() -> tree.link(0, b("mine"), 0, b("mid/hard"))));
        assertEquals(Errno.ENOENT, errnoOf(() -> tree.link(0, b("mid/secret"), 0, b("stolen"))));
        assertEquals(Errno.ENOENT, errnoOf(() -> tree.beginPut(0, b("mid/secret"), 0644)));
        assertEquals(Errno.ENOENT, errnoOf(() -> tree.mkdir(0, b("mid/newdir"), 0755)));
        assertEquals(Errno.ENOENT, errnoOf(() -> tree.symlink(0, b("mid/ln"), b("x"))));
        assertEquals(Errno.ENOENT, errnoOf(() -> tree.unlink(0, b("mid/secret"))));
        assertEquals(Errno.ENOENT, errnoOf(() -> tree.truncate(0, b("abs"), 0)));
        assertEquals(Errno.ENOENT, errnoOf(() -> tree.chmod(0, b("abs"), 0777)));
        assertEquals(Errno.ENOENT, errnoOf(() -> tree.utimes(0, b("abs"), 0, 0, 0, 0, true)));
        assertEquals(Errno.ENOENT, errnoOf(() -> tree.setxattr(0, b("abs"), b("user.x"), b("v"), 0, true)));
        assertEquals(Errno.ENOENT, errnoOf(() -> tree.chown(0, b("abs"), 0, 0, true)));
        assertEquals(Errno.ENOENT, errnoOf(() -> tree.statfs(0, b("mid/secret"))));
        assertEquals(Errno.ENOENT, errnoOf(() -> tree.create(0, b("mid/new"), 0644, false, false)));
        // Creating through a dangling absolute link never creates outside.
        Files.createSymbolicLink(root.resolve("dangling"), outside.resolve("created"));
        try {
            tree.create(0, b("dangling"), 0644, false, false);
        } catch (ErrnoException e) {
            // refused is fine too
        }
        // A put replacing the link itself replaces the link, not its target.
        HostTree.PutFile put = tree.beginPut(0, b("abs"), 0644);
        put.write(0, b("replaced"));
        put.commit(false);
        assertFalse(Files.isSymbolicLink(root.resolve("abs")));
        assertEquals("replaced", Files.readString(root.resolve("abs")));
        // Renaming the link itself moves the link.
        tree.rename(0, b("mid"), 0, b("inside/mid2"), 0);
        assertTrue(Files.isSymbolicLink(root.resolve("inside/mid2")));
    }

    @Test
    void hardLinksAlreadyInTheTreeAreTheUsersChoice() throws Exception {
        // Documented, not prevented: a hard link the user put in the rootfs is that file.
        Path linked = root.resolve("inside/linked");
        Files.createLink(linked, secret);
        try {
            assertEquals("SECRET", read("inside/linked"));
        } finally {
            Files.delete(linked);
        }
    }

    static int errnoOf(HostTreeTest.ThrowingRunnable r) {
        return assertThrows(ErrnoException.class, r::run).errno();
    }

    @Test
    void aNulByteCannotCutAPathShort() throws Exception {
        assertEquals(Errno.EINVAL, errnoOf(() -> tree.getattr(0, "inside/secret\0/../../x".getBytes(StandardCharsets.ISO_8859_1), true)));
        assertEquals(Errno.EINVAL, errnoOf(() -> tree.symlink(0, b("ln"), "a\0b".getBytes(StandardCharsets.ISO_8859_1))));
    }
}
