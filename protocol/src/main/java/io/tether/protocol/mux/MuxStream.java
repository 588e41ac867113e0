package io.tether.protocol.mux;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.tether.protocol.frame.Frame;
import io.tether.protocol.frame.FrameType;
import io.tether.protocol.frame.Limits;
import io.tether.protocol.proto.ResetCode;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One bidirectional stream of a {@link Mux}. Carries protobuf messages (MESSAGE frames,
 * control priority: they overtake DATA) and bytes (DATA frames, bulk priority). Both are
 * flow-controlled by the stream's credit, so a peer that does not read bounds what is
 * buffered here; a message may overdraw the credit once, so any message fits. A message
 * sent with {@code end} is ordered after the DATA already queued on this stream.
 * Each direction ends independently ({@link #closeWrite()}); {@link #reset} ends both at
 * once. All state is guarded by the mux's lock.
 */
public final class MuxStream {
    /** Capacity of a receive buffer that small frames are packed into. */
    private static final int PACK = 16 * 1024;
    private final Mux mux;
    private final int id;
    private final ReentrantLock lock;
    /** Everyone waiting on this stream: its reader, writer, message sender and receiver. */
    private final Condition changed;

    // receive side
    private final ArrayDeque<ByteBuf> inData = new ArrayDeque<>();
    private final ArrayDeque<byte[]> inMessages = new ArrayDeque<>();
    private long recvRemaining;     // credit we granted and the peer has not used (negative after an overdraft)
    private int recvConsumed;       // credit consumed by the application, not yet returned
    private boolean remoteEnded;

    // send side, also used by the mux's writer
    long sendCredit;
    final ArrayDeque<Frame> outFrames = new ArrayDeque<>();
    boolean scheduled;
    private boolean localEnded;

    private StreamResetException reset;
    private boolean finished;
    /** Set by {@link #onMessages}: told of arrivals instead of a thread blocked in {@link #receiveBytes}. */
    private volatile Runnable messageListener;
    /** Serialises the listener's runs (the reader thread, or a callback thread after a local reset or a lost connection). */
    private final Object listenerRuns = new Object();
    private final CompletableFuture<Void> closed = new CompletableFuture<>();

    private final InputStream in = new In();
    private final OutputStream out = new Out();

    MuxStream(Mux mux, int id, long sendCredit, int recvWindow) {
        this.mux = mux;
        this.id = id;
        this.lock = mux.lock;
        this.changed = lock.newCondition();
        this.sendCredit = sendCredit;
        this.recvRemaining = recvWindow;
    }

    public int id() { return id; }

    public Mux mux() { return mux; }

    /** Bytes the peer sent on this stream; -1 at its end; a reset throws {@link StreamResetException}. */
    public InputStream in() { return in; }

    /** Bytes to the peer, blocking while credit is exhausted; close() ends this direction. */
    public OutputStream out() { return out; }

    /** Completes (on a callback thread) when both directions are done or the stream is reset. */
    public CompletableFuture<Void> onClosed() { return closed; }

    /** Sends one message; {@code end} also ends this direction. Blocks while the peer's credit is used up. */
    public void send(MessageLite message, boolean end) throws IOException {
        sendBytes(message.toByteArray(), end);
    }

    /** Sends one already-serialised message (relays forward messages without parsing them). */
    public void sendBytes(byte[] bytes, boolean end) throws IOException {
        if (bytes.length > Limits.MAX_PAYLOAD) {
            throw new IOException("message of " + bytes.length + " bytes exceeds the frame limit of " + Limits.MAX_PAYLOAD);
        }
        lock.lock();
        try {
            while (true) {
                checkWritable();
                mux.checkOpen();
                if (sendCredit > 0) break;
                await();
            }
            sendCredit -= charge(bytes);
            Frame f = Frame.of(FrameType.MESSAGE, end ? Frame.FLAG_END : 0, id, bytes);
            if (end) {
                localEnded = true;
                // The end must not overtake our own DATA, or the peer would drop it.
                if (outFrames.isEmpty()) mux.enqueueControl(f); else mux.enqueueData(this, f);
                maybeFinish();
            } else {
                mux.enqueueControl(f);
            }
        } finally {
            lock.unlock();
        }
    }

    public void send(MessageLite message) throws IOException {
        send(message, false);
    }

    /**
     * As {@link #sendBytes}, but never blocks: false (nothing sent) while the peer's credit is used up.
     * For a relay on a reader thread, which must not wait for credit that thread itself may have to deliver.
     */
    public boolean trySendBytes(byte[] bytes) throws IOException {
        if (bytes.length > Limits.MAX_PAYLOAD) {
            throw new IOException("message of " + bytes.length + " bytes exceeds the frame limit of " + Limits.MAX_PAYLOAD);
        }
        lock.lock();
        try {
            checkWritable();
            mux.checkOpen();
            if (sendCredit <= 0) return false;
            sendCredit -= charge(bytes);
            mux.enqueueControl(Frame.of(FrameType.MESSAGE, 0, id, bytes));
            return true;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Tells {@code listener} of this stream's messages instead of a thread waiting in {@link #receiveBytes}: it runs
     * on the mux's reader thread, outside the lock, after messages arrived or the peer ended or reset the stream
     * (and once now, for what came before), never twice at once. A message then reaches its handler without
     * waking a thread of its own (each such hand-off cost 0.1-2 ms on a loaded machine). The listener must not
     * block: it takes what is there with {@link #pollBytes} and learns of the end from {@link #messagesEnded}.
     */
    public void onMessages(Runnable listener) {
        messageListener = listener;
        notifyListener();
    }

    /** The next message if one is here, else null; never blocks. A reset stream throws it once its messages are taken. */
    public byte[] pollBytes() throws IOException {
        lock.lock();
        try {
            byte[] m = inMessages.poll();
            if (m != null) {
                consumed(charge(m));
                return m;
            }
            if (reset != null) throw reset;
            return null;
        } finally {
            lock.unlock();
        }
    }

    /** Whether {@link #pollBytes} or {@link #messagesEnded} would tell something: a message waits, or the peer ended or reset the stream. */
    public boolean hasNews() {
        lock.lock();
        try {
            return !inMessages.isEmpty() || remoteEnded || reset != null;
        } finally {
            lock.unlock();
        }
    }

    /** Whether the peer ended its direction and every message it sent was taken. */
    public boolean messagesEnded() {
        lock.lock();
        try {
            return remoteEnded && inMessages.isEmpty();
        } finally {
            lock.unlock();
        }
    }

    /** Runs the message listener, if any, on this thread (never under the lock). */
    void notifyListener() {
        Runnable l = messageListener;
        if (l == null) return;
        synchronized (listenerRuns) {
            try {
                l.run();
            } catch (RuntimeException | Error e) {
                org.slf4j.LoggerFactory.getLogger(MuxStream.class).warn("stream {}: message listener failed", id, e);
                reset(ResetCode.RESET_INTERNAL, "message listener failed: " + e);
            }
        }
    }

    /** Lock held: whether an arrival must be told to the listener. */
    boolean listening() {
        return messageListener != null;
    }

    /** The next message, or null once the peer ended its direction. Blocks. */
    public <T> T receive(Parser<T> parser) throws IOException {
        byte[] bytes = receiveBytes();
        if (bytes == null) return null;
        try {
            return parser.parseFrom(bytes);
        } catch (InvalidProtocolBufferException e) {
            reset(ResetCode.RESET_PROTOCOL_ERROR, "malformed message: " + e.getMessage());
            throw new IOException("malformed message on stream " + id + ": " + e.getMessage(), e);
        }
    }

    /** The next serialised message, or null once the peer ended its direction. Blocks. */
    public byte[] receiveBytes() throws IOException {
        lock.lock();
        try {
            while (true) {
                byte[] m = inMessages.poll();
                if (m != null) {
                    consumed(charge(m));
                    return m;
                }
                if (reset != null) throw reset;
                if (remoteEnded) return null;
                await();
            }
        } finally {
            lock.unlock();
        }
    }

    /** Ends this direction (EOF to the peer), after the DATA already written. Idempotent. */
    public void closeWrite() {
        lock.lock();
        try {
            if (localEnded || reset != null) return;
            localEnded = true;
            mux.enqueueData(this, Frame.empty(FrameType.DATA, Frame.FLAG_END, id));
            maybeFinish();
        } finally {
            lock.unlock();
        }
    }

    /** Ends both directions at once and tells the peer why. Final and idempotent. */
    public void reset(ResetCode code, String reason) {
        lock.lock();
        try {
            if (reset != null || finished) return;
            mux.enqueueControl(Mux.resetFrame(id, code, reason));
            markReset(new StreamResetException(code, Mux.truncate(reason), false));
        } finally {
            lock.unlock();
        }
    }

    public boolean isReset() {
        lock.lock();
        try {
            return reset != null;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public String toString() {
        lock.lock();
        try {
            return "stream " + id + "[sendCredit=" + sendCredit + " queued=" + outFrames.size() + (scheduled ? " scheduled" : "")
                    + " recvRemaining=" + recvRemaining + " unreturned=" + recvConsumed + " buffered=" + inData.stream().mapToInt(ByteBuf::readableBytes).sum()
                    + " messages=" + inMessages.size() + (localEnded ? " localEnded" : "") + (remoteEnded ? " remoteEnded" : "")
                    + (reset != null ? " reset" : "") + "]";
        } finally {
            lock.unlock();
        }
    }

    // ---- called by Mux with the lock held ----

    /** Returns false if the peer overran its credit. */
    boolean onMessage(byte[] bytes, boolean end) {
        if (reset != null || remoteEnded) return true;
        if (recvRemaining <= 0) return false;
        recvRemaining -= charge(bytes);
        inMessages.add(bytes);
        if (end) remoteEnded = true;
        changed.signalAll();
        if (end) maybeFinish();
        return true;
    }

    /** Returns false if the peer overran its credit. */
    boolean onData(ByteBuf data, boolean end) {
        int n = data.readableBytes();
        if (reset != null || remoteEnded) {
            data.release();
            return true;
        }
        if (n > recvRemaining) {
            data.release();
            return false;
        }
        recvRemaining -= n;
        buffer(data);
        if (end) remoteEnded = true;
        changed.signalAll();
        if (end) maybeFinish();
        return true;
    }

    /**
     * Keeps received bytes in buffers of our own, packing small frames together: a frame's
     * payload is a slice of a whole read buffer, and holding slices would let many tiny
     * frames pin far more memory than the window they count against.
     */
    private void buffer(ByteBuf data) {
        try {
            int n = data.readableBytes();
            if (n == 0) return;
            ByteBuf tail = inData.peekLast();
            if (tail == null || tail.writableBytes() < n) {
                tail = ByteBufAllocator.DEFAULT.heapBuffer(Math.max(n, PACK), Math.max(n, PACK));
                inData.add(tail);
            }
            tail.writeBytes(data);
        } finally {
            data.release();
        }
    }

    /** Lock held: wakes this stream's waiters (the connection's state changed). */
    void wake() {
        changed.signalAll();
    }

    void onWindow(int increment) {
        sendCredit += increment;
        changed.signalAll();
    }

    void markReset(StreamResetException e) {
        if (reset != null) return;
        reset = e;
        if (messageListener != null) mux.notifyLater(this);
        inData.forEach(ByteBuf::release);
        inData.clear();
        mux.unschedule(this);
        dropQueued();
        changed.signalAll();
        finish();
    }

    /** Releases frames not yet written; DATA credit they took goes back to the connection. */
    void dropQueued() {
        int bytes = 0;
        for (Frame f : outFrames) {
            if (f.type() == FrameType.DATA) bytes += f.payload().readableBytes();
            f.release();
        }
        outFrames.clear();
        scheduled = false;
        if (bytes > 0) mux.returnConnectionCredit(bytes);
    }

    private static int charge(byte[] message) {
        return message.length + Mux.MESSAGE_OVERHEAD;
    }

    /** The application took {@code n} bytes of credit off this stream: return it in batches. */
    private void consumed(int n) {
        recvConsumed += n;
        if (recvConsumed >= mux.config().streamWindow() / 2 && !remoteEnded && reset == null) {
            recvRemaining += recvConsumed;
            mux.enqueueControl(Mux.windowFrame(id, recvConsumed));
            recvConsumed = 0;
        }
    }

    private void maybeFinish() {
        if (localEnded && remoteEnded && inData.isEmpty()) finish();
    }

    private void finish() {
        if (finished) return;
        finished = true;
        mux.forget(this);
        Mux.CALLBACKS.execute(() -> closed.complete(null));
    }

    private void checkWritable() throws IOException {
        if (reset != null) throw reset;
        if (localEnded) throw new IOException("stream " + id + " already ended its output");
    }

    private void await() throws InterruptedIOException {
        try {
            changed.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted on stream " + id);
        }
    }

    private final class In extends InputStream {
        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            java.util.Objects.checkFromIndexSize(off, len, b.length);
            if (len == 0) return 0;
            lock.lock();
            try {
                while (inData.isEmpty()) {
                    if (reset != null) throw reset;
                    if (remoteEnded) return -1;
                    await();
                }
                int total = 0;
                while (total < len && !inData.isEmpty()) {
                    ByteBuf head = inData.peek();
                    int n = Math.min(len - total, head.readableBytes());
                    head.readBytes(b, off + total, n);
                    total += n;
                    if (!head.isReadable()) {
                        inData.poll().release();
                    }
                }
                consumed(total);
                if (remoteEnded) maybeFinish();
                return total;
            } finally {
                lock.unlock();
            }
        }

        @Override
        public int available() {
            lock.lock();
            try {
                int n = 0;
                for (ByteBuf buf : inData) n += buf.readableBytes();
                return n;
            } finally {
                lock.unlock();
            }
        }

        @Override
        public void close() {
            lock.lock();
            try {
                // The reader gave up before the end: like a closed pipe, the writer must learn
                // (a reset), or it would run on forever into a window nobody returns.
                if (!remoteEnded && reset == null) {
                    MuxStream.this.reset(ResetCode.RESET_CANCEL, "reader closed");
                }
            } finally {
                lock.unlock();
            }
        }
    }

    private final class Out extends OutputStream {
        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            java.util.Objects.checkFromIndexSize(off, len, b.length);
            while (len > 0) {
                lock.lock();
                try {
                    checkWritable();
                    mux.checkOpen();
                    long credit = Math.min(sendCredit, mux.connectionSendCredit());
                    if (credit <= 0) {
                        if (sendCredit > 0) mux.awaitConnectionCredit(MuxStream.this);
                        await();
                        continue;
                    }
                    int n = (int) Math.min(Math.min(len, Limits.DATA_CHUNK), credit);
                    // A pooled chunk: bulk data would otherwise be garbage at the rate it flows.
                    ByteBuf chunk = ByteBufAllocator.DEFAULT.heapBuffer(n, n);
                    chunk.writeBytes(b, off, n);
                    sendCredit -= n;
                    mux.takeConnectionCredit(n);
                    mux.enqueueData(MuxStream.this, new Frame(FrameType.DATA, 0, id, chunk));
                    off += n;
                    len -= n;
                } finally {
                    lock.unlock();
                }
            }
        }

        @Override
        public void close() {
            closeWrite();
        }
    }
}
