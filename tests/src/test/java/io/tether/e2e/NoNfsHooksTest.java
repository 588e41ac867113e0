package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The tracer's hooks over the real channel ("No NFS"): what a program changes in a tree that lives only
 * on the host reaches the host, with the syscall's own arguments: new entries (directory, FIFO,
 * symlink, hard link), renames and removals, modes, owners, times, sizes and xattrs, including the
 * attribute calls through an fd that the tracer traps only in such runs (fchmod on a read-only fd,
 * fchown, fsetxattr). tetherd runs in its own network and mount namespace, the rootfs hidden from it.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class NoNfsHooksTest {
    static GuestRootfs fs;
    static TargetHost target;

    @BeforeAll
    static void setUp() throws Exception {
        fs = GuestRootfs.build("nonfs-hooks", false);
        Path src = fs.dir.resolve("nonfs_hooks.c");
        try (InputStream in = NoNfsHooksTest.class.getResourceAsStream("/tracer-e2e/nonfs_hooks.c")) {
            Files.copy(in, src, StandardCopyOption.REPLACE_EXISTING);
        }
        fs.compile(src, "nonfs_hooks");
        Path w = Files.createDirectories(fs.root.resolve("w"));
        for (String name : new String[] {"hard", "old", "gone", "perm", "ro", "own", "fown", "times", "xa"}) {
            Files.writeString(w.resolve(name), name + "\n");
        }
        Files.writeString(w.resolve("trunc"), "abcdef");
        Files.createDirectories(w.resolve("gonedir"));
        target = TargetHost.setup("NoNfsHooksTest").hide(fs.dir).start();
        assertFalse(target.daemonSees(fs.root), "the daemon sees the rootfs " + fs.root);
    }

    @AfterAll
    static void tearDown() {
        if (target != null) target.close();
    }

    private static Object attr(Path p, String name) throws Exception {
        return Files.getAttribute(p, "unix:" + name, LinkOption.NOFOLLOW_LINKS);
    }

    private static String perms(Path p) throws Exception {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void everyChangeTheProgramMakesIsOnTheHostWithItsOwnArguments() throws Exception {
        Exec.Result r = target.run("/bin/nonfs_hooks").option("-r", fs.root.toString()).directory(fs.dir)
                .exec(Duration.ofMinutes(2));
        String out = r.out();
        assertEquals(0, r.exit(), r::toString);
        assertTrue(out.startsWith("mkdir ok\nmkfifo ok\nsymlink ok\nlink ok\nrename ok\nunlink ok\nrmdir ok\nchmod ok\n"
                + "fchmod read-only fd ok\nchown ok\nfchown ok\nutimensat ok\ntruncate ok\n"), r::toString);
        Path w = fs.root.resolve("w");
        assertTrue(Files.isDirectory(w.resolve("d"), LinkOption.NOFOLLOW_LINKS));
        assertEquals("rwxr-x---", perms(w.resolve("d")));
        assertEquals(0010000, (Integer) attr(w.resolve("fifo"), "mode") & 0170000, "a FIFO");
        assertEquals("rw-r-----", perms(w.resolve("fifo")));
        assertEquals(Path.of("target/x"), Files.readSymbolicLink(w.resolve("l")));
        assertEquals(attr(w.resolve("hard"), "ino"), attr(w.resolve("hard2"), "ino"), "a hard link, not a copy");
        assertEquals("old\n", Files.readString(w.resolve("new")));
        assertFalse(Files.exists(w.resolve("old"), LinkOption.NOFOLLOW_LINKS));
        assertFalse(Files.exists(w.resolve("gone"), LinkOption.NOFOLLOW_LINKS));
        assertFalse(Files.exists(w.resolve("gonedir"), LinkOption.NOFOLLOW_LINKS));
        assertEquals("rw----r--", perms(w.resolve("perm")));
        assertEquals("rw-------", perms(w.resolve("ro")), "fchmod on a read-only fd: no write-back carries it");
        assertEquals(1234, attr(w.resolve("own"), "uid"));
        assertEquals(5678, attr(w.resolve("own"), "gid"));
        assertEquals(4321, attr(w.resolve("fown"), "uid"));
        assertEquals(8765, attr(w.resolve("fown"), "gid"));
        assertEquals(1234567890L, Files.getLastModifiedTime(w.resolve("times"), LinkOption.NOFOLLOW_LINKS).to(TimeUnit.SECONDS));
        assertEquals("abc", Files.readString(w.resolve("trunc")));
        if (out.contains("\nsetxattr ok\n")) {
            assertEquals("setxattr ok\nfsetxattr ok\n", out.substring(out.indexOf("setxattr ok")), r::toString);
            UserDefinedFileAttributeView x = Files.getFileAttributeView(w.resolve("xa"), UserDefinedFileAttributeView.class);
            assertEquals(Map.of("tether", "yes", "fd", "1"), Map.of("tether", read(x, "tether"), "fd", read(x, "fd")));
        }
    }

    private static String read(UserDefinedFileAttributeView x, String name) throws Exception {
        ByteBuffer b = ByteBuffer.allocate(x.size(name));
        x.read(name, b);
        return new String(b.array(), StandardCharsets.UTF_8);
    }
}
