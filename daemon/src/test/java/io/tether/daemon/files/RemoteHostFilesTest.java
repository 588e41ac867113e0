package io.tether.daemon.files;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.Attr;
import io.tether.protocol.proto.DirEntries;
import io.tether.protocol.proto.DirEntry;
import io.tether.protocol.proto.Export;
import io.tether.protocol.proto.FileReply;
import io.tether.protocol.proto.FileRequest;
import io.tether.protocol.proto.FilesOpen;
import io.tether.protocol.proto.Invalidate;
import io.tether.protocol.proto.ReadChunk;
import io.tether.protocol.proto.ResetCode;
import io.tether.protocol.proto.StreamOpen;
import io.tether.protocol.transport.BytePipe;
import io.tether.protocol.transport.Transport;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The daemon's stub against a hand-written client peer: ids, replies out of order, chunking, pushes, loss. */
@Timeout(30)
class RemoteHostFilesTest {
    @TempDir Path tmp;
    Mux host;
    Mux target;
    /** The client's end: the test reads FileRequests from it and answers by hand. */
    MuxStream peer;
    RemoteHostFiles files;
    ExecutorService callers = Executors.newCachedThreadPool();

    @BeforeEach
    void setUp() throws Exception {
        Transport[] t = BytePipe.duplex(1 << 18);
        MuxConfig config = MuxConfig.defaults("test").withHelloTimeout(Duration.ofSeconds(10));
        CompletableFuture<RemoteHostFiles> opened = new CompletableFuture<>();
        target = Mux.start(t[1], Mux.Role.SERVER, config, (s, open) -> opened.complete(RemoteHostFiles.open(s, open.getFiles())));
        host = Mux.start(t[0], Mux.Role.CLIENT, config, null);
        host.awaitReady();
        peer = host.open(StreamOpen.newBuilder().setFiles(FilesOpen.newBuilder().setHostArch("aarch64")
                .addExports(Export.newBuilder().setId(0).setGuestPath(ByteString.copyFromUtf8("/")).setCacheKey("k0"))
                .addExports(Export.newBuilder().setId(1).setGuestPath(ByteString.copyFromUtf8("/src")).setReadOnly(true)
                        .setCacheKey("k1"))).build());
        files = opened.get(5, TimeUnit.SECONDS);
    }

    @AfterEach
    void tearDown() {
        callers.shutdownNow();
        host.close();
        target.close();
    }

    FileRequest next() throws Exception {
        return peer.receive(FileRequest.parser());
    }

    static Attr attr(long size) {
        return Attr.newBuilder().setMode(0100644).setSize(size).setIno(7).build();
    }

    /** A local write's full disk keeps its errno (the cache makes room for ENOSPC and EDQUOT); anything else is EIO. */
    @Test
    void aLocalWritesFullDiskIsEnospc() {
        assertEquals(Errno.ENOSPC, RemoteHostFiles.localErrno(new java.io.IOException("No space left on device")));
        assertEquals(Errno.EDQUOT, RemoteHostFiles.localErrno(new java.io.IOException("Disk quota exceeded")));
        assertEquals(Errno.EIO, RemoteHostFiles.localErrno(new java.io.IOException("Input/output error")));
        assertEquals(Errno.EIO, RemoteHostFiles.localErrno(new java.io.IOException()));
    }

    @Test
    void exportsAndArchComeFromTheFilesOpen() {
        assertEquals(List.of(new HostExport(0, "/", false, "k0"), new HostExport(1, "/src", true, "k1")), files.exports());
        assertEquals("aarch64", files.hostArch());
    }

