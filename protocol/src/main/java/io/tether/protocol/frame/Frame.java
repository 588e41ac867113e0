package io.tether.protocol.frame;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.util.ReferenceCounted;

/**
 * One frame of the wire protocol: type, flags, stream id and a payload.
 * The frame owns its payload: whoever consumes the frame without passing it on
 * calls {@link #release()}.
 */
public final class Frame {
    /** Half-close: the sender writes nothing more on this stream (DATA, OPEN, MESSAGE). */
    public static final int FLAG_END = 0x1;
    /** Answer to a PING. */
    public static final int FLAG_ACK = 0x2;

    private final FrameType type;
    private final int flags;
    private final int streamId;
    private final ByteBuf payload;

    public Frame(FrameType type, int flags, int streamId, ByteBuf payload) {
        if (payload.readableBytes() > Limits.MAX_PAYLOAD) {
            payload.release();
            throw new IllegalArgumentException("payload of " + payload.readableBytes() + " bytes exceeds " + Limits.MAX_PAYLOAD);
        }
        this.type = type;
        this.flags = flags;
        this.streamId = streamId;
        this.payload = payload;
    }

    public static Frame of(FrameType type, int flags, int streamId, byte[] payload) {
        return new Frame(type, flags, streamId, Unpooled.wrappedBuffer(payload));
    }

    public static Frame empty(FrameType type, int flags, int streamId) {
        return new Frame(type, flags, streamId, Unpooled.EMPTY_BUFFER);
    }

    public FrameType type() { return type; }
    public int flags() { return flags; }
    public boolean has(int flag) { return (flags & flag) != 0; }
    public int streamId() { return streamId; }
    public ByteBuf payload() { return payload; }

    /** Copies the payload out and releases the frame. */
    public byte[] takeBytes() {
        try {
            byte[] bytes = new byte[payload.readableBytes()];
            payload.getBytes(payload.readerIndex(), bytes);
            return bytes;
        } finally {
            release();
        }
    }

    public void release() {
        if (payload instanceof ReferenceCounted && payload.refCnt() > 0) {
            payload.release();
        }
    }

    @Override
    public String toString() {
        return type + "[stream=" + streamId + " flags=" + flags + " len=" + payload.readableBytes() + "]";
    }
}
