package io.tether.daemon.mirror;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tether.daemon.guest.FileKind;
import io.tether.daemon.guest.GuestView;
import io.tether.daemon.tracer.GuestLaunch;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A run's program search through a cold mirror (MirrorSession.listAhead from GuestLaunch): the directories
 * of the cwd and the PATH are asked for all at once, not one round trip after another, and the search
 * that follows is execvp's as before. Concurrency is shown by holding every listing's reply until all are
 * in flight, which one-after-another listings never reach.
 */
@Timeout(120)
class MirrorListAheadTest {
    private static final List<String> ENV = List.of("PATH=/opt/a/bin:/usr/local/bin:/usr/bin:/bin");

    @TempDir Path tmp;
    Path host;
    MirrorCache cache;
    DirectoryHostFiles files;
    MirrorSession s;

    @BeforeEach
    void setUp() throws Exception {
        host = Files.createDirectories(tmp.resolve("host"));
        Files.createDirectories(host.resolve("usr/local/bin/tool")); // not a regular file: the search goes on
        Files.createDirectories(host.resolve("usr/bin"));
        Files.writeString(host.resolve("usr/bin/tool"), "plain\n");
        Files.writeString(host.resolve("usr/bin/other"), "other\n");
        Files.createSymbolicLink(host.resolve("bin"), Path.of("usr/bin"));
        Files.createDirectories(host.resolve("home/u"));
        cache = MirrorCache.open(tmp.resolve("cache"), 1L << 30);
        files = new DirectoryHostFiles(host, "rootfs-1");
        s = cache.session(files);
    }

    @AfterEach
    void tearDown() {
        if (files != null) files.releaseReaddirs();
        if (s != null) s.close();
        if (cache != null) cache.close();
    }

    private String t(String rel) {
        return rel.isEmpty() ? s.rootHostPath() : s.rootHostPath() + "/" + rel;
    }

    private GuestView view() {
        return GuestView.builder(s.rootHostPath()).fileAccess(s).defaultBinds(false).build();
    }

    private void awaitWaiting(Set<String> rels, CompletableFuture<?> meanwhile) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!files.readdirsWaiting().containsAll(rels)) {
            if (meanwhile != null && meanwhile.isDone()) meanwhile.get(); // its failure, if it failed
            if (System.nanoTime() > end) {
                throw new AssertionError("listings in flight at once: " + quoted(files.readdirsWaiting()) + ", wanted "
                        + quoted(rels) + "; asked " + quoted(files.readdirsAsked()));
            }
            Thread.sleep(10);
        }
    }

    private static List<String> quoted(java.util.Collection<String> rels) {
        return rels.stream().map(r -> "'" + r + "'").sorted().toList();
    }

    @Test
    void theSearchesListingsAreInFlightAtOnceAndEachIsAskedForOnce() throws Exception {
        files.holdReaddirs();
        GuestView view = view();
        CompletableFuture<GuestLaunch.Launch> launch = CompletableFuture.supplyAsync(() -> {
            try {
                return GuestLaunch.prepare(view, "tool", List.of("tool"), ENV, "/home/u");
            } catch (ErrnoException e) {
                throw new RuntimeException(e);
            }
        });
        // The cwd's ancestors, and every PATH directory with its own; /opt is missing, /bin a symlink.
        awaitWaiting(Set.of("", "home", "opt", "opt/a", "opt/a/bin", "usr", "usr/local", "usr/local/bin", "usr/bin", "bin"), launch);
        files.releaseReaddirs();
        GuestLaunch.Launch l = launch.get(60, TimeUnit.SECONDS);
        assertEquals("/usr/bin/tool", l.guestProgram(), "the first regular file on the PATH, as before");
        assertEquals(t("usr/bin/tool"), l.hostProgram());
        assertEquals(t("home/u"), l.hostCwd());
        List<String> asked = files.readdirsAsked();
        assertEquals(new HashSet<>(asked).size(), asked.size(), "a listing asked for ahead is not asked for again: " + asked);
        // The listing applied ahead is lazy as any rewrite-mode listing: names noted, made when looked up.
        assertTrue(cache.tree("rootfs-1").entries.containsKey("usr/bin/other"));
        assertFalse(Files.exists(Path.of(t("usr/bin/other")), LinkOption.NOFOLLOW_LINKS));
        assertEquals(FileKind.REGULAR, s.kind(t("usr/bin/other")));
        assertEquals(asked, files.readdirsAsked(), "no listing to look a name up in a directory listed ahead");
    }

    @Test
    void aNameOnNoPathDirectoryIsEnoentAfterTheListingsAhead() throws Exception {
        ErrnoException e = assertThrows(ErrnoException.class,
                () -> GuestLaunch.prepare(view(), "nope", List.of("nope"), ENV, "/"));
        assertEquals(Errno.ENOENT, e.errno());
        List<String> asked = files.readdirsAsked();
        assertEquals(new HashSet<>(asked).size(), asked.size(), "each directory listed once: " + asked);
    }

    @Test
    void aHostChangeWhileAListingAheadIsOnItsWayIsNotLost() throws Exception {
        files.holdReaddirs();
        s.listAhead(List.of(t(""), t("usr"), t("usr/bin")));
        awaitWaiting(Set.of("", "usr", "usr/bin"), null);
        // Read before the change, answered after it: applying that listing would hide the new file.
        Files.writeString(host.resolve("usr/bin/late"), "late\n");
        files.pushNow(0, "usr/bin/late");
        files.releaseReaddirs();
        assertEquals(FileKind.REGULAR, s.kind(t("usr/bin/late")));
    }

    @Test
    void aDirectoryTheListedParentLacksIsNotAskedFor() throws Exception {
        assertEquals(FileKind.DIRECTORY, s.kind(t("usr/local"))); // / and /usr listed
        List<String> before = files.readdirsAsked();
        s.listAhead(List.of(t("opt"), t("bin"), t("usr/nope"), t("usr/nope/bin"), t("opt/x/y/bin")));
        s.listAhead(List.of(t("usr/bin")));
        assertEquals(FileKind.REGULAR, s.kind(t("usr/bin/tool")));
        List<String> asked = files.readdirsAsked();
        assertEquals(before.size() + 1, asked.size(), "only usr/bin: " + asked);
        assertEquals("usr/bin", asked.get(asked.size() - 1));
    }
}