    @Test
    void repliesInAnyOrderReachTheirCallers() throws Exception {
        Future<HostAttr> a = callers.submit(() -> files.getattr(0, "a", true));
        FileRequest ra = next();
        Future<HostAttr> b = callers.submit(() -> files.getattr(0, "b", false));
        FileRequest rb = next();
        assertTrue(ra.getId() != rb.getId() && ra.getId() != 0 && rb.getId() != 0);
        assertEquals("a", ra.getRel().toStringUtf8());
        assertTrue(ra.getGetattr().getFollow());
        assertEquals("b", rb.getRel().toStringUtf8());
        peer.send(FileReply.newBuilder().setId(rb.getId()).setAttr(attr(2)).build());
        peer.send(FileReply.newBuilder().setId(ra.getId()).setErrno(Errno.ENOENT).build());
        assertEquals(2, b.get(5, TimeUnit.SECONDS).size());
        ErrnoException e = (ErrnoException) assertThrows(java.util.concurrent.ExecutionException.class, () -> a.get(5, TimeUnit.SECONDS))
                .getCause();
        assertEquals(Errno.ENOENT, e.errno());
    }

    @Test
    void aListingInSeveralRepliesIsJoined() throws Exception {
        Future<HostListing> f = callers.submit(() -> files.readdir(0, "usr"));
        FileRequest r = next();
        assertTrue(r.hasReaddir());
        peer.send(FileReply.newBuilder().setId(r.getId()).setMore(true).setEntries(DirEntries.newBuilder()
                .addEntries(DirEntry.newBuilder().setName(ByteString.copyFromUtf8("lib")).setAttr(Attr.newBuilder().setMode(0120777))
                        .setLinkTarget(ByteString.copyFromUtf8("../lib"))))
                .build());
        peer.send(FileReply.newBuilder().setId(r.getId()).setEntries(DirEntries.newBuilder()
                .addEntries(DirEntry.newBuilder().setName(ByteString.copyFromUtf8("bin")).setAttr(Attr.newBuilder().setMode(040755)))
                .setDirAttr(Attr.newBuilder().setMode(040755).setIno(9))).build());
        HostListing l = f.get(5, TimeUnit.SECONDS);
        assertEquals(List.of("lib", "bin"), l.entries().stream().map(HostDirEntry::name).toList());
        assertEquals("../lib", l.entries().get(0).linkTarget());
        assertEquals(null, l.entries().get(1).linkTarget());
        assertEquals(9, l.dir().ino());
    }

    @Test
    void aFetchWritesChunksAtTheirOffsetsAndReturnsTheReadAttributes() throws Exception {
        Path local = tmp.resolve("local");
        Future<HostAttr> f = callers.submit(() -> files.fetch(0, "bin/sh", local));
        FileRequest r = next();
        assertEquals(0, r.getRead().getOffset());
        assertEquals(0, r.getRead().getLength(), "the whole file");
        peer.send(FileReply.newBuilder().setId(r.getId()).setMore(true)
                .setChunk(ReadChunk.newBuilder().setOffset(0).setData(ByteString.copyFromUtf8("abc"))).build());
        peer.send(FileReply.newBuilder().setId(r.getId()).setReadAttr(attr(6))
                .setChunk(ReadChunk.newBuilder().setOffset(3).setData(ByteString.copyFromUtf8("def"))).build());
        assertEquals(6, f.get(5, TimeUnit.SECONDS).size());
        assertEquals("abcdef", Files.readString(local));
    }

    @Test
    void aPutIsSentInChunksWithTheModeFirstAndSyncLast() throws Exception {
        byte[] data = new byte[150_000];
        new java.util.Random(3).nextBytes(data);
        Path local = Files.write(tmp.resolve("out"), data);
        Future<HostAttr> f = callers.submit(() -> files.put(0, "usr/out", local, 0755, false, true));
        List<FileRequest> parts = new ArrayList<>();
        ByteArrayOutputStream joined = new ByteArrayOutputStream();
        do {
            FileRequest r = next();
            parts.add(r);
            assertTrue(r.getPut().getData().size() <= RemoteHostFiles.PUT_CHUNK);
            assertEquals(joined.size(), r.getPut().getOffset());
            r.getPut().getData().writeTo(joined);
        } while (!parts.get(parts.size() - 1).getPut().getLast());
        assertEquals(3, parts.size());
        assertTrue(parts.stream().allMatch(p -> p.getId() == parts.get(0).getId()), "one request id");
        assertEquals(0755, parts.get(0).getPut().getMode());
        assertEquals("usr/out", parts.get(0).getRel().toStringUtf8());
        assertTrue(parts.get(1).getRel().isEmpty(), "the rel only once");
        assertTrue(parts.get(2).getPut().getSync());
        assertArrayEquals(data, joined.toByteArray());
        peer.send(FileReply.newBuilder().setId(parts.get(0).getId()).setAttr(attr(data.length)).build());
        assertEquals(data.length, f.get(5, TimeUnit.SECONDS).size());
    }

