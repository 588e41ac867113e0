package io.tether.bench;

import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.FdStream;
import io.tether.protocol.proto.StreamOpen;
import io.tether.protocol.transport.BytePipe;
import io.tether.protocol.transport.Transport;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.io.InputStream;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.TimeUnit;

/**
 * The mux over an in-memory pipe ({@link BytePipe#duplex}), so the figures are the mux's own
 * cost with no network or SSH: an RPC round trip (a MESSAGE and its echo on one stream) and
 * bulk DATA throughput on one stream, against the raw pipe as a baseline.
 * Throughput scores are in operations of {@link #CHUNK} bytes (1 MiB) per second, i.e. MiB/s.
 */
@Fork(value = 1, jvmArgsAppend = {"-Xmx1g", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"})
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
public class MuxBenchmark {
    /** Bytes written per throughput operation. */
    public static final int CHUNK = 1 << 20;
    /** Capacity of each direction of the in-memory pipe. */
    public static final int PIPE = 256 * 1024;
    static final StreamOpen FD = StreamOpen.newBuilder().setFd(FdStream.getDefaultInstance()).build();

    /** A client and a server mux over a duplex pipe; the server runs {@code handler} on each stream. */
    static Mux[] pair(Mux.Acceptor handler) throws IOException {
        Transport[] t = BytePipe.duplex(PIPE);
        MuxConfig config = MuxConfig.defaults("bench");
        Mux client = Mux.start(t[0], Mux.Role.CLIENT, config, null);
        Mux server = Mux.start(t[1], Mux.Role.SERVER, config, handler);
        client.awaitReady();
        server.awaitReady();
        return new Mux[] {client, server};
    }

    static void drain(InputStream in) {
        byte[] b = new byte[64 * 1024];
        try {
            while (in.read(b) >= 0) { }
        } catch (IOException e) {
            // closed at tear-down
        }
    }

    @State(Scope.Benchmark)
    public static class Rpc {
        Mux[] muxes;
        MuxStream stream;
        final byte[] request = new byte[64];

        @Setup(Level.Trial)
        public void setUp() throws IOException {
            muxes = pair((s, open) -> {
                for (byte[] m; (m = s.receiveBytes()) != null; ) s.sendBytes(m, false);
                s.closeWrite();
            });
            stream = muxes[0].open(FD);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            stream.closeWrite();
            muxes[0].close();
            muxes[1].close();
        }
    }

    /** One 64-byte MESSAGE to the server and its echo back, on one stream. */
    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public byte[] rpcRoundTrip(Rpc rpc) throws IOException {
        rpc.stream.sendBytes(rpc.request, false);
        return rpc.stream.receiveBytes();
    }

    @State(Scope.Benchmark)
    public static class Bulk {
        Mux[] muxes;
        MuxStream stream;
        final byte[] chunk = new byte[CHUNK];

        @Setup(Level.Trial)
        public void setUp() throws Exception {
            SynchronousQueue<Boolean> accepted = new SynchronousQueue<>();
            muxes = pair((s, open) -> {
                accepted.put(true);
                drain(s.in());
            });
            stream = muxes[0].open(FD);
            accepted.take();
            for (int i = 0; i < chunk.length; i++) chunk[i] = (byte) (i * 31 + (i >>> 11));
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            stream.closeWrite();
            muxes[0].close();
            muxes[1].close();
        }
    }

    /** 1 MiB of DATA through one stream, read on the other side by the stream's handler. */
    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    public void bulkThroughput(Bulk bulk) throws IOException {
        bulk.stream.out().write(bulk.chunk);
    }

    @State(Scope.Benchmark)
    public static class Raw {
        BytePipe pipe;
        Thread reader;
        final byte[] chunk = new byte[CHUNK];

        @Setup(Level.Trial)
        public void setUp() {
            pipe = new BytePipe(PIPE);
            reader = new Thread(() -> drain(pipe.source), "raw-reader");
            reader.setDaemon(true);
            reader.start();
        }

        @TearDown(Level.Trial)
        public void tearDown() throws Exception {
            pipe.sink.close();
            reader.join(5000);
        }
    }

    /** Baseline: 1 MiB through one direction of the bare pipe, read by another thread. */
    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    public void bytePipeRawThroughput(Raw raw) throws IOException {
        raw.pipe.sink.write(raw.chunk);
    }
}
