package io.tether.protocol.files;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.tether.protocol.proto.ReadChunk;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ChunkCompressionTest {
    private static byte[] text(int size) {
        byte[] line = "ELF section .text of libfoo.so: 0000 0000 mov rax, rbx\n".getBytes(StandardCharsets.US_ASCII);
        byte[] out = new byte[size];
        for (int i = 0; i < size; i++) out[i] = line[i % line.length];
        return out;
    }

    @Test
    void aCompressibleChunkGoesAsABlockAndComesBackByteForByte() throws IOException {
        byte[] raw = text(60 * 1024);
        raw[1234] = 7; // not only a repeat
        ByteString packed = ChunkCompression.compress(raw);
        assertNotNull(packed);
        assertTrue(packed.size() < raw.length / 8, packed.size() + " bytes");
        ReadChunk chunk = ReadChunk.newBuilder().setData(packed).setRawSize(raw.length).build();
        assertArrayEquals(raw, ChunkCompression.contents(chunk).toByteArray());
    }

    @Test
    void randomBytesAndSmallChunksGoAsTheyAre() throws IOException {
        byte[] random = new byte[60 * 1024];
        new Random(3).nextBytes(random);
        assertNull(ChunkCompression.compress(random), "would not save an eighth");
        assertNull(ChunkCompression.compress(text(ChunkCompression.MIN_RAW - 1)));
        ReadChunk plain = ReadChunk.newBuilder().setData(ByteString.copyFrom(random)).build();
        assertSame(plain.getData(), ChunkCompression.contents(plain), "raw_size 0: the data itself, no copy");
    }

    @Test
    void aMalformedBlockIsAnIoErrorNeverWrongBytes() {
        byte[] raw = text(8192);
        ByteString packed = ChunkCompression.compress(raw);
        assertNotNull(packed);
        // Garbage, a truncated block, a block claiming more or fewer bytes than it holds, an absurd size.
        ReadChunk garbage = ReadChunk.newBuilder().setData(ByteString.copyFrom(new byte[] {(byte) 0xff, 1, 2, 3})).setRawSize(100).build();
        ReadChunk truncated = ReadChunk.newBuilder().setData(packed.substring(0, packed.size() / 2)).setRawSize(raw.length).build();
        ReadChunk tooBig = ReadChunk.newBuilder().setData(packed).setRawSize(raw.length + 10).build();
        ReadChunk tooSmall = ReadChunk.newBuilder().setData(packed).setRawSize(raw.length - 10).build();
        ReadChunk absurd = ReadChunk.newBuilder().setData(packed).setRawSize(ChunkCompression.MAX_RAW + 1).build();
        ReadChunk negative = ReadChunk.newBuilder().setData(packed).setRawSize(-1).build();
        for (ReadChunk c : new ReadChunk[] {garbage, truncated, tooBig, tooSmall, absurd, negative}) {
            IOException e = assertThrows(IOException.class, () -> ChunkCompression.contents(c));
            assertTrue(e.getMessage().startsWith("malformed read chunk"), e.getMessage());
        }
    }
}
