package io.tether.protocol.frame;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.tether.protocol.testing.LeakCheck;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The frame codec, fed cut-up input with no sockets. */
@ExtendWith(LeakCheck.class)
class FrameCodecTest {

    /** What a frame said, kept after the frame is released. */
    record Seen(FrameType type, int flags, int streamId, byte[] payload) {
        static Seen of(Frame f) {
            int flags = f.flags();
            FrameType type = f.type();
            int id = f.streamId();
            return new Seen(type, flags, id, f.takeBytes());
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Seen s && s.type == type && s.flags == flags && s.streamId == streamId
                    && java.util.Arrays.equals(s.payload, payload);
        }

        @Override
        public int hashCode() { return streamId; }
    }

    static List<Seen> sample(Random r) {
        return sample(r, new int[] {0, 1, 9, 100, Limits.DATA_CHUNK, Limits.MAX_PAYLOAD, 4096});
    }

    static List<Seen> sample(Random r, int[] sizes) {
        List<Seen> frames = new ArrayList<>();
        for (int size : sizes) {
            byte[] p = new byte[size];
            r.nextBytes(p);
            FrameType type = FrameType.values()[r.nextInt(FrameType.values().length)];
            frames.add(new Seen(type, r.nextInt(256), r.nextInt(Integer.MAX_VALUE), p));
        }
        return frames;
    }

