package io.tether.daemon.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.Export;
import io.tether.protocol.proto.FdStream;
import io.tether.protocol.proto.FilesData;
import io.tether.protocol.proto.FilesOpen;
import io.tether.protocol.proto.GuestSpec;
import io.tether.protocol.proto.RunRequest;
import io.tether.protocol.proto.SessionMessage;
import io.tether.protocol.proto.StreamOpen;
import io.tether.protocol.transport.BytePipe;
import io.tether.protocol.transport.Transport;
import com.google.protobuf.ByteString;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * RunRequest.guest.files_stream ("No NFS"): the session finds the files stream the client opened and
 * builds the guest run over it, or fails clearly before anything runs.
 */
@Timeout(30)
class NoNfsSessionTest {
    @TempDir Path tmp;
    DaemonCore core;
    Mux client;
    final AtomicInteger connects = new AtomicInteger();
    /** The files data stream id each connect got (0: none). */
    final List<Integer> dataStreams = new CopyOnWriteArrayList<>();

    private void start(DaemonOptions options, HostFilesConnector connector) throws Exception {
        core = new DaemonCore(options.withRunDir(tmp.resolve("run")).withHome(tmp).withFdStreamWait(Duration.ofMillis(500)),
                connector);
        Transport[] t = BytePipe.duplex(1 << 16);
        core.serve(t[1]);
        client = Mux.start(t[0], Mux.Role.CLIENT, MuxConfig.defaults("test/0"), null);
        client.awaitReady();
    }

    @AfterEach
    void stop() {
        if (client != null) client.close();
        if (core != null) core.close();
    }

    private MuxStream openFiles() throws Exception {
        return client.open(StreamOpen.newBuilder().setFiles(FilesOpen.newBuilder().setHostArch("x86_64")
                .addExports(Export.newBuilder().setId(0).setGuestPath(ByteString.copyFromUtf8("/")).setCacheKey("k"))).build());
    }

    private SessionMessage run(int filesStream) throws Exception {
        return run(filesStream, 0);
    }

    private SessionMessage run(int filesStream, int dataStream) throws Exception {
        RunRequest req = RunRequest.newBuilder().addArgv("true").addEnv("PATH=/bin")
                .setGuest(GuestSpec.newBuilder().setFilesStream(filesStream).setFilesDataStream(dataStream)).build();
        MuxStream run = client.open(StreamOpen.newBuilder().setRun(req).build());
        return run.receive(SessionMessage.parser());
    }

    private HostFilesConnector refusing(int errno) {
        return (stream, open, data) -> {
            connects.incrementAndGet();
            dataStreams.add(data == null ? 0 : data.id());
            assertEquals("k", open.getExports(0).getCacheKey());
            throw new ErrnoException(errno, "host file server", "test");
        };
    }

    @Test
    void aFilesStreamNeverOpenedFailsBeforeAnythingRuns() throws Exception {
        start(DaemonOptions.defaults().withCacheDir(tmp.resolve("cache")), refusing(Errno.EIO));
        SessionMessage m = run(99);
        assertTrue(m.hasFailure(), m.toString());
        assertEquals(Errno.EINVAL, m.getFailure().getErrno());
        assertTrue(m.getFailure().getMessage().contains("files stream 99 was never opened"), m.toString());
        assertEquals(0, connects.get());
    }

    @Test
    void anFdStreamIsNotTakenForTheFilesStream() throws Exception {
        start(DaemonOptions.defaults().withCacheDir(tmp.resolve("cache")), refusing(Errno.EIO));
        MuxStream fd = client.open(StreamOpen.newBuilder().setFd(FdStream.getDefaultInstance()).build());
        SessionMessage m = run(fd.id());
        assertEquals(Errno.EINVAL, m.getFailure().getErrno(), m.toString());
        assertEquals(0, connects.get());
    }

    @Test
    void theFilesStreamReachesTheConnectorAndItsErrnoIsTheFailure() throws Exception {
        start(DaemonOptions.defaults().withCacheDir(tmp.resolve("cache")), refusing(Errno.EPERM));
        MuxStream files = openFiles();
        SessionMessage m = run(files.id());
        assertEquals(Errno.EPERM, m.getFailure().getErrno(), m.toString());
        assertFalse(m.getFailure().getExec());
        assertEquals(1, connects.get());
        // The stream the session could not use is given back to the client as cancelled.
        files.onClosed().get(5, TimeUnit.SECONDS);
        assertTrue(Files.isDirectory(tmp.resolve("cache")), "the mirror cache was opened first");
    }

    @Test
    void theFilesDataStreamReachesTheConnectorWithTheFilesStreamAndGoesBackWithIt() throws Exception {
        start(DaemonOptions.defaults().withCacheDir(tmp.resolve("cache")), refusing(Errno.EPERM));
        MuxStream data = client.open(StreamOpen.newBuilder().setFilesData(FilesData.getDefaultInstance()).build());
        MuxStream files = openFiles();
        SessionMessage m = run(files.id(), data.id());
        assertEquals(Errno.EPERM, m.getFailure().getErrno(), m.toString());
        assertEquals(List.of(data.id()), dataStreams);
        files.onClosed().get(5, TimeUnit.SECONDS);
        data.onClosed().get(5, TimeUnit.SECONDS);
    }

    @Test
    void aFilesDataStreamNeverOpenedFailsBeforeAnythingRunsAndNoFilesStreamIsTakenForIt() throws Exception {
        start(DaemonOptions.defaults().withCacheDir(tmp.resolve("cache")), refusing(Errno.EIO));
        MuxStream files = openFiles();
        MuxStream other = openFiles();
        SessionMessage m = run(files.id(), other.id());
        assertEquals(Errno.EINVAL, m.getFailure().getErrno(), m.toString());
        assertTrue(m.getFailure().getMessage().contains("files data stream " + other.id() + " was never opened"), m.toString());
        assertEquals(0, connects.get());
        files.onClosed().get(5, TimeUnit.SECONDS);
    }

    @Test
    void anUnusableCacheDirectoryFailsNamingIt() throws Exception {
        Path notADir = Files.writeString(tmp.resolve("file"), "x");
        start(DaemonOptions.defaults().withCacheDir(notADir.resolve("cache")), refusing(Errno.EIO));
        SessionMessage m = run(openFiles().id());
        assertTrue(m.hasFailure(), m.toString());
        assertTrue(m.getFailure().getMessage().contains(notADir.resolve("cache").toString()), m.toString());
        assertEquals(0, connects.get());
    }
}
