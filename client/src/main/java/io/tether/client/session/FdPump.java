package io.tether.client.session;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.posix.LibC;
import io.tether.posix.Terminal;
import io.tether.protocol.frame.Limits;
import io.tether.protocol.mux.MuxStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Copies bytes between a local descriptor and a mux stream with raw read(2)/write(2): no
 * Java buffering, so a pipe on our side and the stream's credit on the other keep the
 * whole path back-pressured (memory stays bounded by one chunk plus the mux windows).
 */
final class FdPump {
    private static final Logger log = LoggerFactory.getLogger(FdPump.class);
    private static final int CHUNK = Limits.DATA_CHUNK;
    private static final int IDLE_CHECK_MILLIS = 200;

    private FdPump() {}

    /** Local fd to the process until end of file, then EOF on the stream (closeWrite). */
    static void toStream(int fd, MuxStream stream) {
        toStream(fd, stream, null);
    }

    /**
     * The session's end for one TO_PROCESS stream: after {@link #end}, its pump reads nothing
     * more and the stream's client-to-daemon direction is closed. Taken around each read and
     * send, so a read chunk is either sent before the end or not read at all.
     */
    static final class Gate {
        private boolean ended;

        synchronized void end(MuxStream stream) {
            ended = true;
            stream.closeWrite();
        }

        synchronized boolean ended() {
            return ended;
        }
    }

    /**
     * As {@link #toStream(int, MuxStream)}, stopping at {@code gate}'s end. A pipe is read
     * through a non-blocking read end of our own (/proc/self/fd/N): its other readers (the
     * make processes sharing a jobserver pipe) may take a byte between poll and read, and a
     * blocked read would hold the gate.
     */
    static void toStream(int fd, MuxStream stream, Gate gate) {
        int readFd = fd;
        if (gate != null && isPipe(fd)) {
            try {
                readFd = LibC.open("/proc/self/fd/" + fd, LibC.O_RDONLY | LibC.O_NONBLOCK | LibC.O_CLOEXEC, 0);
            } catch (ErrnoException e) {
                log.debug("fd {}: no read end of our own: {}", fd, e.getMessage());
            }
        }
        // Only a non-blocking read may hold the gate (see above); other reads stop at the next check.
        Object lock = gate != null && readFd != fd ? gate : new Object();
        try (Memory buffer = new Memory(CHUNK)) {
            long address = Pointer.nativeValue(buffer);
            byte[] bytes = new byte[CHUNK];
            OutputStream out = stream.out();
            while (true) {
                // Wait in short slices: once the session has ended and cancelled the stream,
                // stop, rather than take input (a shell script's next line) no one will use.
                if (Terminal.poll(readFd, Terminal.POLLIN, IDLE_CHECK_MILLIS) == 0) {
                    if (stream.onClosed().isDone() || gate != null && gate.ended()) return;
                    continue;
                }
                synchronized (lock) {
                    if (stream.onClosed().isDone() || gate != null && gate.ended()) return;
                    int n;
                    try {
                        n = Terminal.read(readFd, address, CHUNK);
                    } catch (ErrnoException e) {
                        if (e.errno() == Errno.EAGAIN) continue; // O_NONBLOCK and someone else took it: poll again
                        // EIO from a hung-up terminal, EBADF from a closed stdin: both mean no more input.
                        log.debug("fd {}: {}; treating as end of input", fd, e.getMessage());
                        n = 0;
                    }
                    if (n == 0) break;
                    buffer.read(0, bytes, 0, n);
                    try {
                        out.write(bytes, 0, n); // blocks while the peer grants no credit
                    } catch (IOException e) {
                        // Read but never sent: counts as returned, so a pipe gets it back.
                        if (gate != null && readFd != fd) writeBack(fd, bytes, n);
                        throw e;
                    }
                }
            }
            stream.closeWrite();
        } catch (IOException e) {
            // The stream was reset or the connection lost: the run stream reports that.
            log.debug("fd {} -> stream {}: {}", fd, stream.id(), e.getMessage());
        } finally {
            if (readFd != fd) LibC.closeQuietly(readFd);
        }
    }

