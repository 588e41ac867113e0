package io.tether.client.session;

import io.tether.posix.Terminal;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadFactory;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class LocalPipesTest {

    /** Collector threads that wait for {@code go} before their first read, as a thread the scheduler starts late. */
    private static ThreadFactory heldUntil(CountDownLatch go) {
        return body -> new Thread(() -> {
            try {
                go.await();
            } catch (InterruptedException e) {
                return;
            }
            body.run();
        });
    }

    /**
     * A test over in 2 ms (no session at all) may end before its collectors first read; the next test's pipes then
     * take the freed descriptor numbers. The late collectors must read their own pipes, not the next test's output
     * (ClientSessionTest.outputIsDrained... once received 4,096,000 of its 8 MiB: the rest went to such a thread).
     */
    @Test
    void lateCollectorsOfAnEndedTestTakeNothingFromTheNextOne() throws Exception {
        CountDownLatch endedGo = new CountDownLatch(1);
        CountDownLatch nextGo = new CountDownLatch(1);
        LocalPipes ended = new LocalPipes(heldUntil(endedGo));
        ended.close();
        try (LocalPipes next = new LocalPipes(heldUntil(nextGo))) {
            byte[] output = "the next test's output".getBytes(StandardCharsets.UTF_8);
            Terminal.writeFully(next.stdout[1], output);
            next.close(next.stdout[1]);
            endedGo.countDown();
            assertEquals(0, ended.stdoutBytes().length, "the ended test's collector read someone else's pipe");
            nextGo.countDown();
            assertArrayEquals(output, next.stdoutBytes());
        }
    }
}
