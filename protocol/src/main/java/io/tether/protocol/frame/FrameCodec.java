package io.tether.protocol.frame;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.handler.codec.DecoderException;

import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Encodes frames to bytes, and decodes a byte stream cut anywhere into frames.
 * Decoding runs Netty's capped {@link LengthFieldBasedFrameDecoder} in an
 * {@link EmbeddedChannel}, so the transport can be any pair of byte streams.
 * Not thread-safe: one decoder per reading thread.
 */
public final class FrameCodec implements AutoCloseable {
    private final EmbeddedChannel channel;

    public FrameCodec() {
        channel = new EmbeddedChannel(new Decoder());
    }

    /** Writes one frame's header and payload into {@code out}; does not release the frame. */
    public static void encode(Frame frame, ByteBuf out) {
        ByteBuf p = frame.payload();
        out.writeInt(Limits.HEADER_AFTER_LENGTH + p.readableBytes());
        out.writeByte(frame.type().code);
        out.writeByte(frame.flags());
        out.writeInt(frame.streamId());
        out.writeBytes(p, p.readerIndex(), p.readableBytes());
    }

    /** Writes one frame to a stream, through a scratch array; does not release the frame. */
    public static void encode(Frame frame, OutputStream out, byte[] scratch) throws IOException {
        ByteBuf p = frame.payload();
        int len = p.readableBytes();
        int total = 4 + Limits.HEADER_AFTER_LENGTH + len;
        byte[] b = scratch.length >= total ? scratch : new byte[total];
        int n = Limits.HEADER_AFTER_LENGTH + len;
        b[0] = (byte) (n >>> 24); b[1] = (byte) (n >>> 16); b[2] = (byte) (n >>> 8); b[3] = (byte) n;
        b[4] = (byte) frame.type().code;
        b[5] = (byte) frame.flags();
        int s = frame.streamId();
        b[6] = (byte) (s >>> 24); b[7] = (byte) (s >>> 16); b[8] = (byte) (s >>> 8); b[9] = (byte) s;
        p.getBytes(p.readerIndex(), b, 10, len);
        out.write(b, 0, total);
    }

    /**
     * Feeds bytes (taking ownership of {@code bytes}) and returns the frames completed by them,
     * in order. Frames of a type unknown to this version are dropped and counted by
     * {@link #unknownFrames()}.
     *
     * @throws ProtocolException on a frame longer than the limit or otherwise malformed;
     *                           the stream cannot be resynchronised after that.
     */
    public List<Frame> feed(ByteBuf bytes) throws ProtocolException {
        if (broken != null) {
            bytes.release();
            throw broken;
        }
        try {
            channel.writeInbound(bytes);
        } catch (DecoderException e) {
            throw broken(e.getCause() instanceof ProtocolException p ? p
                    : new ProtocolException(e.getCause() != null ? e.getCause().getMessage() : e.getMessage(), e));
        } catch (RuntimeException e) {
            throw broken(new ProtocolException(String.valueOf(e.getMessage()), e));
        }
        List<Frame> frames = new ArrayList<>();
        for (Object o; (o = channel.readInbound()) != null; ) {
            if (o instanceof Frame f) frames.add(f); // UNKNOWN markers are skipped
        }
        return frames;
    }

    /** Bytes received but not yet part of a complete frame. */
    public int buffered() {
        return ((Decoder) channel.pipeline().first()).pending();
    }

    /** After an error the stream cannot be resynchronised: drop what was decoded and stay broken. */
    private ProtocolException broken(ProtocolException e) {
        broken = e;
        releaseInbound();
        return e;
    }

    private void releaseInbound() {
        for (Object o; (o = channel.readInbound()) != null; ) {
            if (o instanceof Frame f) f.release();
        }
    }

    private ProtocolException broken;
    private long unknown;

    /** Frames skipped because their type code is unknown to this version. */
    public long unknownFrames() { return unknown; }

    @Override
    public void close() {
        releaseInbound();
        try {
            channel.finish(); // releases the decoder's partial input; may still decode a last frame
        } catch (RuntimeException e) {
            // already broken: nothing more to report
        }
        releaseInbound();
        channel.releaseOutbound();
    }

    private final class Decoder extends LengthFieldBasedFrameDecoder {
        Decoder() {
            // length field: 4 bytes at offset 0, counts what follows it; strip it.
            // Netty compares its maximum with the whole frame, length field included.
            super(4 + Limits.MAX_FRAME_LENGTH, 0, 4, 0, 4, true);
        }

        int pending() {
            ByteBuf c = internalBuffer();
            return c == null ? 0 : c.readableBytes();
        }

        @Override
        protected Object decode(ChannelHandlerContext ctx, ByteBuf in) throws Exception {
            if (in.readableBytes() >= 4) {
                // Judge the length before waiting for a body that may never come.
                long length = in.getUnsignedInt(in.readerIndex());
                if (length > Limits.MAX_FRAME_LENGTH) {
                    throw new ProtocolException("frame length " + length + " exceeds the limit of " + Limits.MAX_FRAME_LENGTH
                            + " (not a tether peer, or a corrupted stream)");
                }
                if (length < Limits.HEADER_AFTER_LENGTH) {
                    throw new ProtocolException("frame length " + length + " is shorter than its header");
                }
            }
            ByteBuf body = (ByteBuf) super.decode(ctx, in);
            if (body == null) {
                return null;
            }
            if (body.readableBytes() < Limits.HEADER_AFTER_LENGTH) {
                int got = body.readableBytes();
                body.release();
                throw new ProtocolException("frame length " + got + " is shorter than its header");
            }
            int code = body.readUnsignedByte();
            int flags = body.readUnsignedByte();
            int stream = body.readInt();
            FrameType type = FrameType.of(code);
            if (type == null) {
                unknown++;
                body.release();
                return UNKNOWN;
            }
            if (stream < 0) {
                body.release();
                throw new ProtocolException("negative stream id " + stream);
            }
            return new Frame(type, flags, stream, body);
        }
    }

    private static final Object UNKNOWN = new Object();
}