    /**
     * The bytes the daemon returns on a TO_PROCESS stream (what the process left unread) go
     * back into {@code fd} if it is a pipe or FIFO (a jobserver's tokens), else are dropped.
     * Always true: a reset stream just has nothing to return.
     */
    static boolean returnToPipe(MuxStream stream, int fd) {
        boolean pipe = isPipe(fd);
        InputStream in = stream.in();
        byte[] bytes = new byte[CHUNK];
        try {
            int n;
            while ((n = in.read(bytes, 0, CHUNK)) >= 0) {
                if (pipe) writeBack(fd, bytes, n);
            }
        } catch (IOException e) {
            log.debug("stream {} (returns to fd {}): {}", stream.id(), fd, e.getMessage());
        }
        return true;
    }

    /** Whether {@code fd} is a pipe or FIFO. */
    static boolean isPipe(int fd) {
        try {
            Object mode = Files.getAttribute(Path.of("/proc/self/fd/" + fd), "unix:mode");
            return mode instanceof Integer m && (m & 0170000) == 0010000;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /**
     * Puts {@code n} bytes back into the pipe {@code fd} through a non-blocking write end of our
     * own. What does not fit is dropped: a full pipe (a writer still filling stdin) needs no
     * more, and waiting would hold up the session's end.
     */
    static void writeBack(int fd, byte[] bytes, int n) {
        int w;
        try {
            w = LibC.open("/proc/self/fd/" + fd, LibC.O_WRONLY | LibC.O_NONBLOCK | LibC.O_CLOEXEC, 0);
        } catch (ErrnoException e) {
            log.debug("fd {}: cannot return {} bytes: {}", fd, n, e.getMessage());
            return;
        }
        try (Memory buffer = new Memory(Math.max(n, 1))) {
            buffer.write(0, bytes, 0, n);
            long address = Pointer.nativeValue(buffer);
            int done = 0;
            while (done < n) done += Terminal.write(w, address + done, n - done);
        } catch (ErrnoException e) {
            log.debug("fd {}: dropped returned bytes: {}", fd, e.getMessage());
        } finally {
            LibC.closeQuietly(w);
        }
    }

    /**
     * The process's bytes to local fd until the stream ends. A write error on our side
     * (EPIPE: our reader went away) resets the stream, so the process sees its pipe
     * closed as it would locally. {@code shutdownAtEnd}: half-close a socket at EOF.
     *
     * @return false if the stream was lost (reset, connection gone) before its end
     */
    static boolean fromStream(MuxStream stream, int fd, boolean shutdownAtEnd) {
        InputStream in = stream.in();
        try (Memory buffer = new Memory(CHUNK)) {
            long address = Pointer.nativeValue(buffer);
            byte[] bytes = new byte[CHUNK];
            while (true) {
                int n = in.read(bytes, 0, CHUNK);
                if (n < 0) break;
                buffer.write(0, bytes, 0, n);
                try {
                    writeAll(fd, address, n);
                } catch (ErrnoException e) {
                    log.debug("fd {}: {}; dropping the rest of stream {}", fd, e.getMessage(), stream.id());
                    in.close(); // resets the stream: the remote writer gets EPIPE
                    return true;
                }
            }
            if (shutdownAtEnd) {
                try {
                    Terminal.shutdownWrite(fd);
                } catch (ErrnoException e) {
                    log.debug("fd {}: {}", fd, e.getMessage());
                }
            }
            return true;
        } catch (IOException e) {
            log.debug("stream {} -> fd {}: {}", stream.id(), fd, e.getMessage());
            return false;
        }
    }

    private static void writeAll(int fd, long address, int n) throws ErrnoException {
        int done = 0;
        while (done < n) {
            try {
                done += Terminal.write(fd, address + done, n - done);
            } catch (ErrnoException e) {
                if (e.errno() != Errno.EAGAIN) throw e;
                Terminal.poll(fd, Terminal.POLLOUT, -1);
            }
        }
    }
}
