package io.tether.client.session;

import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.Direction;
import io.tether.protocol.proto.ExitStatus;
import io.tether.protocol.proto.Failure;
import io.tether.protocol.proto.FdSpec;
import io.tether.protocol.proto.ResetCode;
import io.tether.protocol.proto.RunRequest;
import io.tether.protocol.proto.SessionMessage;
import io.tether.protocol.proto.Started;
import io.tether.protocol.proto.StreamOpen;
import io.tether.protocol.transport.BytePipe;
import io.tether.protocol.transport.Transport;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A SERVER-role mux that follows the session protocol with a scripted "process": each
 * test says what the process does with its descriptors and how it ends. Stands in for
 * the daemon, so these tests pin the client's side of the protocol on their own.
 */
final class FakeDaemon implements AutoCloseable {

    @FunctionalInterface
    interface Script {
        void run(Session s) throws Exception;
    }

    /** One run request as the daemon sees it, with helpers to play the process. */
    static final class Session {
        final RunRequest request;
        final MuxStream run;
        final Map<Integer, MuxStream> byTargetFd = new TreeMap<>();
        final Map<Integer, Direction> directions = new TreeMap<>();
        MuxStream ptyIn;
        MuxStream ptyOut;

        Session(RunRequest request, MuxStream run) {
            this.request = request;
            this.run = run;
        }

        MuxStream fd(int targetFd) {
            return byTargetFd.get(targetFd);
        }

        void started() throws IOException {
            run.send(SessionMessage.newBuilder().setStarted(Started.newBuilder().setPid(4242)).build());
        }

        /** Everything the process read from {@code stream} until EOF. */
        static byte[] readAll(MuxStream stream) throws IOException {
            ByteArrayOutputStream all = new ByteArrayOutputStream();
            stream.in().transferTo(all);
            return all.toByteArray();
        }

        /** Counts bytes to EOF without keeping them. */
        static long count(MuxStream stream) throws IOException {
            InputStream in = stream.in();
            byte[] buf = new byte[64 * 1024];
            long total = 0;
            for (int n; (n = in.read(buf)) >= 0; ) total += n;
            return total;
        }

        void write(int targetFd, byte[] bytes) throws IOException {
            fd(targetFd).out().write(bytes);
        }

        /**
         * As the daemon does: every output reaches EOF, then the exit (end of the run stream). An
         * input stream's daemon direction ends too: it returned nothing the process left unread.
         */
        void exit(ExitStatus status) throws IOException {
            for (var e : byTargetFd.entrySet()) e.getValue().closeWrite();
            if (ptyOut != null) ptyOut.closeWrite();
            run.send(SessionMessage.newBuilder().setExit(status).build(), true);
        }

        void exit(int code) throws IOException {
            exit(ExitStatus.newBuilder().setCode(code).build());
        }

        void killed(String signal, int number) throws IOException {
            exit(ExitStatus.newBuilder().setSignal(signal).setSignalNumber(number).build());
        }

        void fail(int errno, String message, boolean exec) throws IOException {
            run.send(SessionMessage.newBuilder().setFailure(Failure.newBuilder()
                    .setErrno(errno).setMessage(message).setExec(exec)).build(), true);
        }

        SessionMessage next() throws IOException {
            return run.receive(SessionMessage.parser());
        }
    }

    final Mux client;
    final Mux server;
    final CompletableFuture<Session> session = new CompletableFuture<>();
    final CompletableFuture<Void> scriptDone = new CompletableFuture<>();
    private final Map<Integer, MuxStream> fdStreams = new ConcurrentHashMap<>();
    private final Script script;

    FakeDaemon(Script script) throws IOException {
        this.script = script;
        Transport[] pair = BytePipe.duplex(64 * 1024);
        server = Mux.start(pair[1], Mux.Role.SERVER, MuxConfig.defaults("fake-tetherd/0"), this::accept);
        client = Mux.start(pair[0], Mux.Role.CLIENT, MuxConfig.defaults("tether-test/0"), null);
        client.awaitReady();
    }

    private void accept(MuxStream stream, StreamOpen open) throws Exception {
        switch (open.getKindCase()) {
            case FD -> fdStreams.put(stream.id(), stream);
            case RUN -> {
                Session s = new Session(open.getRun(), stream);
                for (FdSpec f : open.getRun().getFdsList()) {
                    s.byTargetFd.put(f.getTargetFd(), awaitFdStream(f.getStreamId()));
                    s.directions.put(f.getTargetFd(), f.getDirection());
                }
                if (open.getRun().hasPty()) {
                    s.ptyIn = awaitFdStream(open.getRun().getPty().getInStream());
                    s.ptyOut = awaitFdStream(open.getRun().getPty().getOutStream());
                }
                session.complete(s);
                try {
                    script.run(s);
                    scriptDone.complete(null);
                } catch (Throwable t) {
                    scriptDone.completeExceptionally(t);
                    throw t;
                }
            }
            default -> stream.reset(ResetCode.RESET_REFUSED, "unknown stream kind");
        }
    }

    /** Accept handlers run in parallel: the fd stream's may not have run yet. */
    private MuxStream awaitFdStream(int id) throws InterruptedException, IOException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (System.nanoTime() < deadline) {
            MuxStream s = fdStreams.get(id);
            if (s != null) return s;
            Thread.sleep(1);
        }
        throw new IOException("no fd stream " + id);
    }

    Session session() throws Exception {
        return session.get(5, TimeUnit.SECONDS);
    }

    @Override
    public void close() {
        client.close();
        server.close();
    }
}
