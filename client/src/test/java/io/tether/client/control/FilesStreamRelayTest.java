package io.tether.client.control;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.FdStream;
import io.tether.protocol.proto.FilesData;
import io.tether.protocol.proto.FilesOpen;
import io.tether.protocol.proto.GuestSpec;
import io.tether.protocol.proto.RunRequest;
import io.tether.protocol.proto.StreamOpen;
import io.tether.protocol.transport.BytePipe;
import io.tether.protocol.transport.Transport;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Through the control agent, a run's GuestSpec.files_stream and files_data_stream name those streams by their upstream ids. */
@Timeout(30)
class FilesStreamRelayTest {
    @Test
    void theFilesStreamIdIsRewrittenLikeTheFdStreams() throws Exception {
        MuxConfig config = MuxConfig.defaults("test/0").withHelloTimeout(Duration.ofSeconds(10));
        Map<Integer, StreamOpen> atDaemon = new ConcurrentHashMap<>();
        Transport[] up = BytePipe.duplex(1 << 16);
        Mux daemon = Mux.start(up[1], Mux.Role.SERVER, config, (s, open) -> atDaemon.put(s.id(), open));
        Mux upstream = Mux.start(up[0], Mux.Role.CLIENT, config, null);
        ExecutorService pumps = Executors.newCachedThreadPool();
        Transport[] front = BytePipe.duplex(1 << 16);
        Mux agentSide = Mux.start(front[1], Mux.Role.SERVER, config, new FrontEndRelay(upstream, pumps));
        Mux frontEnd = Mux.start(front[0], Mux.Role.CLIENT, config, null);
        try {
            upstream.awaitReady();
            frontEnd.awaitReady();
            // Three streams of its own first: the relay opens the front end's streams upstream in any order, and
            // each then gets an id above every id the front end used (with one, files could take its own id).
            for (int i = 0; i < 3; i++) upstream.open(StreamOpen.newBuilder().setFd(FdStream.getDefaultInstance()).build());
            MuxStream data = frontEnd.open(StreamOpen.newBuilder().setFilesData(FilesData.getDefaultInstance()).build());
            MuxStream files = frontEnd.open(StreamOpen.newBuilder().setFiles(FilesOpen.newBuilder().setHostArch("x86_64")).build());
            frontEnd.open(StreamOpen.newBuilder().setRun(RunRequest.newBuilder().addArgv("true")
                    .setGuest(GuestSpec.newBuilder().setFilesStream(files.id()).setFilesDataStream(data.id()))).build());
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (atDaemon.size() < 6 && System.nanoTime() < deadline) Thread.sleep(10);
            assertEquals(6, atDaemon.size(), atDaemon.toString());
            int upstreamFiles = atDaemon.entrySet().stream().filter(e -> e.getValue().hasFiles()).findFirst().orElseThrow().getKey();
            int upstreamData = atDaemon.entrySet().stream().filter(e -> e.getValue().hasFilesData()).findFirst().orElseThrow().getKey();
            RunRequest run = atDaemon.values().stream().filter(StreamOpen::hasRun).findFirst().orElseThrow().getRun();
            assertNotEquals(files.id(), upstreamFiles, "the test needs ids that differ");
            assertNotEquals(data.id(), upstreamData, "the test needs ids that differ");
            assertEquals(upstreamFiles, run.getGuest().getFilesStream());
            assertEquals(upstreamData, run.getGuest().getFilesDataStream());
            assertTrue(run.getGuest().getRoot().isEmpty());
        } finally {
            frontEnd.close();
            agentSide.close();
            upstream.close();
            daemon.close();
            pumps.shutdownNow();
        }
    }
}
