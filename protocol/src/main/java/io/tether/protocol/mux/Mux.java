package io.tether.protocol.mux;

import com.google.protobuf.InvalidProtocolBufferException;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
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
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The multiplexer: many {@link MuxStream}s over one {@link Transport}.
 *
 * <p>Threads: one reader (decodes and dispatches, never blocks on an application), one
 * writer (control frames first, then bulk DATA chunks taken round-robin from the streams),
 * and a shared timer for keepalive. Streams opened by the peer are handed to the
 * {@link Acceptor} on a cached pool. Futures handed out complete on a callback pool, never
 * under the lock nor on the reader, writer or timer thread, so a dependent that blocks stalls
 * nothing. When the connection ends, {@link #ready()} and {@link #terminated()} are done
 * before the streams are reset: a stream that fails with the connection finds
 * {@link #terminated()} already done.
 *
 * <p>Flow control: each stream's receive credit (DATA bytes, and MESSAGE bytes plus
 * {@link #MESSAGE_OVERHEAD}) is returned as the application reads, bounding each stream's
 * buffer; connection credit (DATA only) is returned as the reader thread demultiplexes, so a
 * stalled stream cannot starve the others while the peer still never has more than the
 * connection window in flight.
 *
 * <p>Shutdown: {@link #goAway} refuses new peer streams and lets live ones finish;
 * {@link #shutdown(Duration)} waits for them; {@link #close()} flushes what is queued and
 * drops the connection. A protocol error or a version mismatch sends the peer a GOAWAY
 * saying why, then drops the connection.
 */
public final class Mux implements Closeable {
    private static final Logger log = LoggerFactory.getLogger(Mux.class);
    private static final ScheduledExecutorService TIMER = timer();
    /** Completes futures and runs slow work off the reader, writer and timer threads. */
    static final ExecutorService CALLBACKS = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "mux-callback");
        t.setDaemon(true);
        return t;
    });
    private static final AtomicInteger SEQ = new AtomicInteger();

    private static ScheduledExecutorService timer() {
        ScheduledThreadPoolExecutor t = new ScheduledThreadPoolExecutor(1, r -> {
            Thread thread = new Thread(r, "mux-timer");
            thread.setDaemon(true);
            return thread;
        });
        // A cancelled hello or drain timer must not keep its mux (and its buffers) alive until it would have fired.
        t.setRemoveOnCancelPolicy(true);
        return t;
    }
    /** Credit a MESSAGE costs beyond its payload, so empty messages cannot be queued unboundedly. */
    public static final int MESSAGE_OVERHEAD = 32;
    /** Live streams at most; the peer's further OPENs are refused. */
    public static final int MAX_STREAMS = 4096;
    /** PING answers waiting to be written; more pings from the peer are ignored (a flood). */
    private static final int MAX_PENDING_PING_ACKS = 64;
    /** How long queued frames may take to drain before the connection is dropped anyway. */
    private static final Duration DRAIN_TIMEOUT = Duration.ofSeconds(2);

    public enum Role { CLIENT, SERVER }

    /** Handles a stream the peer opened. Runs on a pool thread; may block. */
    @FunctionalInterface
    public interface Acceptor {
        void accept(MuxStream stream, StreamOpen open) throws Exception;
    }

    final ReentrantLock lock = new ReentrantLock();
    /** The writer waits here for frames; each stream waits on its own condition. */
    private final Condition writerWake = lock.newCondition();
    /** Streams finished or the connection ended: for {@link #shutdown}. */
    private final Condition changed = lock.newCondition();
    /** Streams whose writer waits for connection (not stream) credit. */
    private final java.util.Set<MuxStream> connWaiters = new java.util.LinkedHashSet<>();
    private final Transport transport;
    private final Role role;
    private final MuxConfig config;
    /** Null: streams the peer opens are refused. Set once at start, or later by {@link #acceptWith} (a client that accepts some). */
    private volatile Acceptor acceptor;
    private final ExecutorService acceptPool;
    private final String name;
    private final int major;

    private final Map<Integer, MuxStream> streams = new HashMap<>();
    private final ArrayDeque<Frame> control = new ArrayDeque<>();
    /** Streams with DATA frames queued, served round-robin one frame at a time. */
    private final ArrayDeque<MuxStream> sendable = new ArrayDeque<>();
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
    /** Set when the connection is ending: the writer sends what is queued, then fails with it. */
    private IOException drainCause;
    private boolean drainClean;
    /** Set on a fatal error being reported to the peer: new frames are dropped, frames from the peer ignored. */
    private boolean discarding;
    private int pendingPingAcks;
    private volatile long lastReceiveNanos = System.nanoTime();
    private final Map<Long, CompletableFuture<Long>> pings = new HashMap<>();
    private long pingSeq;

    private final CompletableFuture<Hello> ready = new CompletableFuture<>();
    private final CompletableFuture<Void> terminated = new CompletableFuture<>();
    private final CountDownLatch transportClosed = new CountDownLatch(1);
    private volatile ScheduledFuture<?> keepalive;
    private volatile ScheduledFuture<?> helloTimer;
    private ScheduledFuture<?> drainTimer;
    private volatile Thread readerThread;
    /** Reader thread only: streams whose message listener must run once the frame in hand is handled. */
    private final List<MuxStream> toNotify = new ArrayList<>();
    /** Reader thread only: handling a frame, so {@link #toNotify} is run after it. */
    private boolean handling;

    private Mux(Transport transport, Role role, MuxConfig config, Acceptor acceptor, int major) {
        this.transport = transport;
        this.role = role;
        this.config = config;
        this.acceptor = acceptor;
        this.major = major;
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
        return start(transport, role, config, acceptor, Limits.MAJOR);
    }

    /** As {@link #start(Transport, Role, MuxConfig, Acceptor)}, claiming another major version (tests). */
    static Mux start(Transport transport, Role role, MuxConfig config, Acceptor acceptor, int major) {
        Mux mux = new Mux(transport, role, config, acceptor, major);
        Hello hello = Hello.newBuilder()
                .setMajor(major).setMinor(Limits.MINOR)
                .addAllFeatures(config.features())
                .setAgent(config.agent()).setArch(config.arch())
                .setStreamWindow(config.streamWindow())
                .setConnectionWindow(config.connectionWindow())
                .build();
        mux.lock.lock();
        try {
            mux.control.add(Frame.of(FrameType.HELLO, 0, 0, hello.toByteArray()));
        } finally {
            mux.lock.unlock();
        }
        // Timers first: a connection that fails at once must find them to cancel.
        long interval = config.keepaliveInterval().toMillis();
        mux.keepalive = TIMER.scheduleWithFixedDelay(mux::keepaliveTick, interval, interval, TimeUnit.MILLISECONDS);
        mux.helloTimer = TIMER.schedule(() -> {
            if (!mux.ready.isDone()) {
                mux.failAsync(new IOException("no hello from " + transport.describe() + " within "
                        + config.helloTimeout().toMillis() + " ms: is the peer a tetherd?"), false);
            }
        }, config.helloTimeout().toMillis(), TimeUnit.MILLISECONDS);
        Thread reader = new Thread(mux::readLoop, mux.name + "-reader");
        reader.setDaemon(true);
        mux.readerThread = reader;
        Thread writer = new Thread(mux::writeLoop, mux.name + "-writer");
        writer.setDaemon(true);
        writer.start();
        reader.start();
        return mux;
    }

    /** Keepalive, hello and drain timers pending over all muxes (tests: ended muxes leave none). */
    static int pendingTimers() {
        return ((ScheduledThreadPoolExecutor) TIMER).getQueue().size();
    }

    public MuxConfig config() { return config; }

    /**
     * Accepts the streams the peer opens from now on with {@code a} (a client started without an acceptor
     * that learns, per run, which daemon-opened streams it serves: host execs). Earlier opens were refused.
     */
    public void acceptWith(Acceptor a) { acceptor = a; }

    /** Features both sides announced, in our order; empty until the hellos are exchanged. */
    public List<String> features() {
        lock.lock();
        try {
            if (peerHello == null) return List.of();
            return config.features().stream().filter(peerHello.getFeaturesList()::contains).toList();
        } finally {
            lock.unlock();
        }
    }

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
        lock.lock();
        try {
            return failure == null && drainCause == null && !closing;
        } finally {
            lock.unlock();
        }
    }

    /** Opens a stream to the peer, announcing what it is for. */
    public MuxStream open(StreamOpen open) throws IOException {
        awaitReady();
        byte[] payload = open.toByteArray();
        if (payload.length > Limits.MAX_PAYLOAD) {
            throw new IOException("stream open of " + payload.length + " bytes exceeds the frame limit " + Limits.MAX_PAYLOAD);
        }
        lock.lock();
        try {
            checkOpen();
            if (drainCause != null) throw new IOException("connection is closing");
            if (peerGoAway != null) {
                throw new IOException("peer is going away: " + peerGoAway.getReason());
            }
            int id = nextStreamId;
            if (id < 0) throw new IOException("stream ids exhausted");
            nextStreamId += 2;
            MuxStream s = new MuxStream(this, id, peerHello.getStreamWindow(), config.streamWindow());
            streams.put(id, s);
            enqueueControl(Frame.of(FrameType.OPEN, 0, id, payload));
            return s;
        } finally {
            lock.unlock();
        }
    }

    /** Round trip of a PING, in nanoseconds. */
    public CompletableFuture<Long> ping() {
        CompletableFuture<Long> f = new CompletableFuture<>();
        lock.lock();
        try {
            if (failure != null || discarding) {
                IOException cause = failure != null ? failure : drainCause;
                CALLBACKS.execute(() -> f.completeExceptionally(cause));
                return f;
            }
            long seq = ++pingSeq;
            long start = System.nanoTime();
            pings.put(seq, f);
            byte[] p = ByteBuffer.allocate(16).putLong(seq).putLong(start).array();
            enqueueControl(Frame.of(FrameType.PING, 0, 0, p));
        } finally {
            lock.unlock();
        }
        return f;
    }

    /** Tells the peer no new streams will be accepted; existing streams run to their end. */
    public void goAway(ResetCode code, String reason) {
        lock.lock();
        try {
            if (localGoAway || failure != null || discarding) return;
            localGoAway = true;
            enqueueControl(Frame.of(FrameType.GOAWAY, 0, 0, GoAway.newBuilder()
                    .setLastStreamId(lastPeerStreamId).setCode(code.getNumber()).setReason(truncate(reason)).build().toByteArray()));
        } finally {
            lock.unlock();
        }
    }

    @Override
    public String toString() {
        lock.lock();
        try {
            return name + "[" + transport.describe() + " connSendCredit=" + connSendCredit + " connRecvRemaining=" + connRecvRemaining
                    + " control=" + control.size() + " sendable=" + sendable.size() + " streams=" + streams.values()
                    + (failure != null ? " failed: " + failure.getMessage() : "") + "]";
        } finally {
            lock.unlock();
        }
    }

    /** Number of live streams. */
    public int streamCount() {
        lock.lock();
        try {
            return streams.size();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Graceful end: go-away, wait (at most {@code grace}) until every live stream has finished,
     * then {@link #close()}. Returns whether all streams finished in time.
     */
    public boolean shutdown(Duration grace) {
        goAway(ResetCode.RESET_SHUTDOWN, "shutting down");
        boolean done;
        lock.lock();
        try {
            long deadline = System.nanoTime() + grace.toNanos();
            while (failure == null && !streams.isEmpty()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) break;
                try {
                    changed.awaitNanos(left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            done = streams.isEmpty();
        } finally {
            lock.unlock();
        }
        close();
        return done;
    }

    /**
     * Orderly close: go-away, flush what is queued (bounded wait), then close the transport.
     * Live streams are reset locally; the peer sees the end of the connection after our go-away.
     */
    @Override
    public void close() {
        goAway(ResetCode.RESET_SHUTDOWN, "closing");
        lock.lock();
        try {
            closing = true;
            startDrain(new IOException("connection closed"), true);
        } finally {
            lock.unlock();
        }
        try {
            if (!transportClosed.await(DRAIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                fail(new IOException("connection closed"), true);
                transportClosed.await(DRAIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            fail(new IOException("connection closed"), true);
        }
    }

    // ---- shared with MuxStream (lock held) ----

    /** Runs {@code s}'s message listener soon: after the frame the reader handles now, else on a callback thread. */
    void notifyLater(MuxStream s) {
        if (handling && Thread.currentThread() == readerThread) {
            if (!toNotify.contains(s)) toNotify.add(s);
        } else {
            CALLBACKS.execute(s::notifyListener);
        }
    }

    void checkOpen() throws IOException {
        if (failure != null) throw failure;
        if (discarding) throw drainCause;
    }

    long connectionSendCredit() { return connSendCredit; }

    void takeConnectionCredit(int n) { connSendCredit -= n; }

    /** Credit of DATA frames that were queued but will never be sent (their stream was reset). */
    void returnConnectionCredit(int n) {
        connSendCredit += n;
        connectionCreditChanged();
    }

    void enqueueControl(Frame f) {
        if (failure != null || discarding) {
            f.release();
            return;
        }
        control.add(f);
        writerWake.signal();
    }

    /** Queues a frame behind the stream's earlier DATA; the stream is served round-robin with the others. */
    void enqueueData(MuxStream s, Frame f) {
        if (failure != null || discarding) {
            f.release();
            return;
        }
        s.outFrames.add(f);
        if (!s.scheduled) {
            s.scheduled = true;
            sendable.add(s);
        }
        writerWake.signal();
    }

    /** Drops a stream's queued frames (it was reset). */
    void unschedule(MuxStream s) {
        if (s.scheduled) {
            sendable.remove(s);
            s.scheduled = false;
        }
    }

    /** Lock held. {@code s} cannot write until the connection window grows. */
    void awaitConnectionCredit(MuxStream s) {
        connWaiters.add(s);
    }

    private void connectionCreditChanged() {
        if (connSendCredit <= 0 || connWaiters.isEmpty()) return;
        for (MuxStream s : connWaiters) s.wake();
        connWaiters.clear();
    }

    void forget(MuxStream s) {
        streams.remove(s.id(), s);
        connWaiters.remove(s);
        changed.signalAll();
    }

    static Frame windowFrame(int streamId, int increment) {
        return Frame.of(FrameType.WINDOW, 0, streamId, ByteBuffer.allocate(4).putInt(increment).array());
    }

    // ---- threads ----

    private Frame pollData() {
        MuxStream s = sendable.poll();
        Frame f = s.outFrames.poll();
        if (s.outFrames.isEmpty()) {
            s.scheduled = false;
        } else {
            sendable.add(s);
        }
        return f;
    }

    private void writeLoop() {
        byte[] scratch = new byte[4 + Limits.MAX_FRAME_LENGTH];
        OutputStream out = new BufferedOutputStream(transport.output(), 64 * 1024);
        boolean dirty = false;
        try {
            while (true) {
                Frame f = null;
                IOException finish = null;
                boolean finishClean = false;
                lock.lock();
                try {
                    while (true) {
                        if (failure != null) return;
                        if (!control.isEmpty()) {
                            f = control.poll();
                            if (f.type() == FrameType.PING && f.has(Frame.FLAG_ACK)) pendingPingAcks--;
                            break;
                        }
                        if (!sendable.isEmpty()) {
                            f = pollData();
                            break;
                        }
                        if (dirty) break; // flush before sleeping
                        if (drainCause != null) {
                            finish = drainCause;
                            finishClean = drainClean;
                            break;
                        }
                        writerWake.await();
                    }
                } finally {
                    lock.unlock();
                }
                if (f != null) {
                    try {
                        FrameCodec.encode(f, out, scratch);
                        dirty = true;
                    } finally {
                        f.release();
                    }
                } else if (dirty) {
                    out.flush();
                    dirty = false;
                } else if (finish != null) {
                    fail(finish, finishClean);
                    return;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            fail(new IOException("writer interrupted"), false);
        } catch (IOException e) {
            boolean clean;
            lock.lock();
            try {
                clean = failure != null || (drainCause != null && drainClean);
            } finally {
                lock.unlock();
            }
            fail(new IOException("write to " + transport.describe() + " failed: " + e.getMessage(), e), clean);
        } catch (Throwable e) {
            log.error("{}: writer crashed", name, e);
            fail(new IOException("internal error: " + e, e), false);
        }
    }

    private void readLoop() {
        InputStream in = transport.input();
        ByteBufAllocator alloc = ByteBufAllocator.DEFAULT;
        try (FrameCodec codec = new FrameCodec()) {
            while (true) {
                ByteBuf buf = alloc.heapBuffer(64 * 1024);
                int n;
                try {
                    n = buf.writeBytes(in, buf.writableBytes());
                } catch (IOException | RuntimeException e) {
                    buf.release();
                    throw e;
                }
                if (n < 0) {
                    buf.release();
                    boolean clean;
                    lock.lock();
                    try {
                        clean = peerGoAway != null || closing || failure != null;
                    } finally {
                        lock.unlock();
                    }
                    fail(new IOException(clean ? "connection closed" : "connection to " + transport.describe() + " lost (end of stream)"), clean);
                    return;
                }
                if (n == 0) {
                    buf.release();
                    continue;
                }
                lastReceiveNanos = System.nanoTime();
                List<Frame> frames = codec.feed(buf);
                for (int i = 0; i < frames.size(); i++) {
                    try {
                        handling = true;
                        try {
                            handle(frames.get(i));
                        } finally {
                            handling = false;
                        }
                        // Off the lock: the listener takes the messages it was told of.
                        for (int k = 0; k < toNotify.size(); k++) toNotify.get(k).notifyListener();
                        toNotify.clear();
                    } catch (Throwable e) {
                        for (int j = i + 1; j < frames.size(); j++) frames.get(j).release();
                        throw e;
                    }
                }
                lock.lock();
                try {
                    if (discarding || failure != null) return;
                } finally {
                    lock.unlock();
                }
            }
        } catch (ProtocolException e) {
            log.warn("{}: protocol error from {}: {}", name, transport.describe(), e.getMessage());
            protocolError(e);
        } catch (IOException e) {
            boolean clean;
            lock.lock();
            try {
                clean = closing || failure != null;
            } finally {
                lock.unlock();
            }
            fail(new IOException("read from " + transport.describe() + " failed: " + e.getMessage(), e), clean);
        } catch (Throwable e) {
            log.error("{}: reader crashed", name, e);
            fail(new IOException("internal error: " + e, e), false);
        }
    }

    /** Tells the peer why (best effort, bounded), then drops the connection. */
    private void protocolError(ProtocolException e) {
        sendFatal(ResetCode.RESET_PROTOCOL_ERROR, e.getMessage(), new IOException("protocol error: " + e.getMessage(), e));
    }

    /**
     * Stops all traffic but our hello (if not yet written) and a GOAWAY with {@code code},
     * fails {@link #ready} at once, and drops the connection once the GOAWAY is written.
     */
    private void sendFatal(ResetCode code, String reason, IOException cause) {
        lock.lock();
        try {
            if (failure != null || discarding) return;
            List<Frame> keep = new ArrayList<>();
            for (Frame f : control) {
                if (f.type() == FrameType.HELLO) keep.add(f); else f.release();
            }
            control.clear();
            control.addAll(keep);
            for (MuxStream s : sendable) s.dropQueued();
            sendable.clear();
            control.add(Frame.of(FrameType.GOAWAY, 0, 0, GoAway.newBuilder().setLastStreamId(lastPeerStreamId)
                    .setCode(code.getNumber()).setReason(truncate(reason)).build().toByteArray()));
            discarding = true;
            startDrain(cause, false);
        } finally {
            lock.unlock();
        }
        CALLBACKS.execute(() -> ready.completeExceptionally(cause));
    }

    /** Lock held. The writer fails the connection with {@code cause} once the queues are empty. */
    private void startDrain(IOException cause, boolean clean) {
        if (failure != null || drainCause != null) return;
        drainCause = cause;
        drainClean = clean;
        writerWake.signal();
        changed.signalAll();
        // The writer may be stuck on a peer that does not read: bound the wait.
        drainTimer = TIMER.schedule(() -> failAsync(cause, clean), DRAIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void keepaliveTick() {
        long idle = System.nanoTime() - lastReceiveNanos;
        if (idle > config.idleTimeout().toNanos()) {
            failAsync(new IOException("peer " + transport.describe() + " unresponsive for "
                    + TimeUnit.NANOSECONDS.toMillis(idle) + " ms"), false);
        } else if (idle > config.keepaliveInterval().toNanos() / 2) {
            ping();
        }
    }

    private void handle(Frame f) throws ProtocolException {
        lock.lock();
        try {
            if (failure != null || discarding) {
                f.release();
                return;
            }
            if (peerHello == null && f.type() != FrameType.HELLO && f.type() != FrameType.GOAWAY) {
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
        } finally {
            lock.unlock();
        }
    }

    private void onHello(Frame f) throws ProtocolException {
        if (f.streamId() != 0) {
            f.release();
            throw new ProtocolException("HELLO on stream " + f.streamId());
        }
        if (peerHello != null) {
            f.release();
            throw new ProtocolException("second HELLO");
        }
        Hello h = parse(f, Hello.parser());
        if (h.getMajor() != major) {
            String why = "peer " + printable(h.getAgent()) + " speaks protocol " + h.getMajor() + "." + h.getMinor()
                    + ", this side (" + printable(config.agent()) + ") " + major + "." + Limits.MINOR + ": upgrade the older side";
            log.warn("{}: {}", name, why);
            sendFatal(ResetCode.RESET_VERSION, why, new IOException("version mismatch: " + why));
            return;
        }
        if (h.getStreamWindow() < Limits.DATA_CHUNK || h.getConnectionWindow() < h.getStreamWindow()) {
            throw new ProtocolException("peer windows too small: stream " + Integer.toUnsignedString(h.getStreamWindow())
                    + ", connection " + Integer.toUnsignedString(h.getConnectionWindow()));
        }
        peerHello = h;
        connSendCredit = h.getConnectionWindow();
        connectionCreditChanged();
        if (helloTimer != null) helloTimer.cancel(false);
        CALLBACKS.execute(() -> ready.complete(h));
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
        if (localGoAway || closing || drainCause != null) {
            enqueueControl(resetFrame(id, ResetCode.RESET_REFUSED, "going away"));
            return;
        }
        Acceptor acceptor = this.acceptor;
        if (acceptor == null) {
            enqueueControl(resetFrame(id, ResetCode.RESET_REFUSED, "this side accepts no streams"));
            return;
        }
        if (streams.size() >= MAX_STREAMS) {
            // Each accepted stream costs a handler thread: a runaway peer must not exhaust them.
            enqueueControl(resetFrame(id, ResetCode.RESET_REFUSED, "too many streams (" + MAX_STREAMS + ")"));
            return;
        }
        MuxStream s = new MuxStream(this, id, peerHello.getStreamWindow(), config.streamWindow());
        streams.put(id, s);
        acceptPool.execute(() -> {
            try {
                acceptor.accept(s, open);
            } catch (StreamResetException e) {
                log.debug("{}: stream {} handler ended by a reset: {}", name, id, e.getMessage());
            } catch (Exception | Error e) {
                log.warn("{}: stream {} handler failed", name, id, e);
                s.reset(ResetCode.RESET_INTERNAL, String.valueOf(e.getMessage()));
            }
        });
    }

    private void onMessage(Frame f) {
        MuxStream s = streams.get(f.streamId());
        boolean end = f.has(Frame.FLAG_END);
        if (s == null) {
            f.release(); // late message for a stream already gone: harmless
            return;
        }
        byte[] bytes = f.takeBytes();
        if (!s.onMessage(bytes, end)) {
            s.reset(ResetCode.RESET_FLOW_CONTROL, "peer sent messages beyond the stream window");
        }
        if (s.listening()) notifyLater(s);
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
        if (f.has(Frame.FLAG_END) && s.listening()) notifyLater(s); // the end of its messages too
    }

    private void onWindow(Frame f) throws ProtocolException {
        ByteBuf p = f.payload();
        if (p.readableBytes() != 4) {
            int len = p.readableBytes();
            f.release();
            throw new ProtocolException("WINDOW payload of " + len + " bytes");
        }
        int inc = p.getInt(p.readerIndex());
        f.release();
        if (inc <= 0) throw new ProtocolException("WINDOW increment " + Integer.toUnsignedString(inc));
        if (f.streamId() == 0) {
            connSendCredit += inc;
            if (connSendCredit > Integer.MAX_VALUE) throw new ProtocolException("connection window overflow");
            connectionCreditChanged();
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
        ResetCode code = r.getCode() == ResetCode.UNRECOGNIZED ? ResetCode.RESET_UNSPECIFIED : r.getCode();
        if (s != null) s.markReset(new StreamResetException(code, printable(r.getReason()), true));
    }

    private void onGoAway(Frame f) throws ProtocolException {
        GoAway g = parse(f, GoAway.parser());
        peerGoAway = g;
        int code = g.getCode();
        String reason = printable(g.getReason());
        // Streams we opened that the peer never saw will never be served.
        for (MuxStream s : new ArrayList<>(streams.values())) {
            boolean ours = (s.id() % 2 == 1) == (role == Role.CLIENT);
            if (ours && Integer.compareUnsigned(s.id(), g.getLastStreamId()) > 0) {
                s.markReset(new StreamResetException(ResetCode.RESET_REFUSED, "peer is going away: " + reason, true));
            }
        }
        if (code != ResetCode.RESET_SHUTDOWN_VALUE) {
            ResetCode rc = ResetCode.forNumber(code);
            String what = rc == null ? "code " + code : rc.name().toLowerCase().replace("reset_", "").replace('_', ' ');
            log.warn("{}: peer {} closed the connection: {}: {}", name, transport.describe(), what, reason);
            IOException e = rc == ResetCode.RESET_VERSION
                    ? new IOException("version mismatch: " + reason)
                    : new IOException("peer " + transport.describe() + " closed the connection: " + what + ": " + reason);
            // The peer drops the connection after this: make its reason ours.
            failAsync(e, false);
        }
    }

    private void onPing(Frame f) {
        if (f.has(Frame.FLAG_ACK)) {
            ByteBuf p = f.payload();
            if (p.readableBytes() == 16) {
                CompletableFuture<Long> done = pings.remove(p.getLong(p.readerIndex()));
                long rtt = System.nanoTime() - p.getLong(p.readerIndex() + 8);
                if (done != null) CALLBACKS.execute(() -> done.complete(rtt));
            }
            f.release();
        } else if (pendingPingAcks >= MAX_PENDING_PING_ACKS || f.payload().readableBytes() > 64) {
            f.release(); // a flood, or not a ping of ours: the peer's keepalive retries
        } else {
            pendingPingAcks++;
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

    static Frame resetFrame(int id, ResetCode code, String reason) {
        return Frame.of(FrameType.RESET, 0, id, Reset.newBuilder().setCode(code).setReason(truncate(reason)).build().toByteArray());
    }

    static String truncate(String s) {
        return s.length() > 1000 ? s.substring(0, 1000) : s;
    }

    /** Peer-supplied text for logs and errors: bounded, no control characters. */
    private static String printable(String s) {
        StringBuilder b = new StringBuilder(Math.min(s.length(), 200));
        for (int i = 0; i < s.length() && b.length() < 200; i++) {
            char c = s.charAt(i);
            b.append(Character.isISOControl(c) ? '?' : c);
        }
        return b.toString();
    }

    private void failAsync(IOException cause, boolean clean) {
        CALLBACKS.execute(() -> fail(cause, clean));
    }

    /**
     * Ends the connection: {@link #ready} and {@link #terminated} complete first (so whoever sees
     * a stream fail with the connection finds them done), then every stream is reset locally,
     * waiters wake and the transport closes.
     */
    private void fail(IOException reported, boolean reportedClean) {
        IOException cause;
        boolean clean;
        lock.lock();
        try {
            if (failure != null) return;
            // While we report an error to the peer, that error is the root cause, whatever broke next.
            cause = discarding ? drainCause : reported;
            clean = !discarding && reportedClean;
            failure = cause;
        } finally {
            lock.unlock();
        }
        // Completed on callback threads (a dependent that blocks cannot hold up the rest), but
        // done before any stream is reset: a future is done before its dependents run.
        CALLBACKS.execute(() -> {
            ready.completeExceptionally(cause); // no-op once agreed: ready settles before terminated
            if (clean) terminated.complete(null); else terminated.completeExceptionally(cause);
        });
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
        while (!(ready.isDone() && terminated.isDone()) && System.nanoTime() < deadline) {
            LockSupport.parkNanos(20_000);
        }
        lock.lock();
        try {
            for (MuxStream s : new ArrayList<>(streams.values())) {
                s.markReset(new StreamResetException(ResetCode.RESET_CANCEL, cause.getMessage(), false));
            }
            control.forEach(Frame::release);
            control.clear();
            for (MuxStream s : sendable) s.dropQueued();
            sendable.clear();
            List<CompletableFuture<Long>> waiting = new ArrayList<>(pings.values());
            pings.clear();
            CALLBACKS.execute(() -> waiting.forEach(p -> p.completeExceptionally(cause)));
            connWaiters.clear();
            writerWake.signal();
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        if (!clean) log.debug("{}: connection ended: {}", name, cause.getMessage());
        if (keepalive != null) keepalive.cancel(false);
        if (helloTimer != null) helloTimer.cancel(false);
        ScheduledFuture<?> drain;
        lock.lock();
        try {
            drain = drainTimer;
        } finally {
            lock.unlock();
        }
        if (drain != null) drain.cancel(false);
        try {
            transport.close();
        } catch (IOException e) {
            log.debug("{}: closing transport: {}", name, e.getMessage());
        } finally {
            transportClosed.countDown();
        }
        acceptPool.shutdown();
    }
}
