package io.tether.bench;

import com.google.protobuf.ByteString;
import io.tether.protocol.files.ChunkCompression;
import io.tether.protocol.proto.ReadChunk;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What feature files-lz4 costs per chunk (tether.proto ReadChunk.raw_size): the client's compression of a
 * 60 KiB Read chunk and the daemon's inflation of it, over the chunks of a real file of this machine
 * ({@code file}: a shared library, a compiler; their contents are what cold runs fetch). Scores are chunks
 * per second; times 60 KiB gives the throughput to set against the bytes it saves (BENCHMARKS.md).
 */
@Fork(value = 1, jvmArgsAppend = {"-Xmx1g"})
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@State(Scope.Thread)
public class ChunkCompressionBenchmark {
    static final int CHUNK = 60 * 1024;

    @Param({"/usr/lib/x86_64-linux-gnu/libc.so.6"})
    public String file;

    List<byte[]> raw;
    List<ReadChunk> wire;
    int next;

    @Setup
    public void setUp() throws IOException {
        byte[] all = Files.readAllBytes(Path.of(file));
        raw = new ArrayList<>();
        wire = new ArrayList<>();
        for (int at = 0; at + CHUNK <= all.length; at += CHUNK) {
            byte[] c = java.util.Arrays.copyOfRange(all, at, at + CHUNK);
            raw.add(c);
            ByteString packed = ChunkCompression.compress(c);
            wire.add(packed == null ? ReadChunk.newBuilder().setData(ByteString.copyFrom(c)).build()
                    : ReadChunk.newBuilder().setData(packed).setRawSize(c.length).build());
        }
        if (raw.isEmpty()) throw new IllegalStateException(file + " is smaller than one chunk");
        long packedBytes = wire.stream().mapToLong(w -> w.getData().size()).sum();
        System.out.printf("%n%s: %d chunks, %.2f of the bytes on the wire, %d chunks sent as they are%n", file, raw.size(),
                packedBytes / (double) (raw.size() * (long) CHUNK), wire.stream().filter(w -> w.getRawSize() == 0).count());
    }

    @Benchmark
    public ByteString compress() {
        next = (next + 1) % raw.size();
        return ChunkCompression.compress(raw.get(next));
    }

    @Benchmark
    public ByteString inflate() throws IOException {
        next = (next + 1) % wire.size();
        return ChunkCompression.contents(wire.get(next));
    }
}
