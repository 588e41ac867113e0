package io.tether.client.control;

import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.mux.StreamResetException;
import io.tether.protocol.proto.ResetCode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Joins two mux streams back to back: messages, bytes, ends and resets pass both ways
 * unparsed. Each direction has a message relay and a data pump (a data pump blocked on credit
 * must not hold up messages). Messages are passed on by the receiving mux's reader thread itself
 * while the other side has credit ({@link MessageRelay}): no thread hand-off per message, which a
 * file request crosses twice per round trip. A direction's end is passed on only after both its
 * relay and its pump finished, so no message or byte is cut off. A reset on either side resets the
 * other with the same code.
 */
final class Splice {
    private static final Logger log = LoggerFactory.getLogger(Splice.class);
    private static final int CHUNK = 32 * 1024;

    private final MuxStream front;
    private final MuxStream upstream;

    private Splice(MuxStream front, MuxStream upstream) {
        this.front = front;
        this.upstream = upstream;
    }

    /** Starts the four pumps on {@code pumps}. */
    static Splice start(MuxStream front, MuxStream upstream, Executor pumps) {
        Splice s = new Splice(front, upstream);
        s.direction(front, upstream, pumps);
        s.direction(upstream, front, pumps);
        return s;
    }

    MuxStream front() { return front; }

    MuxStream upstream() { return upstream; }

    /** Resets both sides (front end gone, upstream lost). */
    void reset(ResetCode code, String reason) {
        upstream.reset(code, reason);
        front.reset(code, reason);
    }

    private void direction(MuxStream from, MuxStream to, Executor pumps) {
        AtomicInteger running = new AtomicInteger(2);
        Runnable done = () -> {
            if (running.decrementAndGet() == 0) to.closeWrite();
        };
        new MessageRelay(from, to, done, pumps).start();
        pumps.execute(() -> pumpData(from, to, done));
    }

    /**
     * One direction's messages, in order. The reader thread of {@code from}'s mux forwards what has come
     * while {@code to} has credit; without credit the message in hand goes to a pump thread, which waits for
     * credit, sends it and gives the relay back. One owner at a time (the reader thread must never wait,
     * not even for the pump: the credit the pump waits for may have to come through that very thread).
     */
    private final class MessageRelay {
        private final MuxStream from;
        private final MuxStream to;
        private final Runnable done;
        private final Executor pumps;
        private final java.util.concurrent.atomic.AtomicBoolean owned = new java.util.concurrent.atomic.AtomicBoolean();
        private boolean finished; // by the owner only

        MessageRelay(MuxStream from, MuxStream to, Runnable done, Executor pumps) {
            this.from = from;
            this.to = to;
            this.done = done;
            this.pumps = pumps;
        }

        void start() {
            from.onMessages(this::relay);
        }

        /** Forwards what it can without waiting; any thread. */
        private void relay() {
            while (owned.compareAndSet(false, true)) {
                if (!forward()) return; // a pump owns the relay now
                owned.set(false);
                // A message that came while we owned the relay found it owned: look again.
                if (finished || !from.hasNews()) return;
            }
        }

        /** Owner only. False: the relay passed to a pump thread, which releases it. */
        private boolean forward() {
            if (finished) return true;
            try {
                byte[] m;
                while ((m = from.pollBytes()) != null) {
                    if (!to.trySendBytes(m)) {
                        byte[] held = m;
                        pumps.execute(() -> sendWaiting(held));
                        return false;
                    }
                }
                if (from.messagesEnded()) {
                    finished = true;
                    done.run();
                }
            } catch (IOException e) {
                finished = true;
                fail(from, to, e);
            }
            return true;
        }

        private void sendWaiting(byte[] m) {
            try {
                to.sendBytes(m, false);
            } catch (IOException e) {
                finished = true;
                fail(from, to, e);
            }
            owned.set(false);
            relay();
        }
    }

    private void pumpData(MuxStream from, MuxStream to, Runnable done) {
        // Not try-with-resources: closing a stream's InputStream would reset it.
        InputStream in = from.in();
        OutputStream out = to.out();
        byte[] buf = new byte[CHUNK];
        try {
            int n;
            while ((n = in.read(buf)) >= 0) {
                if (n > 0) out.write(buf, 0, n);
            }
            done.run();
        } catch (IOException e) {
            fail(from, to, e);
        }
    }

    private void fail(MuxStream from, MuxStream to, IOException e) {
        if (!upstream.mux().isOpen()) {
            // The upstream connection is gone: the agent cuts every front end off, so their
            // sessions report a lost connection rather than a refused stream.
            log.debug("splice {}<->{}: upstream lost", front.id(), upstream.id());
            return;
        }
        ResetCode code = e instanceof StreamResetException r ? r.code() : ResetCode.RESET_CANCEL;
        String reason = String.valueOf(e.getMessage());
        log.debug("splice {}<->{}: {}", front.id(), upstream.id(), reason);
        // Whichever side failed is already reset; resetting it again is a no-op.
        to.reset(code, reason);
        from.reset(code, reason);
    }
}
