package io.tether.protocol.mux;

import io.tether.protocol.testing.LeakCheck;
import io.tether.protocol.testing.MuxPair;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CyclicBarrier;

import static io.tether.protocol.mux.MuxTest.DEFAULTS;
import static io.tether.protocol.mux.MuxTest.FD;
import static io.tether.protocol.mux.MuxTest.POOL;
import static io.tether.protocol.mux.MuxTest.get;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A sender writes its message itself while the writer sleeps, else queues it ({@link Mux#claimOutput}): whichever way,
 * each thread's messages, bytes and end keep their order, also with many threads switching between the two ways at once.
 */
@ExtendWith(LeakCheck.class)
@Timeout(120)
class SendOrderTest {
    @Test
    void eachSendersMessagesKeepTheirOrderWhileManySendAtOnce() throws Exception {
        MuxTest.Accepted onServer = new MuxTest.Accepted();
        int senders = 6, each = 2000;
        try (MuxPair p = MuxPair.start(DEFAULTS, onServer, null)) {
            MuxStream c = p.client.open(FD);
            MuxStream s = onServer.next();
            CyclicBarrier go = new CyclicBarrier(senders);
            List<CompletableFuture<Void>> sent = new ArrayList<>();
            for (int k = 0; k < senders; k++) {
                int who = k;
                sent.add(CompletableFuture.runAsync(() -> {
                    try {
                        go.await();
                        for (int i = 0; i < each; i++) {
                            c.sendBytes(ByteBuffer.allocate(8).putInt(who).putInt(i).array(), false);
                            if (i % 97 == 0) Thread.yield();
                        }
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                }, POOL));
            }
            int[] next = new int[senders];
            for (int n = 0; n < senders * each; n++) {
                ByteBuffer m = ByteBuffer.wrap(s.receiveBytes());
                int who = m.getInt(), i = m.getInt();
                assertEquals(next[who]++, i, "sender " + who + "'s messages out of order");
            }
            for (CompletableFuture<Void> f : sent) get(f);
        }
    }

    @Test
    void aMessageAfterBytesOnTheSameStreamAndTheEndAfterBothArriveInOrder() throws Exception {
        MuxTest.Accepted onServer = new MuxTest.Accepted();
        try (MuxPair p = MuxPair.start(DEFAULTS, onServer, null)) {
            MuxStream c = p.client.open(FD);
            MuxStream s = onServer.next();
            for (int round = 0; round < 50; round++) {
                c.sendBytes(new byte[] {(byte) round}, false);
            }
            c.out().write(new byte[100_000]);
            c.sendBytes(new byte[] {(byte) 99}, true);
            for (int round = 0; round < 50; round++) assertArrayEquals(new byte[] {(byte) round}, s.receiveBytes());
            assertArrayEquals(new byte[] {(byte) 99}, s.receiveBytes());
            assertEquals(100_000, s.in().readAllBytes().length, "the end did not overtake the bytes");
        }
    }
}
