package io.tether.client.session;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import io.tether.posix.ErrnoException;
import io.tether.posix.Terminal;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Real pipes standing in for the client's fds 0-2; the test plays the user's shell. */
final class LocalPipes implements AutoCloseable {
    final int[] stdin;
    final int[] stdout;
    final int[] stderr;
    private final List<Integer> open = new ArrayList<>();
    private final ByteArrayOutputStream live = new ByteArrayOutputStream();
    private final CompletableFuture<byte[]> out;
    private final CompletableFuture<byte[]> err;

    LocalPipes() throws ErrnoException {
        stdin = track(Terminal.pipe());
        stdout = track(Terminal.pipe());
        stderr = track(Terminal.pipe());
        out = collect(stdout[0], live);
        err = collect(stderr[0], new ByteArrayOutputStream());
    }

    int[] track(int[] fds) {
        for (int fd : fds) open.add(fd);
        return fds;
    }

    ClientSession.LocalIo io() {
        return new ClientSession.LocalIo(stdin[0], stdout[1], stderr[1], false);
    }

    void writeStdin(byte[] bytes) throws ErrnoException {
        Terminal.writeFully(stdin[1], bytes);
    }

    void closeStdin() {
        close(stdin[1]);
    }

    /** Ends our copies of the output pipes' write ends and returns what the session wrote. */
    byte[] stdoutBytes() throws Exception {
        close(stdout[1]);
        return out.get(10, TimeUnit.SECONDS);
    }

    String stdoutText() throws Exception {
        return new String(stdoutBytes(), StandardCharsets.UTF_8);
    }

    String stderrText() throws Exception {
        close(stderr[1]);
        return new String(err.get(10, TimeUnit.SECONDS), StandardCharsets.UTF_8);
    }

    void close(int fd) {
        if (open.remove((Integer) fd)) Terminal.closeQuietly(fd);
    }

    /** Reads {@code fd} to EOF on its own thread, as the reader of a pipe would. */
    static CompletableFuture<byte[]> collect(int fd) {
        return collect(fd, new ByteArrayOutputStream());
    }

    /** What the session wrote to stdout so far. */
    String stdoutSoFar() {
        synchronized (live) {
            return live.toString(StandardCharsets.UTF_8);
        }
    }

    private static CompletableFuture<byte[]> collect(int fd, ByteArrayOutputStream all) {
        CompletableFuture<byte[]> done = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try (Memory m = new Memory(65536)) {
                byte[] b = new byte[65536];
                for (int n; (n = Terminal.read(fd, Pointer.nativeValue(m), b.length)) > 0; ) {
                    m.read(0, b, 0, n);
                    synchronized (all) {
                        all.write(b, 0, n);
                    }
                }
                synchronized (all) {
                    done.complete(all.toByteArray());
                }
            } catch (Exception e) {
                done.completeExceptionally(e);
            }
        }, "collect-fd" + fd);
        t.setDaemon(true);
        t.start();
        return done;
    }

    @Override
    public void close() {
        for (int fd : new ArrayList<>(open)) close(fd);
    }
}
