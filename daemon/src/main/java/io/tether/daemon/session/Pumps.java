package io.tether.daemon.session;

import com.sun.jna.Memory;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.posix.LibC;
import io.tether.protocol.frame.Limits;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.ResetCode;
import io.tether.protocol.transport.ReusedThreads;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.util.concurrent.CompletableFuture;

/**
 * Byte pumps between a target fd and a mux stream, one platform thread each (the fd side
 * blocks in read/write). Back-pressure is end to end: a pump only reads what it can pass on.
 * A pump never closes its fd: the session does, once every pump using the fd is done.
 */
final class Pumps {
    private static final Logger log = LoggerFactory.getLogger(Pumps.class);
    private static final int CHUNK = Limits.DATA_CHUNK;

    private Pumps() {}

    /**
     * fd to stream until end of file, then closeWrite. EIO counts as end of file (a pty
     * master whose slave is closed everywhere). If the stream fails, stop reading: the
     * process then sees EPIPE once the session closes the fd.
     */
    static CompletableFuture<Void> fromProcess(String name, int fd, MuxStream stream) {
        return ReusedThreads.start(name, () -> {
            byte[] bytes = new byte[CHUNK];
            try (Memory buf = new Memory(CHUNK)) {
                while (true) {
                    int n;
                    try {
                        n = LibC.read(fd, buf, CHUNK);
                    } catch (ErrnoException e) {
                        if (e.errno() != Errno.EIO) log.debug("{}: {}", name, e.getMessage());
                        n = 0;
                    }
                    if (n == 0) {
                        stream.closeWrite();
                        return;
                    }
                    buf.read(0, bytes, 0, n);
                    try {
                        stream.out().write(bytes, 0, n);
                    } catch (IOException e) {
                        log.debug("{}: stream gone: {}", name, e.getMessage());
                        return;
                    }
                }
            }
        });
    }

    /**
     * stream to fd until the stream ends, then {@code atEof} (close the pipe, shut a socket
     * down). If the process stops reading (EPIPE) the stream is reset so the client stops
     * sending.
     */
    static CompletableFuture<Void> toProcess(String name, MuxStream stream, int fd, Runnable atEof) {
        return ReusedThreads.start(name, () -> {
            byte[] bytes = new byte[CHUNK];
            InputStream in = stream.in();
            try (Memory buf = new Memory(CHUNK)) {
                while (true) {
                    int n;
                    try {
                        n = in.read(bytes, 0, CHUNK);
                    } catch (IOException e) {
                        log.debug("{}: stream ended: {}", name, e.getMessage());
                        atEof.run();
                        return;
                    }
                    if (n < 0) {
                        atEof.run();
                        return;
                    }
                    buf.write(0, bytes, 0, n);
                    try {
                        LibC.writeFully(fd, buf, n);
                    } catch (ErrnoException e) {
                        log.debug("{}: {}", name, e.getMessage());
                        stream.reset(ResetCode.RESET_CANCEL, "the process closed this descriptor");
                        atEof.run();
                        return;
                    }
                }
            }
        });
    }
}
