package io.tether.client.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class RequestPoolTest {
    @Test
    void runsAtMostItsBoundAtOnceAndTheRestInOrder() throws Exception {
        RequestPool pool = new RequestPool(2);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger now = new AtomicInteger(), most = new AtomicInteger();
        List<Integer> order = new CopyOnWriteArrayList<>();
        CountDownLatch twoIn = new CountDownLatch(2);
        for (int i = 0; i < 6; i++) {
            int n = i;
            pool.execute(() -> {
                most.accumulateAndGet(now.incrementAndGet(), Math::max);
                if (n < 2) {
                    twoIn.countDown();
                    await(release);
                }
                order.add(n);
                now.decrementAndGet();
            });
        }
        assertTrue(twoIn.await(10, TimeUnit.SECONDS));
        assertFalse(pool.awaitTermination(50, TimeUnit.MILLISECONDS), "two held, four waiting");
        assertTrue(order.isEmpty(), "the waiting ones wait for a free place: " + order);
        release.countDown();
        pool.shutdown();
        assertTrue(pool.awaitTermination(10, TimeUnit.SECONDS));
        assertEquals(2, most.get());
        assertEquals(6, order.size());
        assertThrows(RejectedExecutionException.class, () -> pool.execute(() -> {}));
    }

    @Test
    void oneAtATimeRunsItsQueueInOrder() throws Exception {
        RequestPool pool = new RequestPool(1);
        CountDownLatch release = new CountDownLatch(1), in = new CountDownLatch(1);
        List<Integer> order = new CopyOnWriteArrayList<>();
        pool.execute(() -> {
            in.countDown();
            await(release);
            order.add(0);
        });
        assertTrue(in.await(10, TimeUnit.SECONDS));
        for (int i = 1; i < 5; i++) {
            int n = i;
            pool.execute(() -> order.add(n));
        }
        release.countDown();
        assertTrue(pool.awaitTermination(10, TimeUnit.SECONDS));
        assertEquals(List.of(0, 1, 2, 3, 4), order, "queued tasks in the order they came");
    }

    @Test
    void oneServersTasksDoNotCountAgainstAnothers() throws Exception {
        RequestPool a = new RequestPool(1), b = new RequestPool(1);
        CountDownLatch release = new CountDownLatch(1), aIn = new CountDownLatch(1), bRan = new CountDownLatch(1);
        a.execute(() -> {
            aIn.countDown();
            await(release);
        });
        assertTrue(aIn.await(10, TimeUnit.SECONDS));
        b.execute(bRan::countDown);
        assertTrue(bRan.await(10, TimeUnit.SECONDS), "b's request runs while a's bound is full");
        assertTrue(b.awaitTermination(10, TimeUnit.SECONDS));
        release.countDown();
        assertTrue(a.awaitTermination(10, TimeUnit.SECONDS));
    }

    @Test
    void aFailingTaskFreesItsPlace() throws Exception {
        RequestPool pool = new RequestPool(1);
        pool.execute(() -> {
            throw new IllegalStateException("expected in this test");
        });
        CountDownLatch ran = new CountDownLatch(1);
        pool.execute(ran::countDown);
        assertTrue(ran.await(10, TimeUnit.SECONDS));
        assertTrue(pool.awaitTermination(10, TimeUnit.SECONDS));
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
