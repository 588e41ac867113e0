package io.tether.protocol.testing;

import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBuf;
import io.tether.protocol.frame.Frame;
import io.tether.protocol.frame.FrameCodec;
import io.tether.protocol.frame.FrameType;
import io.tether.protocol.frame.Limits;
import io.tether.protocol.frame.ProtocolException;
import io.tether.protocol.proto.Hello;
import io.tether.protocol.transport.Transport;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayDeque;
import java.util.function.Predicate;

/** A hand-driven peer speaking raw frames: sends what a test says, decodes what the mux sends. */
public final class RawPeer implements AutoCloseable {
    private final Transport transport;
    private final FrameCodec codec = new FrameCodec();
    private final ArrayDeque<Frame> pending = new ArrayDeque<>();
    private final byte[] scratch = new byte[4 + Limits.MAX_FRAME_LENGTH];
    private boolean eof;

    public RawPeer(Transport transport) {
        this.transport = transport;
    }

    public static Hello hello(int major, int streamWindow, int connectionWindow) {
        return Hello.newBuilder().setMajor(major).setAgent("raw-peer").setArch("test")
                .setStreamWindow(streamWindow).setConnectionWindow(connectionWindow).build();
    }

    public void sendHello() throws IOException {
        send(Frame.of(FrameType.HELLO, 0, 0, hello(Limits.MAJOR, 1 << 20, 8 << 20).toByteArray()));
    }

    /** Writes and releases {@code f}. */
    public void send(Frame f) throws IOException {
        try {
            FrameCodec.encode(f, transport.output(), scratch);
            transport.output().flush();
        } finally {
            f.release();
        }
    }

    public void sendRaw(byte[] bytes) throws IOException {
        transport.output().write(bytes);
        transport.output().flush();
    }

    /** The next frame from the mux (caller releases it), or null at the end of the stream. */
    public Frame next() throws IOException {
        InputStream in = transport.input();
        byte[] buf = new byte[16 * 1024];
        while (pending.isEmpty() && !eof) {
            int n;
            try {
                n = in.read(buf);
            } catch (IOException e) {
                n = -1; // a closed transport is the end, for this peer
            }
            if (n < 0) {
                eof = true;
                break;
            }
            ByteBuf b = ByteBufAllocator.DEFAULT.heapBuffer(n);
            b.writeBytes(buf, 0, n);
            try {
                pending.addAll(codec.feed(b));
            } catch (ProtocolException e) {
                throw new AssertionError("the mux sent a malformed stream", e);
            }
        }
        return pending.poll();
    }

    /** Skips (and releases) frames until one matches; null at the end of the stream. */
    public Frame next(Predicate<Frame> wanted) throws IOException {
        for (Frame f; (f = next()) != null; ) {
            if (wanted.test(f)) return f;
            f.release();
        }
        return null;
    }

    /** Reads and releases everything until the mux closes the connection. */
    public void drainToEnd() throws IOException {
        for (Frame f; (f = next()) != null; ) f.release();
    }

    public Transport transport() { return transport; }

    @Override
    public void close() throws IOException {
        pending.forEach(Frame::release);
        pending.clear();
        codec.close();
        transport.close();
    }
}
