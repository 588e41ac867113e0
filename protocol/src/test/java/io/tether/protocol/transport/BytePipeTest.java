package io.tether.protocol.transport;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The in-memory pipe the mux tests and the local target run over. Timeouts only guard against hangs. */
@Timeout(30)
class BytePipeTest {

    static CompletableFuture<byte[]> readAllAsync(BytePipe p) {
        CompletableFuture<byte[]> f = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                f.complete(p.source.readAllBytes());
            } catch (IOException e) {
                f.completeExceptionally(e);
            }
        });
        t.setDaemon(true);
        t.start();
        return f;
    }

    @Test
    void bytesWrittenBeyondTheCapacityArriveInOrderThenEndOfStream() throws Exception {
        BytePipe p = new BytePipe(7);
        CompletableFuture<byte[]> got = readAllAsync(p);
        byte[] data = new byte[10_000];
        for (int i = 0; i < data.length; i++) data[i] = (byte) (i * 13);
        p.sink.write(data);
        p.sink.write(42);
        p.sink.close();
        byte[] expected = new byte[data.length + 1];
        System.arraycopy(data, 0, expected, 0, data.length);
        expected[data.length] = 42;
        assertArrayEquals(expected, got.get(10, TimeUnit.SECONDS));
    }

    @Test
    void aFullPipeBlocksTheWriterUntilTheReaderReads() throws Exception {
        BytePipe p = new BytePipe(4);
        p.sink.write(new byte[4]);
        CompletableFuture<Void> blocked = CompletableFuture.runAsync(() -> {
            try {
                p.sink.write(1);
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }, r -> new Thread(r).start());
        Thread.sleep(50);
        assertFalse(blocked.isDone());
        assertEquals(4, p.source.read(new byte[4]));
        blocked.get(10, TimeUnit.SECONDS);
        assertEquals(1, p.source.available());
    }

    @Test
    void closingTheReaderBreaksTheWriter() throws Exception {
        BytePipe p = new BytePipe(4);
        p.sink.write(new byte[4]);
        CompletableFuture<Void> blocked = CompletableFuture.runAsync(() -> {
            try {
                p.sink.write(new byte[10]);
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }, r -> new Thread(r).start());
        Thread.sleep(50);
        p.source.close();
        ExecutionException e = assertThrows(ExecutionException.class, () -> blocked.get(10, TimeUnit.SECONDS));
        assertInstanceOf(IOException.class, e.getCause().getCause());
        assertThrows(IOException.class, () -> p.sink.write(1));
    }

    @Test
    void closingADuplexEndUnblocksItsOwnReaderAndEndsThePeers() throws Exception {
        Transport[] t = BytePipe.duplex(16);
        CompletableFuture<Integer> ownReader = CompletableFuture.supplyAsync(() -> {
            try {
                return t[0].input().read();
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }, r -> new Thread(r).start());
        t[0].output().write(new byte[] {1, 2});
        Thread.sleep(50);
        t[0].close();
        t[0].close(); // idempotent
        ExecutionException e = assertThrows(ExecutionException.class, () -> ownReader.get(10, TimeUnit.SECONDS));
        assertInstanceOf(IOException.class, e.getCause().getCause());
        // The peer still reads what was sent, then the end; its writes fail.
        assertArrayEquals(new byte[] {1, 2}, t[1].input().readAllBytes());
        assertThrows(IOException.class, () -> t[1].output().write(3));
    }

    @Test
    void anInterruptedReaderGetsAnInterruptedIoException() throws Exception {
        BytePipe p = new BytePipe(4);
        CompletableFuture<Throwable> thrown = new CompletableFuture<>();
        Thread reader = new Thread(() -> {
            try {
                p.source.read();
                thrown.complete(null);
            } catch (IOException e) {
                thrown.complete(e);
            }
        });
        reader.start();
        Thread.sleep(50);
        reader.interrupt();
        assertInstanceOf(java.io.InterruptedIOException.class, thrown.get(10, TimeUnit.SECONDS));
    }
}
