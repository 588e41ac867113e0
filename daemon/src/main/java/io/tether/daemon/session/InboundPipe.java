package io.tether.daemon.session;

import com.sun.jna.Memory;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.posix.LibC;
import io.tether.protocol.frame.Limits;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.transport.ReusedThreads;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A TO_PROCESS pipe: the client's bytes into the pipe the process reads, and, once the
 * process has exited, every byte it never read back to the client on the same stream.
 * A make jobserver pipe forwarded with {@code tether run} holds tokens: a token the remote
 * side did not take must go back to the host's pipe, or make loses it.
 *
 * <p>{@link #giveBack()} (process gone) drains what is left in the pipe through a read end
 * opened on /proc/self/fd/&lt;write end&gt; and sends it as DATA; from then on the pump
 * returns whatever still arrives instead of writing it, and ends the daemon-to-client
 * direction when the client ends its own (it stops reading its pipe at the session's end).
 */
final class InboundPipe {
    private static final Logger log = LoggerFactory.getLogger(InboundPipe.class);
    private static final int CHUNK = Limits.DATA_CHUNK;

    private final String name;
    private final MuxStream stream;
    private final int writeFd;
    private final Runnable closeFd;
    private final ReentrantLock lock = new ReentrantLock(); // held while a chunk goes into the pipe
    private boolean returning;                              // guarded by lock
    private boolean ended;                                  // the client ended its direction; guarded by lock
    private final java.util.concurrent.locks.Condition returned = lock.newCondition();
    private byte[] pending;                                 // read but not written (EPIPE); guarded by lock

    InboundPipe(String name, MuxStream stream, int writeFd, Runnable closeFd) {
        this.name = name;
        this.stream = stream;
        this.writeFd = writeFd;
        this.closeFd = closeFd;
    }

    MuxStream stream() {
        return stream;
    }

    CompletableFuture<Void> start() {
        return ReusedThreads.start(name, this::pump);
    }

    private void pump() {
        byte[] bytes = new byte[CHUNK];
        InputStream in = stream.in();
        try (Memory buf = new Memory(CHUNK)) {
            while (true) {
                int n;
                try {
                    n = in.read(bytes, 0, CHUNK);
                } catch (IOException e) {
                    log.debug("{}: stream ended: {}", name, e.getMessage());
                    n = -1;
                }
                lock.lock();
                try {
                    if (n < 0) {
                        ended = true;
                        if (returning) stream.closeWrite();
                        closeFd.run();
                        return;
                    }
                    if (returning) {
                        send(bytes, n);
                        continue;
                    }
                    buf.write(0, bytes, 0, n);
                    try {
                        LibC.writeFully(writeFd, buf, n);
                    } catch (ErrnoException e) {
                        // EPIPE: the process closed the pipe or has just exited. Keep the chunk
                        // for giveBack and take no more (back-pressure stops the client) until then.
                        log.debug("{}: {}; holding {} bytes until the exit", name, e.getMessage(), n);
                        pending = java.util.Arrays.copyOf(bytes, n);
                        while (!returning && !stream.isReset()) {
                            try {
                                returned.await(100, TimeUnit.MILLISECONDS);
                            } catch (InterruptedException ie) {
                                Thread.currentThread().interrupt();
                                return;
                            }
                        }
                        if (!returning) {
                            ended = true;
                            closeFd.run();
                            return;
                        }
                    }
                } finally {
                    lock.unlock();
                }
            }
        }
    }

    /**
     * The process has exited: sends back what it left unread and switches the pump to
     * returning. Drains while waiting for the pump, which may be blocked on a full pipe.
     */
    void giveBack() {
        ByteArrayOutputStream left = new ByteArrayOutputStream();
        int reader = -1;
        try {
            lock.lock();
            try {
                if (ended) {
                    stream.closeWrite(); // the pipe is gone with the process; nothing to return
                    return;
                }
            } finally {
                lock.unlock();
            }
            try {
                reader = LibC.open("/proc/self/fd/" + writeFd, LibC.O_RDONLY | LibC.O_NONBLOCK | LibC.O_CLOEXEC, 0);
            } catch (ErrnoException e) {
                log.debug("{}: cannot reopen the pipe: {}", name, e.getMessage());
            }
            while (!lock.tryLock(20, TimeUnit.MILLISECONDS)) drain(reader, left);
            try {
                if (ended) {
                    drain(reader, left);
                    stream.closeWrite();
                    return;
                }
                returning = true;
                returned.signalAll();
                if (pending != null) left.write(pending, 0, pending.length);
                pending = null;
                drain(reader, left);
                closeFd.run(); // nothing more goes into the pipe
                if (left.size() > 0) {
                    log.debug("{}: returning {} unread bytes", name, left.size());
                    byte[] b = left.toByteArray();
                    stream.out().write(b, 0, b.length);
                }
            } finally {
                lock.unlock();
            }
        } catch (IOException e) {
            log.debug("{}: cannot return unread bytes: {}", name, e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            if (reader >= 0) LibC.closeQuietly(reader);
        }
    }

    private void send(byte[] bytes, int n) {
        try {
            stream.out().write(bytes, 0, n);
        } catch (IOException e) {
            log.debug("{}: cannot return {} bytes: {}", name, n, e.getMessage());
        }
    }

    private static void drain(int reader, ByteArrayOutputStream into) {
        if (reader < 0) return;
        try (Memory buf = new Memory(CHUNK)) {
            byte[] bytes = new byte[CHUNK];
            while (true) {
                int n;
                try {
                    n = LibC.read(reader, buf, CHUNK);
                } catch (ErrnoException e) {
                    if (e.errno() != Errno.EAGAIN) log.debug("draining: {}", e.getMessage());
                    return;
                }
                if (n <= 0) return;
                buf.read(0, bytes, 0, n);
                into.write(bytes, 0, n);
            }
        }
    }
}
