package io.tether.protocol.mux;

import com.google.protobuf.InvalidProtocolBufferException;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.tether.protocol.frame.Frame;
import io.tether.protocol.frame.FrameCodec;
import io.tether.protocol.frame.FrameType;
import io.tether.protocol.frame.Limits;
import io.tether.protocol.frame.ProtocolException;
import io.tether.protocol.proto.GoAway;
import io.tether.protocol.proto.Hello;
import io.tether.protocol.proto.Reset;
import io.tether.protocol.proto.ResetCode;
import io.tether.protocol.proto.StreamOpen;
import io.tether.protocol.transport.Transport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The multiplexer: many {@link MuxStream}s over one {@link Transport}.
 *
 * <p>Threads: one reader (decodes and dispatches, never blocks on an application), one
 * writer (control frames first, then bulk DATA chunks), and a shared timer for keepalive.
 * Streams opened by the peer are handed to the {@link Acceptor} on a cached pool.
 *
 * <p>Flow control: each stream's receive credit is returned as the application reads
 * (bounding each stream's buffer); connection credit is returned as the reader thread
 * demultiplexes, so a stalled stream cannot starve the others (no head-of-line blocking)
 * while the peer still never has more than the connection window in flight.
 */
public final class Mux implements Closeable {
    private static final Logger log = LoggerFactory.getLogger(Mux.class);
    private static final ScheduledExecutorService TIMER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "mux-timer");
        t.setDaemon(true);
        return t;
    });
    private static final AtomicInteger SEQ = new AtomicInteger();

    public enum Role { CLIENT, SERVER }

    /** Handles a stream the peer opened. Runs on a pool thread; may block. */
    @FunctionalInterface
    public interface Acceptor {
        void accept(MuxStream stream, StreamOpen open) throws Exception;
    }

    final Object lock = new Object();
    private final Transport transport;
    private final Role role;
    private final MuxConfig config;
    private final Acceptor acceptor;
    private final ExecutorService acceptPool;
    private final String name;

    private final Map<Integer, MuxStream> streams = new HashMap<>();
    private final ArrayDeque<Frame> control = new ArrayDeque<>();
    private final ArrayDeque<Frame> data = new ArrayDeque<>();
    private int nextStreamId;
    private int lastPeerStreamId;
    private long connSendCredit;
    private int connRecvRemaining;
    private int connRecvConsumed;
    private Hello peerHello;
    private boolean localGoAway;
    private GoAway peerGoAway;
    private IOException failure;
    private boolean closing;
    private volatile long lastReceiveNanos = System.nanoTime();
    private final Map<Long, CompletableFuture<Long>> pings = new HashMap<>();
    private long pingSeq;

    private final CompletableFuture<Hello> ready = new CompletableFuture<>();
    private final CompletableFuture<Void> terminated = new CompletableFuture<>();
    private ScheduledFuture<?> keepalive;

    private Mux(Transport transport, Role role, MuxConfig config, Acceptor acceptor) {
        this.transport = transport;
        this.role = role;
        this.config = config;
        this.acceptor = acceptor;
        this.name = "mux-" + SEQ.incrementAndGet() + "-" + role.name().toLowerCase();
        this.nextStreamId = role == Role.CLIENT ? 1 : 2;
        this.connRecvRemaining = config.connectionWindow();
        AtomicInteger n = new AtomicInteger();
        this.acceptPool = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, name + "-accept-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Starts a mux over {@code transport}: sends our hello at once and begins reading.
     * Use {@link #awaitReady} before opening streams.
     */
    public static Mux start(Transport transport, Role role, MuxConfig config, Acceptor acceptor) {
        Mux mux = new Mux(transport, role, config, acceptor);
        Hello hello = Hello.newBuilder()
                .setMajor(Limits.MAJOR).setMinor(Limits.MINOR)
                .addAllFeatures(config.features())
                .setAgent(config.agent()).setArch(config.arch())
                .setStreamWindow(config.streamWindow())
                .setConnectionWindow(config.connectionWindow())
                .build();
        synchronized (mux.lock) {
            mux.control.add(Frame.of(FrameType.HELLO, 0, 0, hello.toByteArray()));
        }
        Thread reader = new Thread(mux::readLoop, mux.name + "-reader");
        reader.setDaemon(true);
        Thread writer = new Thread(mux::writeLoop, mux.name + "-writer");
        writer.setDaemon(true);
        writer.start();
        reader.start();
        long interval = config.keepaliveInterval().toMillis();
        mux.keepalive = TIMER.scheduleWithFixedDelay(mux::keepaliveTick, interval, interval, TimeUnit.MILLISECONDS);
        TIMER.schedule(() -> {
            if (!mux.ready.isDone()) {
                mux.fail(new IOException("no hello from " + transport.describe() + " within " + config.helloTimeout().toSeconds() + " s: is the peer a tetherd?"));
            }
        }, config.helloTimeout().toMillis(), TimeUnit.MILLISECONDS);
        return mux;
    }

    public MuxConfig config() { return config; }

    public Transport transport() { return transport; }

    /** The peer's hello, once agreed; fails if the versions differ or the connection drops first. */
    public Hello awaitReady() throws IOException {
        try {
            return ready.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException();
        } catch (java.util.concurrent.ExecutionException e) {
            Throwable c = e.getCause();
            throw c instanceof IOException io ? io : new IOException(c);
        }
    }

    public CompletableFuture<Hello> ready() { return ready; }

    /** Completes when the connection is gone; exceptionally if it failed rather than shut down. */
    public CompletableFuture<Void> terminated() { return terminated; }

    public boolean isOpen() {
        synchronized (lock) { return failure == null && !closing; }
    }

    /** Opens a stream to the peer, announcing what it is for. */
    public MuxStream open(StreamOpen open) throws IOException {
        awaitReady();
        byte[] payload = open.toByteArray();
        if (payload.length > Limits.MAX_PAYLOAD) {
            throw new IOException("stream open of " + payload.length + " bytes exceeds the frame limit " + Limits.MAX_PAYLOAD);
        }
        synchronized (lock) {
            checkOpen();
            if (peerGoAway != null) {
                throw new IOException("peer is going away: " + peerGoAway.getReason());
            }
            int id = nextStreamId;
            if (id < 0) throw new IOException("stream ids exhausted");
            nextStreamId += 2;
            MuxStream s = new MuxStream(this, id, peerHello.getStreamWindow(), config.streamWindow());
            streams.put(id, s);
            control.add(Frame.of(FrameType.OPEN, 0, id, payload));
            lock.notifyAll();
            return s;
        }
    }

    /** Round trip of a PING, in nanoseconds. */
    public CompletableFuture<Long> ping() {
        CompletableFuture<Long> f = new CompletableFuture<>();
        synchronized (lock) {
            if (failure != null) {
                f.completeExceptionally(failure);
                return f;
            }
            long seq = ++pingSeq;
            long start = System.nanoTime();
            pings.put(seq, f);
            byte[] p = ByteBuffer.allocate(16).putLong(seq).putLong(start).array();
            enqueueControl(Frame.of(FrameType.PING, 0, 0, p));
        }
        return f;
    }

    /** Tells the peer no new streams will be accepted; existing streams run to their end. */
    public void goAway(ResetCode code, String reason) {
        synchronized (lock) {
            if (localGoAway || failure != null) return;
            localGoAway = true;
            enqueueControl(Frame.of(FrameType.GOAWAY, 0, 0, GoAway.newBuilder()
                    .setLastStreamId(lastPeerStreamId).setCode(code.getNumber()).setReason(reason).build().toByteArray()));
        }
    }

    /** Number of live streams. */
    public int streamCount() {
        synchronized (lock) { return streams.size(); }
    }

    /** Orderly shutdown: go-away, flush what is queued (bounded wait), then close the transport. */
    @Override
    public void close() {
        goAway(ResetCode.RESET_SHUTDOWN, "closing");
        synchronized (lock) {
            closing = true;
            lock.notifyAll();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
            while (failure == null && !(control.isEmpty() && data.isEmpty())) {
                long left = deadline - System.nanoTime();
                if (left <= 0) break;
                try {
                    TimeUnit.NANOSECONDS.timedWait(lock, left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
        }
        fail(new IOException("connection closed"), true);
    }

    // ---- shared with MuxStream (lock held) ----

    void checkOpen() throws IOException {
        if (failure != null) throw failure;
    }

    long connectionSendCredit() { return connSendCredit; }

    void takeConnectionCredit(int n) { connSendCredit -= n; }

    void enqueueControl(Frame f) {
        if (failure != null) {
            f.release();
            return;
        }
        control.add(f);
        lock.notifyAll();
    }

    void enqueueData(Frame f) {
        if (failure != null) {
            f.release();
            return;
        }
        data.add(f);
        lock.notifyAll();
    }

    void forget(MuxStream s) {
        streams.remove(s.id(), s);
        lock.notifyAll();
    }

    static Frame windowFrame(int streamId, int increment) {
        return Frame.of(FrameType.WINDOW, 0, streamId, ByteBuffer.allocate(4).putInt(increment).array());
    }

    // ---- threads ----

    private void writeLoop() {
        byte[] scratch = new byte[4 + Limits.MAX_FRAME_LENGTH];
        try (OutputStream out = new BufferedOutputStream(transport.output(), 64 * 1024)) {
            while (true) {
                Frame f;
                synchronized (lock) {
                    while (control.isEmpty() && data.isEmpty() && failure == null) {
                        lock.notifyAll(); // wake close() waiting for the queues to drain
                        lock.wait();
                    }
                    if (failure != null) return;
                    f = control.isEmpty() ? data.poll() : control.poll();
                }
                try {
                    FrameCodec.encode(f, out, scratch);
                } finally {
                    f.release();
                }
                boolean idle;
                synchronized (lock) {
                    idle = control.isEmpty() && data.isEmpty();
                }
                if (idle) out.flush();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            fail(new IOException("write to " + transport.describe() + " failed: " + e.getMessage(), e), false);
        }
    }

    private void readLoop() {
        InputStream in = transport.input();
        byte[] buf = new byte[64 * 1024];
        try (FrameCodec codec = new FrameCodec()) {
            while (true) {
                int n = in.read(buf);
                if (n < 0) {
                    boolean clean;
                    synchronized (lock) {
                        clean = peerGoAway != null || closing;
                    }
                    fail(new IOException(clean ? "connection closed" : "connection to " + transport.describe() + " lost (end of stream)"), clean);
                    return;
                }
                lastReceiveNanos = System.nanoTime();
                List<Frame> frames = codec.feed(Unpooled.copiedBuffer(buf, 0, n));
                for (int i = 0; i < frames.size(); i++) {
                    try {
                        handle(frames.get(i));
                    } catch (ProtocolException e) {
                        for (int j = i + 1; j < frames.size(); j++) frames.get(j).release();
                        throw e;
                    }
                }
            }
        } catch (ProtocolException e) {
            log.warn("{}: protocol error from {}: {}", name, transport.describe(), e.getMessage());
            protocolError(e);
        } catch (IOException e) {
            boolean clean;
            synchronized (lock) {
                clean = closing || failure != null;
            }
            fail(new IOException("read from " + transport.describe() + " failed: " + e.getMessage(), e), clean);
        } catch (RuntimeException e) {
            log.error("{}: reader crashed", name, e);
            fail(new IOException("internal error: " + e, e), false);
        }
    }

    private void protocolError(ProtocolException e) {
        synchronized (lock) {
            if (failure == null) {
                // Best effort: tell the peer why before dropping the connection.
                control.clear();
                data.forEach(Frame::release);
                data.clear();
                control.add(Frame.of(FrameType.GOAWAY, 0, 0, GoAway.newBuilder().setLastStreamId(lastPeerStreamId)
                        .setCode(ResetCode.RESET_PROTOCOL_ERROR_VALUE).setReason(truncate(e.getMessage())).build().toByteArray()));
                lock.notifyAll();
            }
        }
        // Give the writer a moment to send the go-away.
        try {
            Thread.sleep(50);
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
        }
        fail(new IOException("protocol error: " + e.getMessage(), e), false);
    }

    private void keepaliveTick() {
        long idle = System.nanoTime() - lastReceiveNanos;
        if (idle > config.idleTimeout().toNanos()) {
            fail(new IOException("peer " + transport.describe() + " unresponsive for " + TimeUnit.NANOSECONDS.toSeconds(idle) + " s"), false);
        } else if (idle > config.keepaliveInterval().toNanos() / 2) {
            ping();
        }
    }

    private void handle(Frame f) throws ProtocolException {
        synchronized (lock) {
            if (peerHello == null && f.type() != FrameType.HELLO) {
                f.release();
                throw new ProtocolException("expected HELLO, got " + f.type());
            }
            switch (f.type()) {
                case HELLO -> onHello(f);
                case OPEN -> onOpen(f);
                case MESSAGE -> onMessage(f);
                case DATA -> onData(f);
                case WINDOW -> onWindow(f);
                case RESET -> onReset(f);
                case GOAWAY -> onGoAway(f);
                case PING -> onPing(f);
            }
        }
    }

    private void onHello(Frame f) throws ProtocolException {
        if (peerHello != null) {
            f.release();
            throw new ProtocolException("second HELLO");
        }
        Hello h = parse(f, Hello.parser());
        if (h.getMajor() != Limits.MAJOR) {
            String why = "peer " + h.getAgent() + " speaks protocol " + h.getMajor() + "." + h.getMinor()
                    + ", this side " + Limits.MAJOR + "." + Limits.MINOR + ": upgrade the older side";
            control.clear();
            control.add(Frame.of(FrameType.GOAWAY, 0, 0, GoAway.newBuilder().setCode(ResetCode.RESET_VERSION_VALUE)
                    .setReason(why).build().toByteArray()));
            lock.notifyAll();
            IOException e = new IOException("version mismatch: " + why);
            ready.completeExceptionally(e);
            TIMER.schedule(() -> fail(e, false), 100, TimeUnit.MILLISECONDS);
            peerHello = h; // stop treating later frames as "before hello"
            return;
        }
        if (h.getStreamWindow() < Limits.DATA_CHUNK || h.getConnectionWindow() < h.getStreamWindow()) {
            throw new ProtocolException("peer windows too small: stream " + h.getStreamWindow() + ", connection " + h.getConnectionWindow());
        }
        peerHello = h;
        connSendCredit = h.getConnectionWindow();
        lock.notifyAll();
        ready.complete(h);
    }

    private void onOpen(Frame f) throws ProtocolException {
        int id = f.streamId();
        boolean peerParity = (id % 2 == 1) == (role == Role.SERVER);
        if (id == 0 || !peerParity || id <= lastPeerStreamId) {
            f.release();
            throw new ProtocolException("bad stream id " + id + " in OPEN");
        }
        lastPeerStreamId = id;
        StreamOpen open;
        try {
            open = StreamOpen.parseFrom(f.takeBytes());
        } catch (InvalidProtocolBufferException e) {
            enqueueControl(resetFrame(id, ResetCode.RESET_PROTOCOL_ERROR, "malformed stream open: " + e.getMessage()));
            return;
        }
        if (localGoAway || closing) {
            enqueueControl(resetFrame(id, ResetCode.RESET_REFUSED, "going away"));
            return;
        }
        MuxStream s = new MuxStream(this, id, peerHello.getStreamWindow(), config.streamWindow());
        streams.put(id, s);
        if (acceptor == null) {
            s.reset(ResetCode.RESET_REFUSED, "this side accepts no streams");
            return;
        }
        acceptPool.execute(() -> {
            try {
                acceptor.accept(s, open);
            } catch (Exception | Error e) {
                log.warn("{}: stream {} handler failed", name, id, e);
                s.reset(ResetCode.RESET_INTERNAL, truncate(String.valueOf(e.getMessage())));
            }
        });
    }

    private void onMessage(Frame f) throws ProtocolException {
        MuxStream s = streams.get(f.streamId());
        boolean end = f.has(Frame.FLAG_END);
        byte[] bytes = f.takeBytes();
        if (s != null) s.onMessage(bytes, end);
    }

    private void onData(Frame f) throws ProtocolException {
        int n = f.payload().readableBytes();
        if (n > connRecvRemaining) {
            f.release();
            throw new ProtocolException("peer exceeded the connection window (" + n + " > " + connRecvRemaining + ")");
        }
        connRecvRemaining -= n;
        connRecvConsumed += n;
        if (connRecvConsumed >= config.connectionWindow() / 2) {
            connRecvRemaining += connRecvConsumed;
            enqueueControl(windowFrame(0, connRecvConsumed));
            connRecvConsumed = 0;
        }
        MuxStream s = streams.get(f.streamId());
        if (s == null) {
            f.release(); // late data for a stream already reset: harmless
            return;
        }
        if (!s.onData(f.payload(), f.has(Frame.FLAG_END))) {
            s.reset(ResetCode.RESET_FLOW_CONTROL, "peer exceeded the stream window");
        }
    }

    private void onWindow(Frame f) throws ProtocolException {
        ByteBuf p = f.payload();
        if (p.readableBytes() != 4) {
            f.release();
            throw new ProtocolException("WINDOW payload of " + p.readableBytes() + " bytes");
        }
        int inc = p.getInt(p.readerIndex());
        f.release();
        if (inc <= 0) throw new ProtocolException("WINDOW increment " + inc);
        if (f.streamId() == 0) {
            connSendCredit += inc;
            if (connSendCredit > Integer.MAX_VALUE) throw new ProtocolException("connection window overflow");
            lock.notifyAll();
        } else {
            MuxStream s = streams.get(f.streamId());
            if (s != null) {
                s.onWindow(inc);
                if (s.sendCredit > Integer.MAX_VALUE) throw new ProtocolException("stream window overflow");
            }
        }
    }

    private void onReset(Frame f) throws ProtocolException {
        Reset r = parse(f, Reset.parser());
        MuxStream s = streams.get(f.streamId());
        if (s != null) s.markReset(new StreamResetException(r.getCode(), r.getReason(), true));
    }

    private void onGoAway(Frame f) throws ProtocolException {
        GoAway g = parse(f, GoAway.parser());
        peerGoAway = g;
        int code = g.getCode();
        if (code != ResetCode.RESET_SHUTDOWN_VALUE) {
            log.warn("{}: peer {} is going away: {} ({})", name, transport.describe(), g.getReason(), ResetCode.forNumber(code));
            IOException e = new IOException("peer went away: " + g.getReason());
            if (!ready.isDone()) ready.completeExceptionally(e);
        }
        // Streams we opened that the peer will never see get a local reset.
        for (MuxStream s : new ArrayList<>(streams.values())) {
            boolean ours = (s.id() % 2 == 1) == (role == Role.CLIENT);
            if (ours && s.id() > g.getLastStreamId() && code != ResetCode.RESET_SHUTDOWN_VALUE) {
                s.markReset(new StreamResetException(ResetCode.RESET_REFUSED, g.getReason(), true));
            }
        }
    }

    private void onPing(Frame f) {
        if (f.has(Frame.FLAG_ACK)) {
            ByteBuf p = f.payload();
            if (p.readableBytes() == 16) {
                CompletableFuture<Long> done = pings.remove(p.getLong(p.readerIndex()));
                if (done != null) done.complete(System.nanoTime() - p.getLong(p.readerIndex() + 8));
            }
            f.release();
        } else {
            enqueueControl(Frame.of(FrameType.PING, Frame.FLAG_ACK, 0, f.takeBytes()));
        }
    }

    private static <T> T parse(Frame f, com.google.protobuf.Parser<T> parser) throws ProtocolException {
        FrameType type = f.type();
        try {
            return parser.parseFrom(f.takeBytes());
        } catch (InvalidProtocolBufferException e) {
            throw new ProtocolException("malformed " + type + ": " + e.getMessage(), e);
        }
    }

    private static Frame resetFrame(int id, ResetCode code, String reason) {
        return Frame.of(FrameType.RESET, 0, id, Reset.newBuilder().setCode(code).setReason(truncate(reason)).build().toByteArray());
    }

    private static String truncate(String s) {
        return s.length() > 1000 ? s.substring(0, 1000) : s;
    }

    private void fail(IOException cause) {
        fail(cause, false);
    }

    /** Ends the connection: every stream is reset locally, waiters wake, the transport closes. */
    private void fail(IOException cause, boolean clean) {
        List<MuxStream> live;
        synchronized (lock) {
            if (failure != null) return;
            failure = cause;
            live = new ArrayList<>(streams.values());
            for (MuxStream s : live) {
                s.markReset(new StreamResetException(ResetCode.RESET_CANCEL, cause.getMessage(), false));
            }
            control.forEach(Frame::release);
            control.clear();
            data.forEach(Frame::release);
            data.clear();
            pings.values().forEach(p -> p.completeExceptionally(cause));
            pings.clear();
            lock.notifyAll();
        }
        if (!clean) log.debug("{}: connection ended: {}", name, cause.getMessage());
        if (keepalive != null) keepalive.cancel(false);
        try {
            transport.close();
        } catch (IOException e) {
            log.debug("{}: closing transport: {}", name, e.getMessage());
        }
        acceptPool.shutdown();
        ready.completeExceptionally(cause);
        if (clean) terminated.complete(null); else terminated.completeExceptionally(cause);
    }
}
