package io.tether.client.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tether.daemon.files.HostFiles;
import io.tether.daemon.files.RemoteHostFiles;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.FilesOpen;
import io.tether.protocol.proto.StreamOpen;
import io.tether.protocol.transport.BytePipe;
import io.tether.protocol.transport.Transport;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Watches kept between runs: successive file servers (runs) on one {@link ResidentWatch} announce one
 * epoch, and a run's daemon learns what changed on the host since the last run in one request.
 */
@Timeout(60)
class ResidentWatchTest {
    @TempDir Path tmp;
    Path root;
    Mux host;
    Mux target;
    final LinkedBlockingQueue<Object[]> accepted = new LinkedBlockingQueue<>();

    @BeforeEach
    void setUp() throws Exception {
        root = Files.createDirectory(tmp.resolve("rootfs"));
        Files.createDirectories(root.resolve("etc"));
        Files.writeString(root.resolve("etc/conf"), "one\n");
        Transport[] t = BytePipe.duplex(256 * 1024);
        MuxConfig config = MuxConfig.defaults("test").withHelloTimeout(Duration.ofSeconds(10));
        target = Mux.start(t[1], Mux.Role.SERVER, config, (stream, open) -> accepted.add(new Object[] {stream, open.getFiles()}));
        host = Mux.start(t[0], Mux.Role.CLIENT, config, null);
        host.awaitReady();
        target.awaitReady();
    }

    @AfterEach
    void tearDown() {
        host.close();
        target.close();
    }

    /** One run: a server on {@code watch} and the daemon's end of its stream. */
    private record Run(FileServer server, HostFiles files, FilesOpen open) implements AutoCloseable {
        long epoch() {
            return open.getWatchEpoch();
        }

        @Override
        public void close() {
            server.close();
        }
    }

    private Run run(ResidentWatch watch) throws Exception {
        FileServer server = FileServer.open(List.of(new FileExport(root, "/", false)), FileServer.Options.DEFAULTS, watch);
        server.serve(host.open(StreamOpen.newBuilder().setFiles(server.filesOpen()).build()));
        Object[] a = accepted.poll(10, TimeUnit.SECONDS);
        FilesOpen open = (FilesOpen) a[1];
        return new Run(server, RemoteHostFiles.open((MuxStream) a[0], open), open);
    }

    private static Set<String> changes(Run r) throws ErrnoException {
        return new TreeSet<>(r.files().changes(0));
    }

    @Test
    void aLaterRunLearnsWhatChangedInWatchedDirectoriesSinceTheLastOne() throws Exception {
        try (ResidentWatch watch = ResidentWatch.start(FileServer.DEFAULT_MAX_WATCHES)) {
            long epoch;
            try (Run first = run(watch)) {
                epoch = first.epoch();
                assertNotEquals(0, epoch);
                first.files().readdir(0, "etc"); // watched from now on
                first.files().readdir(0, "");
            }
            Files.writeString(root.resolve("etc/conf"), "two\n");
            Files.writeString(root.resolve("etc/new"), "new\n");
            Files.createDirectory(root.resolve("var"));
            try (Run second = run(watch)) {
                assertEquals(epoch, second.epoch(), "no gap: the same epoch");
                Set<String> seen = new TreeSet<>();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (!seen.containsAll(Set.of("etc/conf", "etc/new", "var")) && System.nanoTime() < deadline) {
                    seen.addAll(changes(second)); // the watch service reports with a delay
                    Thread.sleep(20);
                }
                assertTrue(seen.containsAll(Set.of("etc/conf", "etc/new", "var")), seen::toString);
                assertEquals(Set.of(), changes(second), "each change is told once");
            }
            // Each change comes with what the host holds there when told (gone: no attributes).
            Files.delete(root.resolve("etc/new"));
            try (Run third = run(watch)) {
                HostFiles.Changed gone = null;
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (gone == null && System.nanoTime() < deadline) {
                    for (HostFiles.Changed c : third.files().changesNow(0)) if (c.rel().equals("etc/new")) gone = c;
                    Thread.sleep(20);
                }
                assertNotNull(gone, "etc/new's removal journaled");
                assertTrue(gone.known());
                assertNull(gone.now());
                Files.writeString(root.resolve("etc/conf"), "three\n");
                HostFiles.Changed conf = null;
                deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (conf == null && System.nanoTime() < deadline) {
                    for (HostFiles.Changed c : third.files().changesNow(0)) if (c.rel().equals("etc/conf")) conf = c;
                    Thread.sleep(20);
                }
                assertNotNull(conf, "etc/conf's rewrite journaled");
                assertEquals(third.files().getattr(0, "etc/conf", false), conf.now());
            }
        }
    }