    static byte[] encode(List<Seen> frames) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] scratch = new byte[64];
        for (Seen s : frames) {
            Frame f = Frame.of(s.type, s.flags, s.streamId, s.payload);
            FrameCodec.encode(f, out, scratch);
            f.release();
        }
        return out.toByteArray();
    }

    /** A pooled (so leak-tracked) buffer holding bytes [from, to). */
    static ByteBuf slice(byte[] bytes, int from, int to) {
        ByteBuf b = ByteBufAllocator.DEFAULT.heapBuffer(Math.max(1, to - from));
        b.writeBytes(bytes, from, to - from);
        return b;
    }

    static List<Seen> decodeInPieces(byte[] wire, int[] cuts) throws ProtocolException {
        List<Seen> out = new ArrayList<>();
        try (FrameCodec codec = new FrameCodec()) {
            int from = 0;
            for (int cut : cuts) {
                for (Frame f : codec.feed(slice(wire, from, cut))) out.add(Seen.of(f));
                from = cut;
            }
            for (Frame f : codec.feed(slice(wire, from, wire.length))) out.add(Seen.of(f));
            assertEquals(0, codec.buffered());
        }
        return out;
    }

    @Test
    void framesFedOneByteAtATimeDecodeIntact() throws Exception {
        // Small frames: every header and body boundary is crossed one byte at a time.
        List<Seen> frames = sample(new Random(1), new int[] {0, 1, 9, 100, 0, 4096, 3});
        byte[] wire = encode(frames);
        int[] cuts = new int[wire.length - 1];
        for (int i = 0; i < cuts.length; i++) cuts[i] = i + 1;
        assertEquals(frames, decodeInPieces(wire, cuts));
    }

    @Test
    void framesCutAtRandomPlacesDecodeIntact() throws Exception {
        Random r = new Random(2);
        for (int round = 0; round < 50; round++) {
            List<Seen> frames = sample(r);
            byte[] wire = encode(frames);
            int[] cuts = r.ints(r.nextInt(20), 0, wire.length + 1).sorted().toArray();
            assertEquals(frames, decodeInPieces(wire, cuts), "round " + round);
        }
    }

    @Test
    void manyFramesInOneBufferDecodeInOrder() throws Exception {
        List<Seen> frames = new ArrayList<>();
        for (int i = 0; i < 1000; i++) frames.add(new Seen(FrameType.MESSAGE, 0, i, new byte[] {(byte) i}));
        assertEquals(frames, decodeInPieces(encode(frames), new int[0]));
    }

    @Test
    void bothEncodersWriteTheSameBytes() throws Exception {
        Frame f = Frame.of(FrameType.DATA, Frame.FLAG_END, 77, new byte[] {1, 2, 3});
        ByteBuf buf = Unpooled.buffer();
        FrameCodec.encode(f, buf);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        FrameCodec.encode(f, out, new byte[0]);
        f.release();
        byte[] viaBuf = new byte[buf.readableBytes()];
        buf.readBytes(viaBuf);
        assertArrayEquals(out.toByteArray(), viaBuf);
        assertArrayEquals(new byte[] {0, 0, 0, 9, 3, 1, 0, 0, 0, 77, 1, 2, 3}, viaBuf);
    }

    @Test
    void oversizedLengthIsRejectedBeforeItsBodyArrives() {
        try (FrameCodec codec = new FrameCodec()) {
            int tooLong = Limits.MAX_FRAME_LENGTH + 1;
            byte[] header = {(byte) (tooLong >>> 24), (byte) (tooLong >>> 16), (byte) (tooLong >>> 8), (byte) tooLong};
            ProtocolException e = assertThrows(ProtocolException.class, () -> codec.feed(slice(header, 0, 4)));
            assertTrue(e.getMessage().contains("exceeds the limit"), e.getMessage());
            // Broken for good: later input is released and refused.
            assertThrows(ProtocolException.class, () -> codec.feed(slice(new byte[10], 0, 10)));
        }
    }

    @Test
    void largestLegalFrameIsAccepted() throws Exception {
        List<Seen> one = List.of(new Seen(FrameType.DATA, 0, 1, new byte[Limits.MAX_PAYLOAD]));
        assertEquals(one, decodeInPieces(encode(one), new int[] {3, 40_000}));
    }

    @Test
    void lengthShorterThanTheHeaderIsRejected() {
        try (FrameCodec codec = new FrameCodec()) {
            byte[] bad = {0, 0, 0, 5, 2, 0, 0, 0, 1};
            ProtocolException e = assertThrows(ProtocolException.class, () -> codec.feed(slice(bad, 0, bad.length)));
            assertTrue(e.getMessage().contains("shorter than its header"), e.getMessage());
        }
    }

    @Test
    void shortFrameWaitsForTheRestAndReleasesItOnClose() throws Exception {
        byte[] wire = encode(List.of(new Seen(FrameType.MESSAGE, 0, 3, new byte[100])));
        FrameCodec codec = new FrameCodec();
        assertEquals(List.of(), codec.feed(slice(wire, 0, 50)));
        assertEquals(50, codec.buffered());
        codec.close(); // the partial frame must not leak
    }

    @Test
    void unknownFrameTypesAreSkippedAndCounted() throws Exception {
        byte[] known = encode(List.of(new Seen(FrameType.PING, 0, 0, new byte[] {1})));
        byte[] unknown = {0, 0, 0, 8, (byte) 200, 0, 0, 0, 0, 5, 9, 9};
        byte[] wire = new byte[unknown.length + known.length];
        System.arraycopy(unknown, 0, wire, 0, unknown.length);
        System.arraycopy(known, 0, wire, unknown.length, known.length);
        try (FrameCodec codec = new FrameCodec()) {
            List<Frame> frames = new ArrayList<>();
            for (int i = 0; i < wire.length; i++) frames.addAll(codec.feed(slice(wire, i, i + 1)));
            assertEquals(1, frames.size());
            assertEquals(FrameType.PING, frames.get(0).type());
            frames.forEach(Frame::release);
            assertEquals(1, codec.unknownFrames());
        }
    }

    @Test
    void negativeStreamIdIsRejected() {
        try (FrameCodec codec = new FrameCodec()) {
            byte[] bad = {0, 0, 0, 6, 2, 0, (byte) 0xff, 0, 0, 0};
            ProtocolException e = assertThrows(ProtocolException.class, () -> codec.feed(slice(bad, 0, bad.length)));
            assertTrue(e.getMessage().contains("negative stream id"), e.getMessage());
        }
    }

    @Test
    void framesDecodedBeforeAnErrorInTheSameInputAreReleased() throws Exception {
        byte[] good = encode(List.of(new Seen(FrameType.DATA, 0, 1, new byte[1000]), new Seen(FrameType.DATA, 0, 1, new byte[1000])));
        byte[] wire = new byte[good.length + 4];
        System.arraycopy(good, 0, wire, 0, good.length);
        wire[good.length] = 0x7f; // then an absurd length
        try (FrameCodec codec = new FrameCodec()) {
            assertThrows(ProtocolException.class, () -> codec.feed(slice(wire, 0, wire.length)));
        }
        // LeakCheck fails the class if the two good frames were dropped unreleased.
    }

    @Test
    void frameRefusesAnOversizedPayloadAndReleasesIt() {
        ByteBuf big = ByteBufAllocator.DEFAULT.heapBuffer(Limits.MAX_PAYLOAD + 1);
        big.writeZero(Limits.MAX_PAYLOAD + 1);
        assertThrows(IllegalArgumentException.class, () -> new Frame(FrameType.DATA, 0, 1, big));
        assertEquals(0, big.refCnt());
    }

    @Test
    void unknownCodesMapToNoType() {
        assertEquals(FrameType.DATA, FrameType.of(3));
        assertEquals(null, FrameType.of(8));
        assertEquals(null, FrameType.of(255));
        assertFalse(FrameType.of(0) == null);
    }
}
