package io.tether.client.session;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.posix.Terminal;
import io.tether.protocol.frame.Limits;
import io.tether.protocol.mux.MuxStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

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
        try (Memory buffer = new Memory(CHUNK)) {
            long address = Pointer.nativeValue(buffer);
            byte[] bytes = new byte[CHUNK];
            OutputStream out = stream.out();
            while (true) {
                // Wait in short slices: once the session has ended and cancelled the stream,
                // stop, rather than take input (a shell script's next line) no one will use.
                if (Terminal.poll(fd, Terminal.POLLIN, IDLE_CHECK_MILLIS) == 0) {
                    if (stream.onClosed().isDone()) return;
                    continue;
                }
                if (stream.onClosed().isDone()) return;
                int n;
                try {
                    n = Terminal.read(fd, address, CHUNK);
                } catch (ErrnoException e) {
                    if (e.errno() == Errno.EAGAIN) continue; // an inherited O_NONBLOCK descriptor: poll again
                    // EIO from a hung-up terminal, EBADF from a closed stdin: both mean no more input.
                    log.debug("fd {}: {}; treating as end of input", fd, e.getMessage());
                    n = 0;
                }
                if (n == 0) break;
                buffer.read(0, bytes, 0, n);
                out.write(bytes, 0, n); // blocks while the peer grants no credit
            }
            stream.closeWrite();
        } catch (IOException e) {
            // The stream was reset or the connection lost: the run stream reports that.
            log.debug("fd {} -> stream {}: {}", fd, stream.id(), e.getMessage());
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