    /** Waits until {@code watch} has journaled at least {@code n} changes (the watch service reports with a delay). */
    private static void awaitJournaled(ResidentWatch watch, int n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (watch.journaled() < n && System.nanoTime() < deadline) Thread.sleep(10);
        assertTrue(watch.journaled() >= n, "journaled: " + watch.journaled());
    }

    @Test
    void theOpenOfARunEnclosesWhatChangedSoItsDaemonNeedNotAsk() throws Exception {
        try (ResidentWatch watch = ResidentWatch.start(FileServer.DEFAULT_MAX_WATCHES)) {
            try (Run first = run(watch)) {
                first.files().readdir(0, "etc");
                assertTrue(first.open().getChangesEnclosed());
                assertEquals(0, first.open().getChangesCount(), "a new epoch: nothing changed yet");
            }
            Files.writeString(root.resolve("etc/conf"), "two\n");
            awaitJournaled(watch, 1);
            try (Run second = run(watch)) {
                assertTrue(second.open().getChangesEnclosed());
                assertEquals(0, watch.journaled(), "the open took the journal");
                HostFiles.Changed conf = second.files().changesNow(0).stream()
                        .filter(c -> c.rel().equals("etc/conf")).findFirst().orElseThrow();
                io.tether.daemon.files.HostAttr now = second.files().getattr(0, "etc/conf", false);
                assertEquals(now, conf.now(), "with what the host holds there");
                // Answered by the open, not by a request: it holds with the client's server gone.
                second.server().close();
                try (Run third = run(watch)) {
                    third.server().close();
                    assertEquals(List.of(), third.files().changesNow(0));
                    assertEquals(Errno.EIO, assertThrows(ErrnoException.class, () -> third.files().changesNow(0)).errno(),
                            "a second ask is a request");
                }
            }
        }
    }

    @Test
    void aChangeBetweenTheOpenAndServingIsPushedToTheRunWhoseOpenCameBeforeIt() throws Exception {
        try (ResidentWatch watch = ResidentWatch.start(FileServer.DEFAULT_MAX_WATCHES)) {
            try (Run first = run(watch)) {
                first.files().readdir(0, "etc");
            }
            FileServer server = FileServer.open(List.of(new FileExport(root, "/", false)), FileServer.Options.DEFAULTS, watch);
            try (server) {
                FilesOpen open = server.filesOpen();
                assertTrue(open.getChangesEnclosed());
                Files.writeString(root.resolve("etc/late"), "late\n"); // after the journal went with the open
                awaitJournaled(watch, 1);
                server.serve(host.open(StreamOpen.newBuilder().setFiles(open).build()));
                Object[] a = accepted.poll(10, TimeUnit.SECONDS);
                RemoteHostFiles files = RemoteHostFiles.open((MuxStream) a[0], (FilesOpen) a[1]);
                assertEquals(List.of(), files.changesNow(0), "not in the enclosed journal");
                Thread.sleep(200); // the push arrives before the daemon listens: kept for its listener
                LinkedBlockingQueue<String> pushed = new LinkedBlockingQueue<>();
                files.onChanged((export, c) -> pushed.add(c.rel()));
                assertEquals("etc/late", pushed.poll(10, TimeUnit.SECONDS));
            }
        }
    }

    @Test
    void aGapInWatchingIsEstaleAndANewEpoch() throws Exception {
        try (ResidentWatch watch = ResidentWatch.start(1)) {
            long epoch;
            try (Run first = run(watch)) {
                epoch = first.epoch();
                first.files().readdir(0, "");
                assertEquals(Set.of(), changes(first), "a new epoch: nothing journaled (answered by the open)");
                first.files().readdir(0, "etc"); // over the limit of one watched directory
                assertEquals(Errno.ESTALE, assertThrows(ErrnoException.class, () -> first.files().changes(0)).errno());
            }
            try (Run second = run(watch)) {
                assertNotEquals(epoch, second.epoch());
                assertEquals(Set.of(), changes(second));
            }
        }
    }

    @Test
    void aServerWithoutResidentWatchesAnnouncesNoEpochAndCannotTell() throws Exception {
        try (Run r = run(null)) {
            assertEquals(0, r.epoch());
            assertEquals(Errno.ESTALE, assertThrows(ErrnoException.class, () -> r.files().changes(0)).errno());
        }
    }
}
