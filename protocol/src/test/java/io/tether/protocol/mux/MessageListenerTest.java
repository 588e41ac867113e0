package io.tether.protocol.mux;

import io.tether.protocol.proto.ResetCode;
import io.tether.protocol.testing.LeakCheck;
import io.tether.protocol.testing.MuxPair;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.tether.protocol.mux.MuxTest.DEFAULTS;
import static io.tether.protocol.mux.MuxTest.FD;
import static io.tether.protocol.mux.MuxTest.SMALL_STREAM_WINDOW;
import static io.tether.protocol.mux.MuxTest.get;
import static io.tether.protocol.mux.MuxTest.small;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link MuxStream#onMessages}, {@link MuxStream#pollBytes} and {@link MuxStream#trySendBytes}: messages without a thread of their own. */
@ExtendWith(LeakCheck.class)
@Timeout(120)
class MessageListenerTest {
    static byte[] text(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Takes every message the listener is told of; completes with them (and the threads it ran on) at the end or a reset. */
    static final class Collector implements Runnable {
        final MuxStream stream;
        final List<String> got = new ArrayList<>();
        final List<String> threads = new ArrayList<>();
        final CompletableFuture<List<String>> ended = new CompletableFuture<>();

        Collector(MuxStream stream) {
            this.stream = stream;
        }

        @Override
        public void run() {
            threads.add(Thread.currentThread().getName());
            try {
                for (byte[] m; (m = stream.pollBytes()) != null; ) got.add(new String(m, StandardCharsets.UTF_8));
                if (stream.messagesEnded()) ended.complete(List.copyOf(got));
            } catch (IOException e) {
                ended.completeExceptionally(e);
            }
        }
    }

    @Test
    void theListenerTakesEveryMessageInOrderOnTheReaderThreadThenLearnsTheEnd() throws Exception {
        MuxTest.Accepted onServer = new MuxTest.Accepted();
        try (MuxPair p = MuxPair.start(DEFAULTS, onServer, null)) {
            MuxStream c = p.client.open(FD);
            c.sendBytes(text("before"), false); // may come before the listener is set: told once it is
            MuxStream s = onServer.next();
            Collector col = new Collector(s);
            s.onMessages(col);
            List<String> want = new ArrayList<>(List.of("before"));
            for (int i = 0; i < 200; i++) {
                c.sendBytes(text("m" + i), false);
                want.add("m" + i);
            }
            c.sendBytes(text("last"), true);
            want.add("last");
            assertEquals(want, get(col.ended));
            assertTrue(s.messagesEnded());
            assertNull(s.pollBytes());
            // All but perhaps the first run (on the thread that set the listener) are the reader's.
            assertTrue(col.threads.stream().skip(1).allMatch(t -> t.endsWith("-reader")), col.threads.toString());
        }
    }

    @Test
    void theEndByDataAlsoEndsTheMessages() throws Exception {
        MuxTest.Accepted onServer = new MuxTest.Accepted();
        try (MuxPair p = MuxPair.start(DEFAULTS, onServer, null)) {
            MuxStream c = p.client.open(FD);
            MuxStream s = onServer.next();
            Collector col = new Collector(s);
            s.onMessages(col);
            c.sendBytes(text("one"), false);
            c.closeWrite();
            assertEquals(List.of("one"), get(col.ended));
        }
    }

    @Test
    void aResetByThePeerOrByThisSideReachesTheListener() throws Exception {
        MuxTest.Accepted onServer = new MuxTest.Accepted();
        try (MuxPair p = MuxPair.start(DEFAULTS, onServer, null)) {
            MuxStream c = p.client.open(FD);
            MuxStream s = onServer.next();
            Collector col = new Collector(s);
            s.onMessages(col);
            c.reset(ResetCode.RESET_CANCEL, "gone");
            Throwable e = MuxTest.failureOf(col.ended);
            assertEquals(ResetCode.RESET_CANCEL, assertInstanceOf(StreamResetException.class, e).code());

            MuxStream c2 = p.client.open(FD);
            MuxStream s2 = onServer.next();
            Collector col2 = new Collector(s2);
            s2.onMessages(col2);
            s2.reset(ResetCode.RESET_REFUSED, "no");
            assertInstanceOf(StreamResetException.class, MuxTest.failureOf(col2.ended));
        }
    }

    @Test
    void aLostConnectionReachesTheListener() throws Exception {
        MuxTest.Accepted onServer = new MuxTest.Accepted();
        MuxPair p = MuxPair.start(DEFAULTS, onServer, null);
        try {
            p.client.open(FD);
            MuxStream s = onServer.next();
            Collector col = new Collector(s);
            s.onMessages(col);
            p.client.transport().close();
            assertInstanceOf(IOException.class, MuxTest.failureOf(col.ended));
        } finally {
            p.close();
        }
    }

    @Test
    void trySendSendsNothingWithoutCreditAndSendsAgainOnceThePeerReads() throws Exception {
        MuxTest.Accepted onServer = new MuxTest.Accepted();
        try (MuxPair p = MuxPair.start(small(), onServer, null)) {
            MuxStream c = p.client.open(FD);
            MuxStream s = onServer.next();
            byte[] m = new byte[1000];
            int sent = 0;
            while (c.trySendBytes(m)) sent++;
            int fit = SMALL_STREAM_WINDOW / (m.length + Mux.MESSAGE_OVERHEAD) + 1; // one overdraft allowed
            assertEquals(fit, sent, "the window's worth, then false");
            assertFalse(c.trySendBytes(m));
            // The peer reads them all: credit comes back and the next one goes.
            for (int i = 0; i < sent; i++) assertEquals(m.length, s.receiveBytes().length);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            boolean again = false;
            while (!again && System.nanoTime() < deadline) {
                again = c.trySendBytes(text("again"));
                if (!again) Thread.sleep(1);
            }
            assertTrue(again, "credit came back");
            assertEquals("again", new String(s.receiveBytes(), StandardCharsets.UTF_8));
        }
    }
}
