package io.tether.protocol.frame;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.tether.protocol.testing.LeakCheck;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Arbitrary bytes, cut anywhere, into the frame decoder: it either yields well-formed frames
 * (which re-encode to the bytes they came from) or a {@link ProtocolException}; nothing
 * else, and no buffer leaks. `mvn test` replays the seeds in FrameDecoderFuzzTestInputs/;
 * JAZZER_FUZZ=1 fuzzes (see protocol/FUZZING.md).
 */
@ExtendWith(LeakCheck.class)
class FrameDecoderFuzzTest {

    @FuzzTest(maxDuration = "60s")
    void decodeCutUpBytes(FuzzedDataProvider data) {
        int pieces = data.consumeInt(1, 16);
        byte[] wire = data.consumeRemainingAsBytes();
        List<byte[]> decoded = new ArrayList<>();
        long unknown;
        boolean failed = false;
        int consumed;
        try (FrameCodec codec = new FrameCodec()) {
            int from = 0;
            for (int i = 1; i <= pieces && !failed; i++) {
                int to = i == pieces ? wire.length : Math.min(wire.length, from + wire.length / pieces);
                ByteBuf b = ByteBufAllocator.DEFAULT.heapBuffer(Math.max(1, to - from));
                b.writeBytes(wire, from, to - from);
                from = to;
                try {
                    for (Frame f : codec.feed(b)) {
                        assertTrue(f.streamId() >= 0);
                        assertTrue(f.payload().readableBytes() <= Limits.MAX_PAYLOAD);
                        decoded.add(reencode(f));
                    }
                } catch (ProtocolException e) {
                    failed = true;
                }
            }
            unknown = codec.unknownFrames();
            consumed = failed ? -1 : wire.length - codec.buffered();
        }
        if (failed || unknown > 0) return;
        // Known frames only, fully decoded: together they are exactly the consumed prefix.
        int at = 0;
        for (byte[] frame : decoded) {
            byte[] original = java.util.Arrays.copyOfRange(wire, at, at + frame.length);
            assertArrayEquals(original, frame);
            at += frame.length;
        }
        assertEquals(consumed, at);
    }

    private static byte[] reencode(Frame f) {
        ByteBuf out = ByteBufAllocator.DEFAULT.heapBuffer();
        try {
            FrameCodec.encode(f, out);
            byte[] bytes = new byte[out.readableBytes()];
            out.readBytes(bytes);
            return bytes;
        } finally {
            out.release();
            f.release();
        }
    }
}
