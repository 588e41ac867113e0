package io.tether.protocol.files;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import io.tether.protocol.proto.ReadChunk;
import java.io.IOException;
import net.jpountz.lz4.LZ4Compressor;
import net.jpountz.lz4.LZ4Exception;
import net.jpountz.lz4.LZ4Factory;
import net.jpountz.lz4.LZ4SafeDecompressor;

/**
 * File contents compressed on the wire (hello feature {@value #FEATURE}, tether.proto {@code ReadChunk.raw_size}):
 * each chunk of a Read reply one LZ4 block, when that saves at least an eighth of it. Why LZ4: a cold run
 * moves a rootfs's libraries and compilers (W3: 92 MB of .so and .a files, cc1 33 MB) through the host's
 * mux, SSH's cipher and the daemon's; LZ4 halves those bytes (lz4 -1: 92 MB to 48) for less CPU than the
 * bytes it saves cost on either side, and a slow device link gains the most. The library (lz4-java) picks
 * its JNI build where it has one and its pure-Java one elsewhere (armhf).
 */
public final class ChunkCompression {
    public static final String FEATURE = "files-lz4";
    /** Chunks below this go as they are: a small file's few bytes are not worth a block. */
    static final int MIN_RAW = 512;
    /** The most a chunk may say it holds: replies are chunks of one frame (under 64 KiB), so more is malformed. */
    public static final int MAX_RAW = 1 << 20;
    private static final LZ4Factory LZ4 = LZ4Factory.fastestInstance();
    private static final LZ4Compressor COMPRESSOR = LZ4.fastCompressor();
    private static final LZ4SafeDecompressor DECOMPRESSOR = LZ4.safeDecompressor();

    private ChunkCompression() {}

    /**
     * Each serving thread's output buffer: a block is made there and copied out only when it wins, so a chunk
     * costs no worst-case array (~60 KiB, zeroed), and a reply holds only the block's own bytes until sent.
     */
    private static final ThreadLocal<byte[]> SCRATCH = ThreadLocal.withInitial(() -> new byte[0]);
    /** The biggest scratch buffer a thread keeps (a chunk is under 64 KiB; a bigger input gets a buffer of its own). */
    private static final int KEPT_SCRATCH = 256 << 10;

    /** {@code raw} as one LZ4 block, or null when that would not save an eighth of it (or it is small). */
    public static ByteString compress(byte[] raw) {
        if (raw.length < MIN_RAW) return null;
        int max = COMPRESSOR.maxCompressedLength(raw.length);
        byte[] out = SCRATCH.get();
        if (out.length < max) {
            out = new byte[max];
            if (max <= KEPT_SCRATCH) SCRATCH.set(out);
        }
        int n = COMPRESSOR.compress(raw, 0, raw.length, out, 0, max);
        if (n > raw.length - raw.length / 8) return null;
        return ByteString.copyFrom(out, 0, n);
    }

    /** The file bytes {@code chunk} carries: its data, inflated if it is a block. IOException when malformed. */
    public static ByteString contents(ReadChunk chunk) throws IOException {
        int raw = chunk.getRawSize();
        if (raw == 0) return chunk.getData();
        if (raw < 0 || raw > MAX_RAW) throw new IOException("malformed read chunk: it claims " + Integer.toUnsignedString(raw) + " bytes");
        byte[] in = chunk.getData().toByteArray();
        byte[] out = new byte[raw];
        int n;
        try {
            n = DECOMPRESSOR.decompress(in, 0, in.length, out, 0, raw);
        } catch (LZ4Exception e) {
            throw new IOException("malformed read chunk: not an LZ4 block of " + raw + " bytes", e);
        }
        if (n != raw) throw new IOException("malformed read chunk: " + n + " bytes where it claims " + raw);
        return UnsafeByteOperations.unsafeWrap(out);
    }
}
