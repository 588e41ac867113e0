package io.tether.protocol.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class ReusedThreadsTest {
    @Test
    void aJobRunsOnADaemonThreadOfItsNameAndAThreadIsKeptForTheNextJob() throws Exception {
        AtomicReference<Thread> first = new AtomicReference<>();
        AtomicReference<String> name = new AtomicReference<>();
        ReusedThreads.start("pump-a", () -> {
            first.set(Thread.currentThread());
            name.set(Thread.currentThread().getName());
        }).get(10, TimeUnit.SECONDS);
        assertEquals("pump-a", name.get());
        assertTrue(first.get().isDaemon());
        Thread.sleep(100); // back in the pool
        AtomicReference<Thread> second = new AtomicReference<>();
        ReusedThreads.start("pump-b", () -> {
            second.set(Thread.currentThread());
            name.set(Thread.currentThread().getName());
        }).get(10, TimeUnit.SECONDS);
        assertSame(first.get(), second.get(), "no new thread for the second job");
        assertEquals("pump-b", name.get());
    }

    @Test
    void aJobThatThrowsOrLeavesItsThreadInterruptedEndsAndTheNextStartsClean() throws Exception {
        AtomicReference<Thread> used = new AtomicReference<>();
        ReusedThreads.start("thrower", () -> {
            used.set(Thread.currentThread());
            Thread.currentThread().interrupt();
            throw new IllegalStateException("logged, not lost");
        }).get(10, TimeUnit.SECONDS);
        Thread.sleep(100);
        AtomicBoolean interrupted = new AtomicBoolean(true);
        AtomicReference<Thread> next = new AtomicReference<>();
        ReusedThreads.named("next").execute(() -> {
            interrupted.set(Thread.currentThread().isInterrupted());
            next.set(Thread.currentThread());
        });
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (next.get() == null && System.nanoTime() < deadline) Thread.sleep(5);
        assertSame(used.get(), next.get());
        assertFalse(interrupted.get(), "the interrupt stayed with the job that made it");
    }
}
