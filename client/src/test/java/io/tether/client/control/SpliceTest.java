package io.tether.client.control;

import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.mux.StreamResetException;
import io.tether.protocol.proto.FdStream;
import io.tether.protocol.proto.ResetCode;
import io.tether.protocol.proto.StreamOpen;
import io.tether.protocol.transport.BytePipe;
import io.tether.protocol.transport.Transport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Two muxes spliced as the agent does: a front end's stream and its upstream twin, whose small window the relay runs out of. */
@Timeout(60)
class SpliceTest {
    static final int WINDOW = 64 * 1024;
    static final StreamOpen FD = StreamOpen.newBuilder().setFd(FdStream.getDefaultInstance()).build();
    final ExecutorService pumps = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "splice-test-pump");
        t.setDaemon(true);
        return t;
    });
    Mux frontEnd, agentFront, agentUp, daemon;
    /** The front end's stream, and the daemon's end of its upstream twin. */
    MuxStream front, far;

    static Mux[] pair(Mux.Acceptor onServer, int window) throws IOException {
        MuxConfig c = MuxConfig.defaults("splice-test/0").withWindows(window, 2 * window).withHelloTimeout(Duration.ofSeconds(10));
        Transport[] t = BytePipe.duplex(1 << 16);
        Mux client = Mux.start(t[0], Mux.Role.CLIENT, c, null);
        Mux server = Mux.start(t[1], Mux.Role.SERVER, c, onServer);
        client.awaitReady();
        server.awaitReady();
        return new Mux[] {client, server};
    }

    @BeforeEach
    void splice() throws Exception {
        LinkedBlockingQueue<MuxStream> atAgent = new LinkedBlockingQueue<>(), atDaemon = new LinkedBlockingQueue<>();
        // The front end's windows hold all a test sends; the upstream's far less.
        Mux[] f = pair((s, open) -> atAgent.add(s), 1 << 20);
        Mux[] u = pair((s, open) -> atDaemon.add(s), WINDOW);
        frontEnd = f[0];
        agentFront = f[1];
        agentUp = u[0];
        daemon = u[1];
        front = frontEnd.open(FD);
        MuxStream up = agentUp.open(FD);
        Splice.start(atAgent.poll(10, TimeUnit.SECONDS), up, pumps);
        far = atDaemon.poll(10, TimeUnit.SECONDS);
    }

    @AfterEach
    void close() {
        for (Mux m : new Mux[] {frontEnd, agentFront, agentUp, daemon}) m.close();
        pumps.shutdownNow();
    }

    static byte[] message(int i) {
        byte[] m = new byte[1000];
        byte[] n = ("m" + i + ":").getBytes(StandardCharsets.UTF_8);
        System.arraycopy(n, 0, m, 0, n.length);
        return m;
    }

    @Test
    void manyMoreMessagesThanTheUpstreamWindowHoldsArriveInOrderBothWays() throws Exception {
        // 600 KB of messages, all sent before the far side reads: the relay ran out of the upstream's
        // 64 KiB credit and left the rest to a pump, which sends on as the far side reads.
        int count = 600;
        for (int i = 0; i < count; i++) front.sendBytes(message(i), false);
        front.closeWrite();
        CompletableFuture<Void> back = CompletableFuture.runAsync(() -> {
            try {
                for (int i = 0; i < count; i++) far.sendBytes(message(-i), false);
                far.closeWrite();
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }, pumps);
        for (int i = 0; i < count; i++) assertArrayEquals(message(i), far.receiveBytes(), "message " + i);
        assertNull(far.receiveBytes(), "the end comes after the last message");
        for (int i = 0; i < count; i++) assertArrayEquals(message(-i), front.receiveBytes(), "message " + -i);
        assertNull(front.receiveBytes());
        back.get(30, TimeUnit.SECONDS);
    }

    @Test
    void bytesAndMessagesBothArriveBeforeTheEnd() throws Exception {
        front.sendBytes(message(1), false);
        front.out().write("data".getBytes(StandardCharsets.UTF_8));
        front.sendBytes(message(2), false);
        front.closeWrite();
        assertArrayEquals(message(1), far.receiveBytes());
        assertArrayEquals(message(2), far.receiveBytes());
        assertNull(far.receiveBytes());
        assertArrayEquals("data".getBytes(StandardCharsets.UTF_8), far.in().readAllBytes());
    }

    @Test
    void aResetOnEitherSideResetsTheOtherWithItsCode() throws Exception {
        front.sendBytes(message(1), false);
        assertArrayEquals(message(1), far.receiveBytes());
        far.reset(ResetCode.RESET_REFUSED, "no");
        StreamResetException e = assertThrows(StreamResetException.class, () -> {
            while (true) front.receiveBytes();
        });
        assertEquals(ResetCode.RESET_REFUSED, e.code());
    }
}