    @Test
    void pushedInvalidationsReachTheListener() throws Exception {
        BlockingQueue<String> seen = new LinkedBlockingQueue<>();
        files.onInvalidate((export, rel) -> seen.add(export + ":" + rel));
        peer.send(FileReply.newBuilder().setId(0).setInvalidate(Invalidate.newBuilder().setExport(1).setRel(ByteString.copyFrom(
                new byte[] {'c', (byte) 0xe9}))).build());
        assertEquals("1:c\u00e9", seen.poll(5, TimeUnit.SECONDS), "rel bytes one char each");
    }

    @Test
    void aReplyIsNotTakenAheadOfAPushThatCameBeforeIt() throws Exception {
        // Replies that only fill memory are completed on the mux's reader thread, pushes are handed to the
        // stream's reader thread: a reply behind a push must still wait for it (a listing never overtakes
        // the invalidation the client sent before it).
        CountDownLatch replyRead = new CountDownLatch(1);
        CompletableFuture<Integer> inFlightAtPush = new CompletableFuture<>();
        files.onInvalidate((export, rel) -> {
            try {
                replyRead.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            inFlightAtPush.complete(files.inFlight());
        });
        Future<HostAttr> call = callers.submit(() -> files.getattr(0, "a", true));
        FileRequest r = next();
        peer.send(FileReply.newBuilder().setId(0).setInvalidate(Invalidate.newBuilder().setExport(0)
                .setRel(ByteString.copyFromUtf8("a"))).build());
        peer.send(FileReply.newBuilder().setId(r.getId()).setAttr(attr(3)).build());
        // The ping is answered after the daemon's mux read the reply before it.
        host.ping().get(5, TimeUnit.SECONDS);
        replyRead.countDown();
        assertEquals(1, inFlightAtPush.get(5, TimeUnit.SECONDS), "the reply was taken before the push ahead of it");
        assertEquals(3, call.get(5, TimeUnit.SECONDS).size());
    }

    @Test
    void aMalformedReplyEndsTheStreamAndFailsItsCallsWithEio() throws Exception {
        Future<HostAttr> inFlight = callers.submit(() -> files.getattr(0, "a", true));
        next();
        peer.sendBytes(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff}, false);
        ErrnoException e = (ErrnoException) assertThrows(java.util.concurrent.ExecutionException.class,
                () -> inFlight.get(5, TimeUnit.SECONDS)).getCause();
        assertEquals(Errno.EIO, e.errno());
        files.ended().get(5, TimeUnit.SECONDS);
    }

    @Test
    void aLostStreamFailsCallsInFlightAndLaterOnesWithEio() throws Exception {
        Future<HostAttr> inFlight = callers.submit(() -> files.getattr(0, "slow", true));
        next();
        peer.reset(ResetCode.RESET_CANCEL, "client gone");
        ErrnoException e = (ErrnoException) assertThrows(java.util.concurrent.ExecutionException.class,
                () -> inFlight.get(5, TimeUnit.SECONDS)).getCause();
        assertEquals(Errno.EIO, e.errno());
        files.ended().get(5, TimeUnit.SECONDS);
        assertEquals(Errno.EIO, assertThrows(ErrnoException.class, () -> files.readlink(0, "x")).errno());
        assertEquals(Errno.EIO, assertThrows(ErrnoException.class, () -> files.validate(0,
                List.of(new HostFiles.Validation("x", 1, 1, 1, 1)))).errno());
    }
}
