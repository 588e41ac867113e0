package io.tether.protocol.mux;

import io.tether.protocol.frame.Frame;
import io.tether.protocol.frame.FrameType;
import io.tether.protocol.frame.Limits;
import io.tether.protocol.proto.FdStream;
import io.tether.protocol.proto.GoAway;
import io.tether.protocol.proto.Hello;
import io.tether.protocol.proto.ResetCode;
import io.tether.protocol.proto.SessionMessage;
import io.tether.protocol.proto.Signal;
import io.tether.protocol.proto.StreamOpen;
import io.tether.protocol.testing.LeakCheck;
import io.tether.protocol.testing.MuxPair;
import io.tether.protocol.transport.BytePipe;
import io.tether.protocol.transport.Transport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The mux over an in-memory pipe. Timeouts here only guard against hangs. */
@ExtendWith(LeakCheck.class)
@Timeout(120)
class MuxTest {
    static final StreamOpen FD = StreamOpen.newBuilder().setFd(FdStream.getDefaultInstance()).build();
    static final MuxConfig DEFAULTS = MuxConfig.defaults("test/1");
    static final int SMALL_STREAM_WINDOW = 64 * 1024;
    /** Test helpers block, so each gets its own thread (the common pool may have only one). */
    static final java.util.concurrent.ExecutorService POOL = java.util.concurrent.Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "mux-test");
        t.setDaemon(true);
        return t;
    });

    static MuxConfig small() {
        return DEFAULTS.withWindows(SMALL_STREAM_WINDOW, 2 * SMALL_STREAM_WINDOW);
    }

    /** Collects the streams a side accepts. */
    static final class Accepted implements Mux.Acceptor {
        final BlockingQueue<MuxStream> streams = new LinkedBlockingQueue<>();
        final BlockingQueue<StreamOpen> opens = new LinkedBlockingQueue<>();

        @Override
        public void accept(MuxStream stream, StreamOpen open) {
            opens.add(open);
            streams.add(stream);
        }

        private final java.util.Map<Integer, MuxStream> early = new java.util.HashMap<>();

        MuxStream next() throws InterruptedException {
            if (!early.isEmpty()) {
                Integer first = early.keySet().iterator().next();
                return early.remove(first);
            }
            MuxStream s = streams.poll(30, TimeUnit.SECONDS);
            assertNotNull(s, "no stream accepted");
            return s;
        }

        /** The accepted side of stream {@code id}: handlers start in any order. */
        MuxStream get(int id) throws InterruptedException {
            while (!early.containsKey(id)) {
                MuxStream s = streams.poll(30, TimeUnit.SECONDS);
                assertNotNull(s, "stream " + id + " not accepted");
                early.put(s.id(), s);
            }
            return early.remove(id);
        }
    }

    static byte[] message(String signal) {
        return SessionMessage.newBuilder().setSignal(Signal.newBuilder().setName(signal)).build().toByteArray();
    }

    /** Deterministic bytes: the n-th byte of stream {@code seed}. */
    static void fill(byte[] b, long offset, int seed) {
        for (int i = 0; i < b.length; i++) {
            long x = (offset + i) * 0x9E3779B97F4A7C15L + seed;
            b[i] = (byte) (x ^ (x >>> 29) ^ (x >>> 41));
        }
    }

    /** Writes {@code total} bytes of pattern {@code seed}; returns their CRC. */
    static long writePattern(OutputStream out, long total, int seed) throws IOException {
        CRC32 crc = new CRC32();
        byte[] b = new byte[48 * 1024 + 7]; // not a multiple of the chunk size
        long sent = 0;
        int round = 0;
        while (sent < total) {
            int n = (int) Math.min(b.length, total - sent);
            if (round++ < 4) fill(b, sent, seed); // later rounds reuse the buffer: generation would dominate
            out.write(b, 0, n);
            crc.update(b, 0, n);
            sent += n;
        }
        return crc.getValue();
    }

    /** Reads to the end; returns {count, crc}. */
    static long[] readAll(InputStream in) throws IOException {
        CRC32 crc = new CRC32();
        byte[] b = new byte[40 * 1024];
        long count = 0;
        for (int n; (n = in.read(b)) >= 0; ) {
            crc.update(b, 0, n);
            count += n;
        }
        return new long[] {count, crc.getValue()};
    }

    static <T> T get(CompletableFuture<T> f) throws Exception {
        return f.get(30, TimeUnit.SECONDS);
    }

    static Throwable failureOf(CompletableFuture<?> f) throws Exception {
        ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(30, TimeUnit.SECONDS));
        return e.getCause();
    }

    // ---- handshake and streams ----

    @Test
    void helloExchangesAgentsAndWindows() throws Exception {
        try (MuxPair p = MuxPair.start(DEFAULTS.withWindows(128 * 1024, 1 << 20), MuxConfig.defaults("server/2"), null, null, 64 * 1024)) {
            Hello seenByClient = p.client.awaitReady();
            Hello seenByServer = p.server.awaitReady();
            assertEquals("server/2", seenByClient.getAgent());
            assertEquals("test/1", seenByServer.getAgent());
            assertEquals(128 * 1024, seenByServer.getStreamWindow());
            assertEquals(Limits.MAJOR, seenByClient.getMajor());
            assertEquals(List.of("run", "fd", "pty", "host-exec", "files-data", "files-lz4"), p.client.features());
        }
    }

    @Test
    void featuresAreThoseBothSidesAnnounce() throws Exception {
        MuxConfig some = new MuxConfig("a", "x86_64", List.of("pty", "files", "run"), 1 << 20, 8 << 20,
                Duration.ofSeconds(15), Duration.ofSeconds(60), Duration.ofSeconds(30));
        try (MuxPair p = MuxPair.start(some, DEFAULTS, null, null, 64 * 1024)) {
            assertEquals(List.of("pty", "run"), p.client.features());
            assertEquals(List.of("run", "pty"), p.server.features());
        }
    }

    @Test
    void clientOpensOddIdsAndServerOpensEvenIdsBothAccepted() throws Exception {
        Accepted onServer = new Accepted();
        Accepted onClient = new Accepted();
        try (MuxPair p = MuxPair.start(DEFAULTS, onServer, onClient)) {
            MuxStream c1 = p.client.open(FD);
            MuxStream c3 = p.client.open(FD);
            MuxStream s2 = p.server.open(FD);
            MuxStream s4 = p.server.open(FD);
            assertEquals(List.of(1, 3, 2, 4), List.of(c1.id(), c3.id(), s2.id(), s4.id()));
            // Handlers run concurrently, so they may start in any order.
            assertEquals(java.util.Set.of(1, 3), java.util.Set.of(onServer.next().id(), onServer.next().id()));
            assertEquals(java.util.Set.of(2, 4), java.util.Set.of(onClient.next().id(), onClient.next().id()));
            assertEquals(FD, onServer.opens.take());
        }
    }

    @Test
    void messagesArriveInOrderThenNullAfterTheEnd() throws Exception {
        Accepted onServer = new Accepted();
        try (MuxPair p = MuxPair.start(DEFAULTS, onServer, null)) {
            MuxStream c = p.client.open(FD);
            for (int i = 0; i < 100; i++) c.sendBytes(message("S" + i), false);
            c.send(SessionMessage.newBuilder().setSignal(Signal.newBuilder().setName("LAST")).build(), true);
            MuxStream s = onServer.next();
            for (int i = 0; i < 100; i++) {
                assertEquals("S" + i, s.receive(SessionMessage.parser()).getSignal().getName());
            }
            assertEquals("LAST", s.receive(SessionMessage.parser()).getSignal().getName());
            assertNull(s.receive(SessionMessage.parser()));
            assertNull(s.receiveBytes());
            assertThrows(IOException.class, () -> c.sendBytes(message("late"), false), "output already ended");
        }
    }

    @Test
    void openedStreamExchangesDataBothWays() throws Exception {
        Accepted onServer = new Accepted();
        try (MuxPair p = MuxPair.start(DEFAULTS, onServer, null)) {
            MuxStream c = p.client.open(FD);
            c.out().write("ping".getBytes());
            c.closeWrite();
            MuxStream s = onServer.next();
            assertArrayEquals("ping".getBytes(), s.in().readAllBytes());
            s.out().write("pong".getBytes());
            s.out().close();
            assertArrayEquals("pong".getBytes(), c.in().readAllBytes());
            get(c.onClosed());
            get(s.onClosed());
        }
    }

    @Test
    void acceptorlessSideRefusesStreams() throws Exception {
        try (MuxPair p = MuxPair.start(DEFAULTS, null, null)) {
            MuxStream c = p.client.open(FD);
            StreamResetException e = assertThrows(StreamResetException.class, () -> c.in().read());
            assertEquals(ResetCode.RESET_REFUSED, e.code());
            assertTrue(e.byPeer());
        }
    }

    @Test
    void failingAcceptorResetsTheStreamWithInternal() throws Exception {
        Mux.Acceptor boom = (s, o) -> {
            throw new IllegalStateException("handler exploded");
        };
        try (MuxPair p = MuxPair.start(DEFAULTS, boom, null)) {
            MuxStream c = p.client.open(FD);
            StreamResetException e = assertThrows(StreamResetException.class, c::receiveBytes);
            assertEquals(ResetCode.RESET_INTERNAL, e.code());
            assertTrue(e.getMessage().contains("handler exploded"), e.getMessage());
            assertTrue(p.client.isOpen(), "one failing handler does not end the connection");
        }
    }

    @Test
    void pingMeasuresARoundTrip() throws Exception {
        try (MuxPair p = MuxPair.start(DEFAULTS, null, null)) {
            assertTrue(get(p.client.ping()) > 0);
            assertTrue(get(p.server.ping()) > 0);
        }
    }

    // ---- flow control ----

    @Test
    void slowReaderBoundsTheWriterToTheStreamWindow() throws Exception {
        Accepted onServer = new Accepted();
        try (MuxPair p = MuxPair.start(small(), onServer, null)) {
            MuxStream c = p.client.open(FD);
            AtomicLong written = new AtomicLong();
            long total = 4L << 20;
            CompletableFuture<Long> writer = CompletableFuture.supplyAsync(() -> {
                try {
                    byte[] b = new byte[1024];
                    for (long i = 0; i < total; i += b.length) {
                        c.out().write(b);
                        written.addAndGet(b.length);
                    }
                    c.closeWrite();
                    return written.get();
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, POOL);
            MuxStream s = onServer.next();
            // Nobody reads: the receiver buffers exactly one window, and the writer can have handed over no more.
            while (s.in().available() < SMALL_STREAM_WINDOW) Thread.sleep(5);
            Thread.sleep(50);
            assertEquals(SMALL_STREAM_WINDOW, s.in().available());
            assertEquals(SMALL_STREAM_WINDOW, written.get());
            assertFalse(writer.isDone());
            // A slow reader: what is buffered never exceeds the window.
            byte[] b = new byte[5000];
            long read = 0;
            for (int n; (n = s.in().read(b)) >= 0; ) {
                read += n;
                assertTrue(s.in().available() <= SMALL_STREAM_WINDOW);
                if (read % 7 == 0) Thread.yield();
            }
            assertEquals(total, read);
            assertEquals(total, get(writer));
        }
    }

    @Test
    void aGibibyteThroughOneStreamKeepsItsBytesAndBoundedBuffers() throws Exception {
        Accepted onServer = new Accepted();
        long total = 1L << 30;
        try (MuxPair p = MuxPair.start(DEFAULTS, onServer, null)) {
            MuxStream c = p.client.open(FD);
            CompletableFuture<Long> sent = CompletableFuture.supplyAsync(() -> {
                try {
                    long crc = writePattern(c.out(), total, 7);
                    c.closeWrite();
                    return crc;
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, POOL);
            MuxStream s = onServer.next();
            CRC32 crc = new CRC32();
            byte[] b = new byte[64 * 1024];
            long count = 0;
            int maxBuffered = 0;
            for (int n; (n = s.in().read(b)) >= 0; ) {
                crc.update(b, 0, n);
                count += n;
                maxBuffered = Math.max(maxBuffered, s.in().available());
            }
            assertEquals(total, count);
            assertEquals(get(sent), crc.getValue());
            assertTrue(maxBuffered <= DEFAULTS.streamWindow(), "buffered " + maxBuffered);
        }
    }

    @Test
    void bothSidesWritingBigDataAtOnceDoNotDeadlock() throws Exception {
        Accepted onServer = new Accepted();
        long total = 32L << 20;
        try (MuxPair p = MuxPair.start(small(), onServer, null)) {
            MuxStream c = p.client.open(FD);
            CompletableFuture<Long> clientSent = CompletableFuture.supplyAsync(() -> {
                try {
                    long crc = writePattern(c.out(), total, 1);
                    c.closeWrite();
                    return crc;
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, POOL);
            MuxStream s = onServer.next();
            CompletableFuture<Long> serverSent = CompletableFuture.supplyAsync(() -> {
                try {
                    long crc = writePattern(s.out(), total, 2);
                    s.closeWrite();
                    return crc;
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, POOL);
            // Both write before either reads: writes block on credit, never on each other.
            Thread.sleep(100);
            CompletableFuture<long[]> clientGot = CompletableFuture.supplyAsync(() -> {
                try {
                    return readAll(c.in());
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, POOL);
            long[] serverGot = readAll(s.in());
            assertEquals(total, serverGot[0]);
            assertEquals(get(clientSent), serverGot[1]);
            assertEquals(total, get(clientGot)[0]);
            assertEquals(get(serverSent), get(clientGot)[1]);
        }
    }

    @Test
    void stalledStreamDoesNotBlockAnotherStream() throws Exception {
        Accepted onServer = new Accepted();
        try (MuxPair p = MuxPair.start(small(), onServer, null)) {
            MuxStream stalled = p.client.open(FD);
            MuxStream busy = p.client.open(FD);
            CompletableFuture<Long> stalledWriter = CompletableFuture.supplyAsync(() -> {
                try {
                    long crc = writePattern(stalled.out(), 1L << 20, 3);
                    stalled.closeWrite();
                    return crc;
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, POOL);
            MuxStream stalledIn = onServer.get(stalled.id());
            MuxStream busyIn = onServer.get(busy.id());
            while (stalledIn.in().available() < SMALL_STREAM_WINDOW) Thread.sleep(5);
            // The stalled stream holds a full window; 16 MiB still pass on the other.
            long total = 16L << 20;
            CompletableFuture<Long> busyWriter = CompletableFuture.supplyAsync(() -> {
                try {
                    long crc = writePattern(busy.out(), total, 4);
                    busy.closeWrite();
                    return crc;
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, POOL);
            long[] got = readAll(busyIn.in());
            assertEquals(total, got[0]);
            assertEquals(get(busyWriter), got[1]);
            assertFalse(stalledWriter.isDone());
            long[] late = readAll(stalledIn.in());
            assertEquals(1L << 20, late[0]);
            assertEquals(get(stalledWriter), late[1]);
        }
    }

    @Test
    void tinyFramesToAStalledReaderArePackedNotPinned() throws Exception {
        Transport[] t = BytePipe.duplex(64 * 1024);
        Accepted onServer = new Accepted();
        try (RawPeerScope raw = new RawPeerScope(t[1]);
             Mux m = Mux.start(t[0], Mux.Role.SERVER, small(), onServer)) {
            raw.peer.sendHello();
            m.awaitReady();
            raw.peer.send(Frame.of(FrameType.OPEN, 0, 1, FD.toByteArray()));
            byte[] expected = new byte[SMALL_STREAM_WINDOW];
            fill(expected, 0, 11);
            for (int i = 0; i < expected.length; i += 16) {
                raw.peer.send(Frame.of(FrameType.DATA, 0, 1, java.util.Arrays.copyOfRange(expected, i, i + 16)));
            }
            MuxStream s = onServer.next();
            while (s.in().available() < expected.length) Thread.sleep(5);
            assertArrayEquals(expected, s.in().readNBytes(expected.length));
        }
    }

    @Test
    void manyWritersSharingASmallConnectionWindowAllFinish() throws Exception {
        Accepted onServer = new Accepted();
        // Connection window of two stream windows: most writers wait for connection credit at any time.
        try (MuxPair p = MuxPair.start(small(), onServer, null)) {
            int n = 12;
            long each = 2L << 20;
            List<CompletableFuture<Long>> sent = new ArrayList<>();
            List<CompletableFuture<long[]>> got = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                MuxStream c = p.client.open(FD);
                int seed = i;
                sent.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        long crc = writePattern(c.out(), each, seed);
                        c.closeWrite();
                        return crc;
                    } catch (IOException e) {
                        throw new RuntimeException(e);
                    }
                }, POOL));
            }
            for (int i = 0; i < n; i++) {
                MuxStream s = onServer.next();
                got.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        return readAll(s.in());
                    } catch (IOException e) {
                        throw new RuntimeException(e);
                    }
                }, POOL));
            }
            java.util.Set<Long> sentCrcs = new java.util.HashSet<>();
            for (CompletableFuture<Long> f : sent) sentCrcs.add(get(f));
            java.util.Set<Long> gotCrcs = new java.util.HashSet<>();
            for (CompletableFuture<long[]> f : got) {
                long[] r = get(f);
                assertEquals(each, r[0]);
                gotCrcs.add(r[1]);
            }
            assertEquals(sentCrcs, gotCrcs);
        }
    }

    @Test
    void messagesAreFlowControlledSoAReaderThatDoesNotReceiveBoundsTheSender() throws Exception {
        Accepted onServer = new Accepted();
        try (MuxPair p = MuxPair.start(small(), onServer, null)) {
            MuxStream c = p.client.open(FD);
            byte[] m = new byte[1000];
            AtomicLong sent = new AtomicLong();
            int count = 1000;
            CompletableFuture<Void> sender = CompletableFuture.runAsync(() -> {
                try {
                    for (int i = 0; i < count; i++) {
                        c.sendBytes(m, i == count - 1);
                        sent.incrementAndGet();
                    }
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, POOL);
            MuxStream s = onServer.next();
            int fit = SMALL_STREAM_WINDOW / (m.length + Mux.MESSAGE_OVERHEAD) + 1; // one overdraft allowed
            while (sent.get() < fit) Thread.sleep(5);
            Thread.sleep(50);
            assertEquals(fit, sent.get(), "the sender stops when the window is used up");
            int received = 0;
            while (s.receiveBytes() != null) received++;
            get(sender);
            assertEquals(count, received);
        }
    }

    @Test
    void queuedDataOfAResetStreamGivesItsConnectionCreditBack() throws Exception {
        Accepted onServer = new Accepted();
        // Tiny pipe: the writer blocks at once, so most DATA is still queued when the stream is reset.
        try (MuxPair p = MuxPair.start(small(), small(), onServer, null, 1024)) {
            for (int round = 0; round < 20; round++) {
                MuxStream c = p.client.open(FD);
                c.out().write(new byte[SMALL_STREAM_WINDOW]);
                c.reset(ResetCode.RESET_CANCEL, "round " + round);
                onServer.next();
            }
            // Had the dropped chunks kept their connection credit, the connection would be stuck by now.
            MuxStream c = p.client.open(FD);
            CompletableFuture<Long> w = CompletableFuture.supplyAsync(() -> {
                try {
                    long crc = writePattern(c.out(), 4L << 20, 5);
                    c.closeWrite();
                    return crc;
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, POOL);
            long[] got = readAll(onServer.next().in());
            assertEquals(4L << 20, got[0]);
            assertEquals(get(w), got[1]);
        }
    }

    // ---- priorities and ordering ----

    @Test
    void controlFramesOvertakeQueuedBulkData() throws Exception {
        BytePipe toPeer = new BytePipe(64 * 1024);
        BytePipe fromPeer = new BytePipe(64 * 1024);
        Transport muxSide = Transport.of(fromPeer.source, toPeer.sink, "memory", null);
        Transport peerSide = Transport.of(toPeer.source, fromPeer.sink, "memory", null);
        try (RawPeerScope raw = new RawPeerScope(peerSide);
             Mux m = Mux.start(muxSide, Mux.Role.CLIENT, DEFAULTS, null)) {
            raw.peer.sendHello();
            m.awaitReady();
            MuxStream bulk = m.open(FD);
            int chunks = 32;
            bulk.out().write(new byte[chunks * Limits.DATA_CHUNK]);
            // The writer is stuck on the full pipe with most chunks still queued.
            while (toPeer.source.available() < 64 * 1024) Thread.sleep(5);
            MuxStream rpc = m.open(FD);
            rpc.sendBytes(message("URGENT"), false);
            int dataBefore = 0;
            Frame f;
            while ((f = raw.peer.next()) != null) {
                boolean isMessage = f.type() == FrameType.MESSAGE && f.streamId() == rpc.id();
                if (f.type() == FrameType.DATA) dataBefore++;
                f.release();
                if (isMessage) break;
            }
            assertNotNull(f, "message never arrived");
            assertTrue(dataBefore < chunks / 2, dataBefore + " DATA chunks went first");
        }
    }

    @Test
    void endMessageDoesNotOvertakeDataQueuedOnItsStream() throws Exception {
        Accepted onServer = new Accepted();
        try (MuxPair p = MuxPair.start(DEFAULTS, DEFAULTS, onServer, null, 4096)) {
            MuxStream c = p.client.open(FD);
            byte[] data = new byte[512 * 1024];
            fill(data, 0, 9);
            c.out().write(data);
            c.sendBytes(message("EXIT"), true);
            MuxStream s = onServer.next();
            assertArrayEquals(data, s.in().readAllBytes());
            assertEquals("EXIT", s.receive(SessionMessage.parser()).getSignal().getName());
            assertNull(s.receiveBytes());
        }
    }

    // ---- reset, half-close, go-away ----

    @Test
    void resetByOpenerWakesTheAcceptorsReaderAndWriter() throws Exception {
        Accepted onServer = new Accepted();
        try (MuxPair p = MuxPair.start(small(), onServer, null)) {
            MuxStream c = p.client.open(FD);
            MuxStream s = onServer.next();
            CompletableFuture<Void> blockedWriter = CompletableFuture.runAsync(() -> {
                try {
                    writePattern(s.out(), 1L << 20, 0); // the client never reads: blocks on credit
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, POOL);
            CompletableFuture<Integer> blockedReader = CompletableFuture.supplyAsync(() -> {
                try {
                    return s.in().read();
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, POOL);
            Thread.sleep(50);
            c.reset(ResetCode.RESET_CANCEL, "user pressed ^C");
            for (CompletableFuture<?> f : List.of(blockedWriter, blockedReader)) {
                StreamResetException e = assertInstanceOf(StreamResetException.class, failureOf(f).getCause());
                assertEquals(ResetCode.RESET_CANCEL, e.code());
                assertTrue(e.byPeer());
                assertTrue(e.getMessage().contains("^C"), e.getMessage());
            }
            assertTrue(c.isReset());
            assertThrows(StreamResetException.class, () -> c.out().write(1));
            get(s.onClosed());
            get(c.onClosed());
            c.reset(ResetCode.RESET_CANCEL, "again"); // idempotent
        }
    }

    @Test
    void resetByAcceptorReachesTheOpener() throws Exception {
        Accepted onServer = new Accepted();
        try (MuxPair p = MuxPair.start(DEFAULTS, onServer, null)) {
            MuxStream c = p.client.open(FD);
            onServer.next().reset(ResetCode.RESET_REFUSED, "no such thing");
            StreamResetException e = assertThrows(StreamResetException.class, c::receiveBytes);
            assertEquals(ResetCode.RESET_REFUSED, e.code());
            assertTrue(e.byPeer());
            assertThrows(StreamResetException.class, () -> c.in().read());
            while (p.client.streamCount() > 0) Thread.sleep(5);
        }
    }

    @Test
    void closingTheInputEarlyResetsThePeersWriter() throws Exception {
        Accepted onServer = new Accepted();
        try (MuxPair p = MuxPair.start(small(), onServer, null)) {
            MuxStream c = p.client.open(FD);
            MuxStream s = onServer.next();
            CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
                try {
                    writePattern(s.out(), 1L << 30, 0);
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, POOL);
            c.in().read(new byte[100]);
            c.in().close(); // like `yes | head -1`
            assertInstanceOf(StreamResetException.class, failureOf(writer).getCause());
        }
    }

    @Test
    void halfCloseEndsEachDirectionIndependently() throws Exception {
        Accepted onServer = new Accepted();
        try (MuxPair p = MuxPair.start(DEFAULTS, onServer, null)) {
            MuxStream c = p.client.open(FD);
            c.out().write("request".getBytes());
            c.closeWrite();
            c.closeWrite(); // idempotent
            MuxStream s = onServer.next();
            assertArrayEquals("request".getBytes(), s.in().readAllBytes());
            assertEquals(-1, s.in().read());
            assertFalse(c.onClosed().isDone(), "the server's direction is still open");
            assertThrows(IOException.class, () -> c.out().write(1));
            s.out().write("response".getBytes());
            s.sendBytes(message("DONE"), false);
            s.closeWrite();
            assertEquals("DONE", c.receive(SessionMessage.parser()).getSignal().getName());
            assertArrayEquals("response".getBytes(), c.in().readAllBytes());
            get(c.onClosed());
            get(s.onClosed());
            while (p.client.streamCount() + p.server.streamCount() > 0) Thread.sleep(5);
        }
    }

    @Test
    void goAwayRefusesNewStreamsButLetsOldOnesFinish() throws Exception {
        Accepted onServer = new Accepted();
        try (MuxPair p = MuxPair.start(DEFAULTS, onServer, null)) {
            MuxStream old = p.client.open(FD);
            MuxStream oldIn = onServer.next();
            p.server.goAway(ResetCode.RESET_SHUTDOWN, "daemon restarting");
            get(p.server.ping()); // the client has seen the go-away before it answers this ping
            IOException refused = assertThrows(IOException.class, () -> p.client.open(FD));
            assertTrue(refused.getMessage().contains("daemon restarting"), refused.getMessage());
            // The old stream still works both ways, to its end.
            old.out().write("still here".getBytes());
            old.closeWrite();
            assertArrayEquals("still here".getBytes(), oldIn.in().readAllBytes());
            oldIn.send(SessionMessage.newBuilder().setSignal(Signal.newBuilder().setName("BYE")).build(), true);
            assertEquals("BYE", old.receive(SessionMessage.parser()).getSignal().getName());
            assertNull(old.receiveBytes());
            assertTrue(p.server.shutdown(Duration.ofSeconds(10)), "all streams finished");
            assertNull(get(p.client.terminated()), "a shutdown is a clean end for the peer");
        }
    }

    @Test
    void shutdownGivesUpOnStreamsThatDoNotFinishInTime() throws Exception {
        Accepted onServer = new Accepted();
        try (MuxPair p = MuxPair.start(DEFAULTS, onServer, null)) {
            MuxStream lingering = p.client.open(FD);
            onServer.next();
            assertFalse(p.server.shutdown(Duration.ofMillis(100)), "the stream never ended");
            assertFalse(p.server.isOpen());
            assertThrows(StreamResetException.class, lingering::receiveBytes);
            assertNull(get(p.client.terminated()), "still an orderly end for the peer");
        }
    }

    @Test
    void streamOpenedWhileThePeerGoesAwayIsRefused() throws Exception {
        Accepted onServer = new Accepted();
        try (MuxPair p = MuxPair.start(DEFAULTS, onServer, null)) {
            p.server.goAway(ResetCode.RESET_SHUTDOWN, "bye");
            MuxStream raced;
            try {
                raced = p.client.open(FD);
            } catch (IOException e) {
                assertTrue(e.getMessage().contains("going away"), e.getMessage());
                return;
            }
            StreamResetException e = assertThrows(StreamResetException.class, raced::receiveBytes);
            assertEquals(ResetCode.RESET_REFUSED, e.code());
            assertTrue(onServer.streams.isEmpty());
        }
    }

    @Test
    void closeIsACleanEndForBothSides() throws Exception {
        Accepted onServer = new Accepted();
        MuxPair p = MuxPair.start(DEFAULTS, onServer, null);
        MuxStream live = p.client.open(FD);
        onServer.next();
        p.client.close();
        assertNull(get(p.client.terminated()));
        assertNull(get(p.server.terminated()));
        assertThrows(StreamResetException.class, live::receiveBytes);
        assertThrows(IOException.class, () -> p.client.open(FD));
        assertFalse(p.client.isOpen());
        p.server.close();
    }

    // ---- faults ----

    @Test
    void peerOfAnotherMajorVersionGetsAClearErrorOnBothSides() throws Exception {
        Transport[] t = BytePipe.duplex(64 * 1024);
        Mux newer = Mux.start(t[0], Mux.Role.CLIENT, MuxConfig.defaults("tether/9.0"), null, Limits.MAJOR + 1);
        Mux older = Mux.start(t[1], Mux.Role.SERVER, MuxConfig.defaults("tetherd/0.1"), (s, o) -> { });
        for (Mux m : List.of(newer, older)) {
            IOException e = assertThrows(IOException.class, m::awaitReady);
            assertTrue(e.getMessage().contains("version mismatch"), e.getMessage());
            assertTrue(e.getMessage().contains((Limits.MAJOR + 1) + ".0") && e.getMessage().contains(Limits.MAJOR + ".0"), e.getMessage());
            assertTrue(failureOf(m.terminated()).getMessage().contains("version mismatch"));
            assertThrows(IOException.class, () -> m.open(FD));
        }
    }

    @Test
    void rawPeerOfAnotherMajorVersionIsToldWhy() throws Exception {
        Transport[] t = BytePipe.duplex(64 * 1024);
        try (RawPeerScope raw = new RawPeerScope(t[1]);
             Mux m = Mux.start(t[0], Mux.Role.CLIENT, DEFAULTS, null)) {
            raw.peer.send(Frame.of(FrameType.HELLO, 0, 0, io.tether.protocol.testing.RawPeer.hello(Limits.MAJOR + 1, 1 << 20, 1 << 20).toByteArray()));
            Frame hello = raw.peer.next();
            assertEquals(FrameType.HELLO, hello.type());
            hello.release();
            Frame goAway = raw.peer.next();
            assertEquals(FrameType.GOAWAY, goAway.type());
            GoAway g = GoAway.parseFrom(goAway.takeBytes());
            assertEquals(ResetCode.RESET_VERSION_VALUE, g.getCode());
            assertTrue(g.getReason().contains("upgrade"), g.getReason());
            raw.peer.drainToEnd();
            assertThrows(IOException.class, m::awaitReady);
        }
    }

    @Test
    void garbageInsteadOfAHelloEndsTheConnectionWithAClearError() throws Exception {
        Transport[] t = BytePipe.duplex(64 * 1024);
        try (RawPeerScope raw = new RawPeerScope(t[1]);
             Mux m = Mux.start(t[0], Mux.Role.SERVER, DEFAULTS, (s, o) -> { })) {
            raw.peer.sendRaw("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n".getBytes());
            IOException e = assertThrows(IOException.class, m::awaitReady);
            assertTrue(e.getMessage().contains("protocol error") && e.getMessage().contains("exceeds the limit"), e.getMessage());
            Frame hello = raw.peer.next();
            assertEquals(FrameType.HELLO, hello.type());
            hello.release();
            Frame goAway = raw.peer.next();
            assertEquals(ResetCode.RESET_PROTOCOL_ERROR_VALUE, GoAway.parseFrom(goAway.takeBytes()).getCode());
            raw.peer.drainToEnd();
            assertNotNull(failureOf(m.terminated()));
        }
    }

    /** A frame that breaks the protocol after a good hello, and what the error must say. */
    record Bad(String name, byte[] bytes, String says) {
        @Override
        public String toString() { return name; }
    }

    static byte[] encode(Frame f) throws IOException {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        io.tether.protocol.frame.FrameCodec.encode(f, out, new byte[16]);
        f.release();
        return out.toByteArray();
    }

    static List<Bad> badFrames() throws IOException {
        List<Bad> bad = new ArrayList<>();
        bad.add(new Bad("second hello", encode(Frame.of(FrameType.HELLO, 0, 0, io.tether.protocol.testing.RawPeer.hello(1, 1 << 20, 1 << 20).toByteArray())), "second HELLO"));
        bad.add(new Bad("short window", encode(Frame.of(FrameType.WINDOW, 0, 0, new byte[3])), "WINDOW payload"));
        bad.add(new Bad("zero window", encode(Frame.of(FrameType.WINDOW, 0, 0, new byte[4])), "WINDOW increment"));
        bad.add(new Bad("open with an id of the wrong parity", encode(Frame.of(FrameType.OPEN, 0, 1, FD.toByteArray())), "bad stream id"));
        bad.add(new Bad("open on stream 0", encode(Frame.of(FrameType.OPEN, 0, 0, FD.toByteArray())), "bad stream id"));
        bad.add(new Bad("malformed reset", encode(Frame.of(FrameType.RESET, 0, 1, new byte[] {(byte) 0xff, (byte) 0xff})), "malformed RESET"));
        bad.add(new Bad("malformed goaway", encode(Frame.of(FrameType.GOAWAY, 0, 0, new byte[] {0x0a, 0x7f})), "malformed GOAWAY"));
        bad.add(new Bad("negative stream id", new byte[] {0, 0, 0, 6, 2, 0, (byte) 0x80, 0, 0, 1}, "negative stream id"));
        bad.add(new Bad("length below the header", new byte[] {0, 0, 0, 2, 2, 0}, "shorter than its header"));
        bad.add(new Bad("oversized frame", new byte[] {0, 1, 0, 7, 3, 0, 0, 0, 0, 1}, "exceeds the limit"));
        return bad;
    }

    @Test
    void malformedFramesEndTheConnectionWithAClearErrorOnBothSides() throws Exception {
        for (Bad bad : badFrames()) {
            Transport[] t = BytePipe.duplex(64 * 1024);
            try (RawPeerScope raw = new RawPeerScope(t[1]);
                 Mux m = Mux.start(t[0], Mux.Role.CLIENT, DEFAULTS, (s, o) -> { })) {
                raw.peer.sendHello();
                m.awaitReady();
                raw.peer.sendRaw(bad.bytes());
                Throwable e = failureOf(m.terminated());
                assertTrue(e.getMessage().contains(bad.says()), bad + ": " + e.getMessage());
                Frame goAway = raw.peer.next(f -> f.type() == FrameType.GOAWAY);
                assertNotNull(goAway, bad + ": no GOAWAY");
                GoAway g = GoAway.parseFrom(goAway.takeBytes());
                assertEquals(ResetCode.RESET_PROTOCOL_ERROR_VALUE, g.getCode(), bad.toString());
                assertTrue(g.getReason().contains(bad.says()), bad + ": " + g.getReason());
                raw.peer.drainToEnd();
            }
        }
    }

    @Test
    void malformedStreamOpenResetsOnlyThatStream() throws Exception {
        Transport[] t = BytePipe.duplex(64 * 1024);
        try (RawPeerScope raw = new RawPeerScope(t[1]);
             Mux m = Mux.start(t[0], Mux.Role.SERVER, DEFAULTS, (s, o) -> { })) {
            raw.peer.sendHello();
            m.awaitReady();
            raw.peer.send(Frame.of(FrameType.OPEN, 0, 1, new byte[] {(byte) 0xff}));
            Frame reset = raw.peer.next(f -> f.type() == FrameType.RESET);
            assertEquals(1, reset.streamId());
            assertEquals(ResetCode.RESET_PROTOCOL_ERROR, io.tether.protocol.proto.Reset.parseFrom(reset.takeBytes()).getCode());
            assertTrue(m.isOpen());
        }
    }

    @Test
    void unknownFrameTypesAreSkipped() throws Exception {
        Transport[] t = BytePipe.duplex(64 * 1024);
        try (RawPeerScope raw = new RawPeerScope(t[1]);
             Mux m = Mux.start(t[0], Mux.Role.CLIENT, DEFAULTS, null)) {
            raw.peer.sendHello();
            raw.peer.sendRaw(new byte[] {0, 0, 0, 9, 99, 0, 0, 0, 0, 0, 1, 2, 3}); // type 99, 3 bytes
            raw.peer.send(Frame.of(FrameType.PING, 0, 0, new byte[] {4, 2}));
            Frame ack = raw.peer.next(f -> f.type() == FrameType.PING);
            assertTrue(ack.has(Frame.FLAG_ACK));
            assertArrayEquals(new byte[] {4, 2}, ack.takeBytes());
            assertTrue(m.isOpen());
        }
    }

    @Test
    void dataBeyondTheStreamWindowResetsThatStreamOnly() throws Exception {
        Transport[] t = BytePipe.duplex(64 * 1024);
        Accepted onServer = new Accepted();
        try (RawPeerScope raw = new RawPeerScope(t[1]);
             Mux m = Mux.start(t[0], Mux.Role.SERVER, small(), onServer)) {
            raw.peer.sendHello();
            m.awaitReady();
            raw.peer.send(Frame.of(FrameType.OPEN, 0, 1, FD.toByteArray()));
            for (int i = 0; i < 3; i++) raw.peer.send(Frame.of(FrameType.DATA, 0, 1, new byte[Limits.DATA_CHUNK]));
            Frame reset = raw.peer.next(f -> f.type() == FrameType.RESET);
            assertEquals(ResetCode.RESET_FLOW_CONTROL, io.tether.protocol.proto.Reset.parseFrom(reset.takeBytes()).getCode());
            StreamResetException e = assertThrows(StreamResetException.class, () -> onServer.next().in().read());
            assertEquals(ResetCode.RESET_FLOW_CONTROL, e.code());
            assertTrue(m.isOpen());
        }
    }

    @Test
    void keepaliveDetectsAnUnresponsivePeer() throws Exception {
        Transport[] t = BytePipe.duplex(64 * 1024);
        MuxConfig quick = DEFAULTS.withKeepalive(Duration.ofMillis(50), Duration.ofMillis(300));
        try (RawPeerScope raw = new RawPeerScope(t[1]);
             Mux m = Mux.start(t[0], Mux.Role.CLIENT, quick, null)) {
            raw.peer.sendHello(); // ... and never answers a ping
            m.awaitReady();
            Throwable e = failureOf(m.terminated());
            assertTrue(e.getMessage().contains("unresponsive"), e.getMessage());
            // The raw peer saw the pings that went unanswered.
            Frame ping = raw.peer.next(f -> f.type() == FrameType.PING);
            assertNotNull(ping);
            ping.release();
        }
    }

    @Test
    void keepaliveKeepsAnIdleButLivePeer() throws Exception {
        MuxConfig quick = DEFAULTS.withKeepalive(Duration.ofMillis(50), Duration.ofSeconds(3));
        try (MuxPair p = MuxPair.start(quick, null, null)) {
            Thread.sleep(5000);
            assertTrue(p.client.isOpen());
            assertTrue(p.server.isOpen());
        }
    }

    @Test
    void silentPeerFailsTheHelloWait() throws Exception {
        Transport[] t = BytePipe.duplex(64 * 1024);
        try (RawPeerScope raw = new RawPeerScope(t[1]);
             Mux m = Mux.start(t[0], Mux.Role.CLIENT, DEFAULTS.withHelloTimeout(Duration.ofMillis(200)), null)) {
            IOException e = assertThrows(IOException.class, m::awaitReady);
            assertTrue(e.getMessage().contains("no hello"), e.getMessage());
        }
    }

    @Test
    void transportClosedMidStreamWakesEveryWaiterWithAnException() throws Exception {
        Accepted onServer = new Accepted();
        MuxPair p = MuxPair.start(small(), onServer, null);
        MuxStream c = p.client.open(FD);
        MuxStream s = onServer.get(c.id());
        CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
            try {
                writePattern(c.out(), 1L << 30, 0); // the server does not read: blocks on credit
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }, POOL);
        MuxStream other = p.client.open(FD);
        MuxStream otherIn = onServer.get(other.id());
        CompletableFuture<byte[]> receiver = CompletableFuture.supplyAsync(() -> {
            try {
                return other.receiveBytes();
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }, POOL);
        CompletableFuture<Integer> reader = CompletableFuture.supplyAsync(() -> {
            try {
                return otherIn.in().read();
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }, POOL);
        while (s.in().available() < SMALL_STREAM_WINDOW) Thread.sleep(5);
        p.server.transport().close(); // the channel drops under both
        for (CompletableFuture<?> f : List.of(writer, receiver)) {
            assertInstanceOf(IOException.class, failureOf(f).getCause());
        }
        assertInstanceOf(IOException.class, failureOf(reader).getCause());
        assertNotNull(failureOf(p.client.terminated()));
        assertNotNull(failureOf(p.server.terminated()));
        assertThrows(IOException.class, () -> p.client.open(FD));
        assertNotNull(failureOf(p.client.ping()));
        p.close();
    }

    @Test
    void aStreamThatFailsWithTheConnectionFindsTerminatedDone() throws Exception {
        for (int round = 0; round < 20; round++) {
            Accepted onServer = new Accepted();
            MuxPair p = MuxPair.start(DEFAULTS, onServer, null);
            MuxStream c = p.client.open(FD);
            onServer.next();
            CompletableFuture<Boolean> seen = CompletableFuture.supplyAsync(() -> {
                try {
                    c.receiveBytes();
                    return false;
                } catch (IOException e) {
                    return p.client.terminated().isCompletedExceptionally();
                }
            }, POOL);
            p.server.transport().close();
            assertTrue(get(seen), "round " + round);
            p.close();
        }
    }

    @Test
    void connectionsThatFailAtOnceLeaveNoTimersBehind() throws Exception {
        int before = Mux.pendingTimers();
        for (int i = 0; i < 200; i++) {
            BytePipe in = new BytePipe(1024);
            in.sink.close(); // the peer is gone before we start
            Mux m = Mux.start(Transport.of(in.source, OutputStream.nullOutputStream(), "gone", null),
                    Mux.Role.CLIENT, DEFAULTS, null);
            assertNotNull(failureOf(m.terminated()));
        }
        assertTrue(Mux.pendingTimers() <= before + 10, Mux.pendingTimers() + " timers pending, " + before + " before");
    }

    @Test
    void aTerminationCallbackThatBlocksDoesNotKeepStreamsWaiting() throws Exception {
        Accepted onServer = new Accepted();
        CountDownLatch never = new CountDownLatch(1);
        MuxPair p = MuxPair.start(DEFAULTS, onServer, null);
        try {
            p.client.terminated().whenComplete((v, e) -> {
                try {
                    never.await();
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                }
            });
            MuxStream c = p.client.open(FD);
            onServer.next();
            CompletableFuture<byte[]> waiting = CompletableFuture.supplyAsync(() -> {
                try {
                    return c.receiveBytes();
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, POOL);
            p.server.transport().close();
            assertInstanceOf(StreamResetException.class, failureOf(waiting).getCause());
            assertTrue(p.client.terminated().isCompletedExceptionally());
        } finally {
            never.countDown();
            p.close();
        }
    }

    @Test
    void callbacksThatBlockDoNotStallTheMux() throws Exception {
        Accepted onServer = new Accepted();
        CountDownLatch never = new CountDownLatch(1);
        try (MuxPair p = MuxPair.start(DEFAULTS, onServer, null)) {
            MuxStream first = p.client.open(FD);
            first.onClosed().thenRun(() -> {
                try {
                    never.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            first.reset(ResetCode.RESET_CANCEL, "done");
            onServer.next();
            // The mux still serves other streams while that callback blocks.
            MuxStream second = p.client.open(FD);
            second.out().write(new byte[100_000]);
            second.closeWrite();
            assertEquals(100_000, onServer.next().in().readAllBytes().length);
        } finally {
            never.countDown();
        }
    }

    /** Closes the raw peer (and so its transport) after the mux in a try-with-resources. */
    static final class RawPeerScope implements AutoCloseable {
        final io.tether.protocol.testing.RawPeer peer;

        RawPeerScope(Transport t) {
            peer = new io.tether.protocol.testing.RawPeer(t);
        }

        @Override
        public void close() throws IOException {
            peer.close();
        }
    }
}
