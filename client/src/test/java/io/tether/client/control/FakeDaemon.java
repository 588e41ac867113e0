package io.tether.client.control;

import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.Direction;
import io.tether.protocol.proto.ExitStatus;
import io.tether.protocol.proto.FdSpec;
import io.tether.protocol.proto.RunRequest;
import io.tether.protocol.proto.SessionMessage;
import io.tether.protocol.proto.Started;
import io.tether.protocol.proto.StreamOpen;
import io.tether.protocol.transport.BytePipe;
import io.tether.protocol.transport.Transport;
import io.tether.client.connect.Connection;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A stand-in daemon for relay tests. A run's "process" reads all of its TO_PROCESS fds, writes
 * "argv0:" + that input upper-cased to each FROM_PROCESS fd, and exits with argv.size(); the
 * command "wait" instead blocks until its run stream is reset (recorded in {@link #resets}).
 * It looks fd streams up by the ids the RunRequest names, in its own id space.
 */
final class FakeDaemon implements Mux.Acceptor {
    final Map<Integer, MuxStream> fdStreams = new ConcurrentHashMap<>();
    final List<String> resets = new CopyOnWriteArrayList<>();
    final List<RunRequest> requests = new CopyOnWriteArrayList<>();

    /** An in-memory client connection to a new fake daemon. */
    static Connection connect(FakeDaemon daemon) throws IOException {
        Transport[] t = BytePipe.duplex(256 * 1024);
        Mux server = Mux.start(t[1], Mux.Role.SERVER, MuxConfig.defaults("fake-daemon/0"), daemon);
        Mux client = Mux.start(t[0], Mux.Role.CLIENT, MuxConfig.defaults("tether-test/0"), null);
        client.awaitReady();
        return new Connection() {
            @Override public Mux mux() { return client; }
            @Override public String describe() { return "fake daemon"; }
            @Override public void close() {
                client.close();
                server.close();
            }
        };
    }

    @Override
    public void accept(MuxStream stream, StreamOpen open) throws Exception {
        if (open.hasFd()) {
            fdStreams.put(stream.id(), stream);
            return;
        }
        RunRequest run = open.getRun();
        requests.add(run);
        stream.send(SessionMessage.newBuilder().setStarted(Started.newBuilder().setPid(4242)).build());
        if (run.getArgv(0).equals("wait")) {
            try {
                while (stream.receiveBytes() != null) { /* signals are ignored */ }
            } catch (IOException e) {
                resets.add(e.getMessage());
            }
            return;
        }
        ByteArrayOutputStream input = new ByteArrayOutputStream();
        for (FdSpec fd : run.getFdsList()) {
            if (fd.getDirection() == Direction.TO_PROCESS) find(fd.getStreamId()).in().transferTo(input);
        }
        byte[] output = (run.getArgv(0) + ":" + input.toString(StandardCharsets.UTF_8).toUpperCase(Locale.ROOT))
                .getBytes(StandardCharsets.UTF_8);
        for (FdSpec fd : run.getFdsList()) {
            MuxStream s = find(fd.getStreamId());
            if (fd.getDirection() == Direction.FROM_PROCESS) {
                s.out().write(output);
            }
            s.closeWrite();
        }
        stream.send(SessionMessage.newBuilder().setExit(ExitStatus.newBuilder().setCode(run.getArgvCount())).build(), true);
    }

    private MuxStream find(int id) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (System.nanoTime() < deadline) {
            MuxStream s = fdStreams.get(id);
            if (s != null) return s;
            Thread.sleep(5);
        }
        throw new IOException("run names stream " + id + ", which this daemon never saw");
    }
}
