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
import java.util.concurrent.ThreadFactory;
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
    private final ThreadFactory collectors;

    LocalPipes() throws ErrnoException {
        this(Thread::new);
    }

    /** {@code collectors} makes the threads that read the output pipes (tests of this class hold them back). */
    LocalPipes(ThreadFactory collectors) throws ErrnoException {
        this.collectors = collectors;
        stdin = track(Terminal.pipe());
        stdout = track(Terminal.pipe());
        stderr = track(Terminal.pipe());
        out = collect(stdout[0], live);
        err = collect(stderr[0], new ByteArrayOutputStream());
    }

    synchronized int[] track(int[] fds) {
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
        if (untrack(fd)) Terminal.closeQuietly(fd);
    }

    private synchronized boolean untrack(int fd) {
        return open.remove((Integer) fd);
    }

    /**
     * Reads {@code fd} to EOF on its own thread, as the reader of a pipe would. The thread owns {@code fd} from now
     * on and closes it at the end: it may start only after the test is over, and a number closed under it could
     * be the next test's pipe by then (closing our write ends ends it).
     */
    CompletableFuture<byte[]> collect(int fd) {
        return collect(fd, new ByteArrayOutputStream());
    }

    /** What the session wrote to stdout so far. */
    String stdoutSoFar() {
        synchronized (live) {
            return live.toString(StandardCharsets.UTF_8);
        }
    }

    private CompletableFuture<byte[]> collect(int fd, ByteArrayOutputStream all) {
        untrack(fd);
        CompletableFuture<byte[]> done = new CompletableFuture<>();
        Thread t = collectors.newThread(() -> {
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
            } finally {
                Terminal.closeQuietly(fd);
            }
        });
        t.setName("collect-fd" + fd);
        t.setDaemon(true);
        t.start();
        return done;
    }

    @Override
    public void close() {
        List<Integer> fds;
        synchronized (this) {
            fds = new ArrayList<>(open);
        }
        for (int fd : fds) close(fd);
    }
}
