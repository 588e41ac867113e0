package io.tether.daemon.session;

import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.ResetCode;
import io.tether.protocol.proto.StreamOpen;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * One client connection: the fd and files streams it opened and not yet claimed by a RunRequest,
 * and its live sessions, all of which are killed when the connection ends.
 */
final class Connection {
    private static final Logger log = LoggerFactory.getLogger(Connection.class);

    final DaemonCore core;
    final String peer;
    private final Map<Integer, Opened> pending = new HashMap<>();  // fd and files streams by id
    private final Set<Session> sessions = ConcurrentHashMap.newKeySet();
    private boolean ended;

    /** A stream the client opened for a later RunRequest to name, with what it was opened for. */
    record Opened(MuxStream stream, StreamOpen open) {}

    Connection(DaemonCore core, String peer) {
        this.core = core;
        this.peer = peer;
    }

    /** The mux acceptor: runs on a mux pool thread and may block (a session runs its control loop here). */
    void accept(MuxStream stream, StreamOpen open) {
        switch (open.getKindCase()) {
            case FD, FILES, FILES_DATA -> register(stream, open);
            case RUN -> {
                // The session removes itself once it finished (its control loop may end earlier).
                Session s = new Session(this, stream, open.getRun());
                sessions.add(s);
                s.run();
            }
            default -> stream.reset(ResetCode.RESET_REFUSED, "unknown stream kind " + open.getKindCase());
        }
    }

    private void register(MuxStream stream, StreamOpen open) {
        synchronized (pending) {
            if (ended) {
                stream.reset(ResetCode.RESET_REFUSED, "connection ending");
                return;
            }
            pending.put(stream.id(), new Opened(stream, open));
            pending.notifyAll();
        }
        stream.onClosed().thenRun(() -> {
            synchronized (pending) {
                Opened o = pending.get(stream.id());
                if (o != null && o.stream() == stream) pending.remove(stream.id());
            }
        });
    }

    /**
     * Takes the fd stream {@code id}, waiting up to {@code wait} for its OPEN to be accepted
     * (the mux hands streams to the acceptor concurrently, so a RunRequest can overtake the
     * fd streams opened before it). Null if it never came.
     */
    MuxStream claimFd(int id, Duration wait) throws InterruptedIOException {
        Opened o = claim(id, StreamOpen.KindCase.FD, wait);
        return o == null ? null : o.stream();
    }

    /**
     * Takes the files stream {@code id} (StreamOpen{files}, the host's file server of a guest run),
     * waiting as {@link #claimFd} does. Null if it never came.
     */
    Opened claimFiles(int id, Duration wait) throws InterruptedIOException {
        return claim(id, StreamOpen.KindCase.FILES, wait);
    }

    /** Takes the files data stream {@code id} (StreamOpen{files_data}), waiting as {@link #claimFd} does. Null if it never came. */
    MuxStream claimFilesData(int id, Duration wait) throws InterruptedIOException {
        Opened o = claim(id, StreamOpen.KindCase.FILES_DATA, wait);
        return o == null ? null : o.stream();
    }

    /** The stream {@code id} if it was opened as {@code kind}; a stream of another kind stays unclaimed. */
    private Opened claim(int id, StreamOpen.KindCase kind, Duration wait) throws InterruptedIOException {
        long deadline = System.nanoTime() + wait.toNanos();
        synchronized (pending) {
            while (true) {
                Opened o = pending.get(id);
                if (o != null) {
                    if (o.open().getKindCase() != kind) return null;
                    pending.remove(id);
                    return o;
                }
                long left = deadline - System.nanoTime();
                if (left <= 0 || ended) return null;
                try {
                    TimeUnit.NANOSECONDS.timedWait(pending, left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException();
                }
            }
        }
    }

    void finished(Session s) {
        sessions.remove(s);
    }

    int sessionCount() {
        return sessions.size();
    }

    /** The connection is gone (or closed): kill every session's processes. */
    void ended(Mux mux, Throwable cause) {
        List<MuxStream> unclaimed;
        synchronized (pending) {
            ended = true;
            unclaimed = new ArrayList<>();
            for (Opened o : pending.values()) unclaimed.add(o.stream());
            pending.clear();
            pending.notifyAll();
        }
        unclaimed.forEach(s -> s.reset(ResetCode.RESET_CANCEL, "connection ended"));
        if (!sessions.isEmpty()) {
            log.info("connection {} ended ({}): killing {} session(s)", peer,
                    cause == null ? "closed" : cause.getMessage(), sessions.size());
        }
        for (Session s : new ArrayList<>(sessions)) s.terminate("connection ended");
    }
}
