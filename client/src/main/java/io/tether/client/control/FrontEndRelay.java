package io.tether.client.control;

import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.FdSpec;
import io.tether.protocol.proto.PtySpec;
import io.tether.protocol.proto.ResetCode;
import io.tether.protocol.proto.RunRequest;
import io.tether.protocol.proto.StreamOpen;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The agent's side of one front end: each stream the front end opens is opened upstream with
 * the same {@link StreamOpen} and spliced to it. Stream ids differ between the two muxes, so
 * the fd, files and files data stream ids a {@link RunRequest} names are rewritten to their upstream ids. When the
 * front end goes, its streams are reset upstream (the daemon then kills those processes).
 */
final class FrontEndRelay implements Mux.Acceptor {
    private static final Logger log = LoggerFactory.getLogger(FrontEndRelay.class);
    /** The front end opens a run's fd streams just before it; their accepts may still be running. */
    private static final long MAPPING_WAIT_MS = 10_000;

    private final Mux upstream;
    private final ExecutorService pumps;
    private final Object lock = new Object();
    private final Map<Integer, Integer> upstreamIds = new HashMap<>();
    private final Set<Splice> live = new HashSet<>();
    private boolean gone;

    FrontEndRelay(Mux upstream, ExecutorService pumps) {
        this.upstream = upstream;
        this.pumps = pumps;
    }

    @Override
    public void accept(MuxStream front, StreamOpen open) {
        StreamOpen rewritten;
        try {
            rewritten = open.hasRun() ? open.toBuilder().setRun(rewrite(open.getRun())).build() : open;
        } catch (IllegalStateException e) {
            front.reset(ResetCode.RESET_PROTOCOL_ERROR, e.getMessage());
            return;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            front.reset(ResetCode.RESET_CANCEL, "agent shutting down");
            return;
        }
        MuxStream up;
        try {
            up = upstream.open(rewritten);
        } catch (IOException e) {
            front.reset(ResetCode.RESET_REFUSED, "connection lost: " + e.getMessage());
            return;
        }
        Splice splice;
        synchronized (lock) {
            upstreamIds.put(front.id(), up.id());
            lock.notifyAll();
            if (gone) {
                up.reset(ResetCode.RESET_CANCEL, "client gone");
                return;
            }
            splice = Splice.start(front, up, pumps);
            live.add(splice);
        }
        log.debug("stream {} -> upstream {} ({})", front.id(), up.id(), open.getKindCase());
        up.onClosed().thenRunAsync(() -> forget(splice), pumps);
        front.onClosed().thenRunAsync(() -> {
            // Backstop: a front stream reset while its pumps sit on the upstream side still
            // resets the upstream (a session with no output would otherwise keep running).
            if (front.isReset()) up.reset(ResetCode.RESET_CANCEL, "client gone");
        }, pumps);
    }

    /** The front end's connection ended: reset whatever it still had running upstream. */
    void frontEndGone(String why) {
        Set<Splice> toReset;
        synchronized (lock) {
            gone = true;
            toReset = new HashSet<>(live);
            live.clear();
            lock.notifyAll();
        }
        for (Splice s : toReset) s.reset(ResetCode.RESET_CANCEL, "client gone: " + why);
    }

    private void forget(Splice s) {
        synchronized (lock) {
            live.remove(s);
        }
    }

    private RunRequest rewrite(RunRequest run) throws InterruptedException {
        RunRequest.Builder b = run.toBuilder();
        for (int i = 0; i < run.getFdsCount(); i++) {
            FdSpec fd = run.getFds(i);
            b.setFds(i, fd.toBuilder().setStreamId(upstreamId(fd.getStreamId())));
        }
        if (run.hasPty()) {
            PtySpec pty = run.getPty();
            b.setPty(pty.toBuilder().setInStream(upstreamId(pty.getInStream())).setOutStream(upstreamId(pty.getOutStream())));
        }
        if (run.hasGuest() && run.getGuest().getFilesStream() != 0) {
            // "No NFS": the host's file server stream, opened before the run like the fd streams.
            b.setGuest(run.getGuest().toBuilder().setFilesStream(upstreamId(run.getGuest().getFilesStream()))
                    .setFilesDataStream(upstreamId(run.getGuest().getFilesDataStream())));
        }
        return b.build();
    }

    private int upstreamId(int frontId) throws InterruptedException {
        if (frontId == 0) return 0;
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(MAPPING_WAIT_MS);
        synchronized (lock) {
            while (true) {
                Integer id = upstreamIds.get(frontId);
                if (id != null) return id;
                long left = deadline - System.nanoTime();
                if (left <= 0 || gone) {
                    throw new IllegalStateException("run request names stream " + frontId + ", which was never opened");
                }
                TimeUnit.NANOSECONDS.timedWait(lock, left);
            }
        }
    }
}
