package io.tether.daemon.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GuestViewTest {
    @TempDir Path tmp;
    Path rootfs;
    Path outside;
    Path glue;
    GuestView view;
    final ProcessIds self = new ProcessIds((int) ProcessHandle.current().pid(), (int) ProcessHandle.current().pid());

    @BeforeEach
    void rootfs() throws IOException {
        rootfs = Files.createDirectories(tmp.resolve("rootfs"));
        outside = Files.createDirectories(tmp.resolve("outside"));
        glue = tmp.resolve("glue");
        Files.createDirectories(rootfs.resolve("etc"));
        Files.writeString(rootfs.resolve("etc/passwd"), "guest\n");
        Files.createDirectories(rootfs.resolve("dir/sub"));
        Files.writeString(rootfs.resolve("dir/file"), "f");
        Files.createSymbolicLink(rootfs.resolve("abs"), Path.of("/etc"));
        Files.createSymbolicLink(rootfs.resolve("rel"), Path.of("dir/sub"));
        Files.createSymbolicLink(rootfs.resolve("up"), Path.of("../../../../../etc"));
        Files.createSymbolicLink(rootfs.resolve("loop1"), Path.of("loop2"));
        Files.createSymbolicLink(rootfs.resolve("loop2"), Path.of("/loop1"));
        Files.createSymbolicLink(rootfs.resolve("dangling"), Path.of("/nonexistent"));
        Files.createSymbolicLink(rootfs.resolve("filelink"), Path.of("/dir/file"));
        Files.createSymbolicLink(rootfs.resolve("empty-target-dir"), Path.of("dir/"));
        // c0 -> c1 -> ... -> c40 -> /etc/passwd: resolving c1 follows 40 links, c0 follows 41.
        Files.createSymbolicLink(rootfs.resolve("c40"), Path.of("/etc/passwd"));
        for (int i = 39; i >= 0; i--) Files.createSymbolicLink(rootfs.resolve("c" + i), Path.of("c" + (i + 1)));
        Files.writeString(outside.resolve("secret"), "host\n");
        Files.createSymbolicLink(outside.resolve("abslink"), Path.of("/etc/passwd"));
        view = GuestView.builder(rootfs.toString())
                .bind(new Bind(outside.toString(), "/mnt/out"))
                .glueDir(glue.toString())
                .build();
    }

    private String host(String relative) {
        return rootfs.resolve(relative).toString();
    }

    private Resolved follow(String guestPath) throws ErrnoException {
        return view.resolve("/", guestPath, true, self);
    }

    private Resolved nofollow(String guestPath) throws ErrnoException {
        return view.resolve("/", guestPath, false, self);
    }

    private static int errno(org.junit.jupiter.api.function.Executable call) {
        return assertThrows(ErrnoException.class, call).errno();
    }

    @Test
    void absoluteSymlinkTargetsResolveInsideTheGuestRoot() throws Exception {
        Resolved r = follow("/abs/passwd");
        assertEquals(host("etc/passwd"), r.hostPath());
        assertEquals("/etc/passwd", r.guestPath());
        assertEquals(FileKind.REGULAR, r.kind());
    }

    @Test
    void dotDotStopsAtTheGuestRootLexicallyAndThroughSymlinks() throws Exception {
        assertEquals(host("etc/passwd"), follow("/../../../etc/passwd").hostPath());
        assertEquals(host("etc/passwd"), follow("/up/passwd").hostPath());
        assertEquals(host("etc/passwd"), view.resolve("/dir/sub", "../../../../etc/passwd", true, self).hostPath());
    }

    @Test
    void symlinkLoopsGiveEloop() {
        assertEquals(Errno.ELOOP, errno(() -> follow("/loop1")));
        assertEquals(Errno.ELOOP, errno(() -> nofollow("/loop1/x")));
    }

    @Test
    void fortyLinksResolveAndTheFortyFirstGivesEloop() throws Exception {
        assertEquals(host("etc/passwd"), follow("/c1").hostPath());
        assertEquals(Errno.ELOOP, errno(() -> follow("/c0")));
        assertEquals(FileKind.SYMLINK, nofollow("/c0").kind());
    }

    @Test
    void aNonDirectoryInTheMiddleGivesEnotdir() {
        assertEquals(Errno.ENOTDIR, errno(() -> follow("/dir/file/x")));
        assertEquals(Errno.ENOTDIR, errno(() -> follow("/dir/file/..")));
        assertEquals(Errno.ENOTDIR, errno(() -> follow("/dir/file/.")));
        assertEquals(Errno.ENOTDIR, errno(() -> follow("/dir/file/")));
        assertEquals(Errno.ENOTDIR, errno(() -> nofollow("/filelink/")));
    }

    @Test
    void aMissingDirectoryInTheMiddleGivesEnoent() {
        assertEquals(Errno.ENOENT, errno(() -> follow("/missing/x")));
        assertEquals(Errno.ENOENT, errno(() -> follow("/missing/..")));
        assertEquals(Errno.ENOENT, errno(() -> follow("")));
    }

    @Test
    void finalSymlinkIsKeptWithNofollowAndFollowedWithATrailingSlash() throws Exception {
        Resolved link = nofollow("/rel");
        assertEquals(FileKind.SYMLINK, link.kind());
        assertEquals(host("rel"), link.hostPath());
        Resolved dir = nofollow("/rel/");
        assertEquals(FileKind.DIRECTORY, dir.kind());
        assertEquals(host("dir/sub") + "/", dir.hostPath());
        assertEquals("/dir/sub", dir.guestPath());
    }

    @Test
    void missingFinalComponentResolvesForCreation() throws Exception {
        Resolved r = follow("/dir/new");
        assertFalse(r.exists());
        assertEquals(host("dir/new"), r.hostPath());
        Resolved viaDangling = follow("/dangling");
        assertFalse(viaDangling.exists());
        assertEquals(host("nonexistent"), viaDangling.hostPath());
        assertEquals(host("dir/newdir") + "/", follow("/dir/newdir/").hostPath());
    }

    @Test
    void relativePathsStartAtTheBaseDirectory() throws Exception {
        assertEquals(host("dir/file"), view.resolve("/dir", "sub/../file", true, self).hostPath());
        assertEquals(host("dir/sub"), view.resolve("/dir", "./sub", true, self).hostPath());
        assertEquals(host("dir/sub") + "/.", view.resolve("/dir/sub", ".", true, self).hostPath());
    }

    @Test
    void overlongNamesGiveEnametoolong() {
        assertEquals(Errno.ENAMETOOLONG, errno(() -> follow("/dir/" + "x".repeat(256))));
        assertEquals(Errno.ENAMETOOLONG, errno(() -> follow("/" + "a/".repeat(2048))));
    }

    @Test
    void bindsOntoMissingGuestLocationsAppearWithGlueParents() throws Exception {
        assertEquals(outside.resolve("secret").toString(), follow("/mnt/out/secret").hostPath());
        Resolved mnt = follow("/mnt");
        assertEquals(FileKind.DIRECTORY, mnt.kind());
        assertTrue(Files.isDirectory(Path.of(mnt.hostPath(), "out")), "glue lists the bind");
        assertEquals(host("etc/passwd"), follow("/mnt/out/../../etc/passwd").hostPath());
    }

    @Test
    void symlinksInsideABindResolveInTheGuest() throws Exception {
        assertEquals(host("etc/passwd"), follow("/mnt/out/abslink").hostPath());
    }

    @Test
    void hostPathsMapBackToGuestPaths() {
        assertEquals(Optional.of("/etc/passwd"), view.toGuest(host("etc/passwd")));
        assertEquals(Optional.of("/"), view.toGuest(rootfs.toString()));
        assertEquals(Optional.of("/mnt/out/secret"), view.toGuest(outside.resolve("secret").toString()));
        assertEquals(Optional.of("/proc/1/status"), view.toGuest("/proc/1/status"));
        assertEquals(Optional.empty(), view.toGuest(tmp.resolve("elsewhere").toString()));
    }

    @Test
    void procSelfIsTheTraceeAndItsMagicLinksShowGuestPaths() throws Exception {
        ProcessIds other = new ProcessIds(self.pid(), self.tid());
        assertEquals("/proc/" + self.pid(), follow("/proc/self").guestPath());
        assertEquals(host("etc/passwd"), view.resolve("/", "/proc/self/root/etc/passwd", true, other).hostPath());
        try (FileChannel ch = FileChannel.open(rootfs.resolve("etc/passwd"))) {
            String fdLink = null;
            try (var fds = Files.list(Path.of("/proc/self/fd"))) {
                for (Path fd : (Iterable<Path>) fds::iterator) {
                    try {
                        if (Files.readSymbolicLink(fd).toString().equals(host("etc/passwd"))) fdLink = fd.getFileName().toString();
                    } catch (IOException gone) {
                        // the directory stream's own fd
                    }
                }
            }
            Resolved link = nofollow("/proc/self/fd/" + fdLink);
            assertEquals(FileKind.SYMLINK, link.kind());
            assertEquals("/etc/passwd", view.readlink(link, self));
            assertEquals(host("etc/passwd"), follow("/proc/self/fd/" + fdLink).hostPath());
        }
        assertEquals("/", view.readlink(nofollow("/proc/self/root"), self));
        assertEquals(Integer.toString(self.pid()), view.readlink(nofollow("/proc/self"), self));
    }

    @Test
    void procFdLinksToDeletedFilesAreLeftToTheKernel() throws Exception {
        Path doomed = Files.writeString(rootfs.resolve("dir/doomed"), "x");
        try (FileChannel ch = FileChannel.open(doomed)) {
            String fd = null;
            try (var fds = Files.list(Path.of("/proc/self/fd"))) {
                for (Path p : (Iterable<Path>) fds::iterator) {
                    try {
                        if (Files.readSymbolicLink(p).toString().equals(doomed.toString())) fd = p.getFileName().toString();
                    } catch (IOException gone) {
                        // the listing's own fd
                    }
                }
            }
            Files.delete(doomed);
            Resolved r = follow("/proc/self/fd/" + fd);
            assertTrue(r.opaque());
            assertEquals("/proc/" + self.pid() + "/fd/" + fd, r.hostPath());
            assertEquals("/dir/doomed (deleted)", view.readlink(nofollow("/proc/self/fd/" + fd), self));
        }
    }

    @Test
    void ordinarySymlinksReadBackAsStored() throws Exception {
        assertEquals("/etc", view.readlink(nofollow("/abs"), self));
        assertEquals(Errno.EINVAL, errno(() -> view.readlink(nofollow("/etc/passwd"), self)));
    }

    @Test
    void defaultTargetBindsCanBeTurnedOff() {
        GuestView bare = GuestView.builder(rootfs.toString()).defaultBinds(false).build();
        assertEquals(host("proc"), bare.toHost("/proc"));
        assertEquals("/dev/null", view.toHost("/dev/null"));
        assertEquals(Errno.ENOENT, errno(() -> bare.resolve("/", "/dev/null", true, self)));
    }

    @Test
    void errorsOfTheFileAccessKeepTheirErrno() {
        GuestFileAccess denied = new GuestFileAccess() {
            @Override public FileKind kind(String hostPath) throws ErrnoException {
                if (hostPath.endsWith("/etc")) return FileKind.DIRECTORY;
                throw new ErrnoException(Errno.EACCES, "lstat", hostPath);
            }
            @Override public String readlink(String hostPath) throws ErrnoException {
                throw new ErrnoException(Errno.EINVAL, "readlink", hostPath);
            }
            @Override public byte[] read(String hostPath, long offset, int length) throws ErrnoException {
                throw new ErrnoException(Errno.EACCES, "open", hostPath);
            }
            @Override public void createDirectories(String hostPath) {}
        };
        GuestView v = GuestView.builder(rootfs.toString()).fileAccess(denied).build();
        assertEquals(Errno.EACCES, errno(() -> v.resolve("/", "/etc/shadow", true, self)));
    }

    @Test
    void renamesBetweenBindsCanBeToldApart() throws Exception {
        assertEquals("/mnt/out", view.mountOf(follow("/mnt/out/secret").guestPath()));
        assertEquals("/", view.mountOf(follow("/etc/passwd").guestPath()));
        assertEquals("/", view.mountOf("/mnt"));
    }

    @Test
    void fileHeadsAreReadThroughTheAccessInterface() throws Exception {
        assertEquals("gue", new String(LocalFileAccess.INSTANCE.read(host("etc/passwd"), 0, 3)));
        assertEquals("st\n", new String(LocalFileAccess.INSTANCE.read(host("etc/passwd"), 3, 100)));
        assertEquals(Errno.ENOENT, errno(() -> LocalFileAccess.INSTANCE.read(host("nope"), 0, 3)));
    }

    @Test
    void openat2RestrictionsApplyToTheGuestTree() throws Exception {
        int noXdev = GuestView.RESOLVE_NO_XDEV, noMagic = GuestView.RESOLVE_NO_MAGICLINKS;
        assertEquals(Errno.EXDEV, errno(() -> view.resolve("/", "/mnt/out/secret", true, self, noXdev)));
        assertEquals(Errno.EXDEV, errno(() -> view.resolve("/mnt/out", "../../etc/passwd", true, self, noXdev)));
        assertEquals(host("etc/passwd"), view.resolve("/", "/abs/passwd", true, self, noXdev).hostPath());
        assertEquals(Errno.ELOOP, errno(() -> view.resolve("/", "/proc/self/root/etc", true, self, noMagic)));
        assertEquals("/proc/" + self.pid() + "/status", view.resolve("/", "/proc/self/status", true, self, noMagic).guestPath());
        assertEquals(host("dir/file"), view.resolve("/dir", "/file", true, self, GuestView.RESOLVE_IN_ROOT).hostPath());
        assertEquals(host("dir/sub"), view.resolve("/dir", "../../sub", true, self, GuestView.RESOLVE_IN_ROOT).hostPath());
        assertEquals(Errno.EXDEV, errno(() -> view.resolve("/dir", "sub/../..", true, self, GuestView.RESOLVE_BENEATH)));
    }

    @Test
    void symlinkedRootsAndBindsMapBackFromCanonicalHostPaths() throws Exception {
        Path rootLink = Files.createSymbolicLink(tmp.resolve("rootlink"), rootfs);
        Path outLink = Files.createSymbolicLink(tmp.resolve("outlink"), outside);
        GuestView v = GuestView.builder(rootLink.toString()).bind(new Bind(outLink.toString(), "/o")).build();
        assertEquals(Optional.of("/dir/sub"), v.toGuest(rootfs.resolve("dir/sub").toRealPath().toString()));
        assertEquals(Optional.of("/o/secret"), v.toGuest(outside.resolve("secret").toRealPath().toString()));
    }

    @Test
    void bindSpecsParse() throws Exception {
        assertEquals(new Bind("/a/b", "/a/b"), Bind.parse("/a/b"));
        assertEquals(new Bind("/a", "/x/y"), Bind.parse("/a/:/x//y/"));
        assertEquals(Errno.EINVAL, errno(() -> Bind.parse("rel:/x")));
        assertEquals(Errno.EINVAL, errno(() -> Bind.parse("/a:")));
    }
}
