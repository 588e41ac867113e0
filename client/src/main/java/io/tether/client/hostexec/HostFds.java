package io.tether.client.hostexec;

import com.sun.jna.Memory;
import io.tether.posix.ErrnoException;
import io.tether.posix.FileOffsets;
import io.tether.posix.LibC;
import io.tether.posix.Terminal;
import io.tether.protocol.frame.Limits;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.Direction;
import io.tether.protocol.proto.ResetCode;
import io.tether.protocol.transport.ReusedThreads;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The host side of a remote host exec's fds: a pipe per fd (a socketpair for one used both ways), the
 * process's end at the target's fd number, ours pumped to or from the daemon's FdStream.
 */
final class HostFds {
    private static final Logger log = LoggerFactory.getLogger(HostFds.class);
    private static final int CHUNK = Limits.DATA_CHUNK;

    /** One fd: the program's number, the process's end, ours, and the stream. */
    static final class Wired {
        private final int targetFd;
        private final Direction direction;
        private final MuxStream stream;
        private int processFd;
        private final int ourFd;
        /** A file copy: both ends are the same read-only open file of a memfd, ours to read the program's offset. */
        private final boolean fileCopy;
        private final java.util.concurrent.atomic.AtomicBoolean ourClosed = new java.util.concurrent.atomic.AtomicBoolean();

        private Wired(int targetFd, Direction direction, MuxStream stream, int processFd, int ourFd, boolean fileCopy) {
            this.targetFd = targetFd;
            this.direction = direction;
            this.stream = stream;
            this.processFd = processFd;
            this.ourFd = ourFd;
            this.fileCopy = fileCopy;
        }

        int targetFd() { return targetFd; }

        int processFd() { return processFd; }

        /** After the spawn: the process has its copy. */
        void closeProcessEnd() {
            if (processFd >= 0) LibC.closeQuietly(processFd);
            processFd = -1;
        }

        /** Closes our end once (a pump at end of file, or the last pump): its number may be reused after. */
        void closeOurs() {
            if (ourClosed.compareAndSet(false, true)) LibC.closeQuietly(ourFd);
        }

        /** The exec did not start: both ends closed, the stream reset. */
        void abandon() {
            closeProcessEnd();
            closeOurs();
            stream.reset(ResetCode.RESET_CANCEL, "host exec did not start");
        }
    }

    private final CompletableFuture<Void> outputDone;
    private final List<Wired> fds;

    private HostFds(List<Wired> fds, CompletableFuture<Void> outputDone) {
        this.fds = fds;
        this.outputDone = outputDone;
    }

    /**
     * A pipe (or socketpair for BOTH) for target fd {@code targetFd}, close-on-exec on our side; for a file copy
     * (FdSpec.file_copy) the stream's bytes, read here to its end, in a read-only memfd at offset 0.
     */
    static Wired wire(int targetFd, Direction direction, MuxStream stream, boolean fileCopy) throws IOException {
        if (fileCopy && direction == Direction.TO_PROCESS) return copy(targetFd, stream);
        if (direction == Direction.BOTH) {
            int[] sp = LibC.socketpair(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0);
            return new Wired(targetFd, direction, stream, sp[0], sp[1], false);
        }
        int[] p = LibC.pipe(LibC.O_CLOEXEC);
        return direction == Direction.TO_PROCESS ? new Wired(targetFd, direction, stream, p[0], p[1], false)
                : new Wired(targetFd, direction, stream, p[1], p[0], false);
    }

    /** The target's regular file from its offset on, as a regular file here: the program may read any amount and seek. */
    private static Wired copy(int targetFd, MuxStream stream) throws IOException {
        int mem = FileOffsets.memfd("tether-host-exec-fd" + targetFd, FileOffsets.MFD_CLOEXEC);
        int ro = -1;
        try {
            byte[] bytes = new byte[CHUNK];
            InputStream in = stream.in();
            try (Memory buf = new Memory(CHUNK)) {
                for (int n; (n = in.read(bytes, 0, CHUNK)) >= 0; ) {
                    if (n == 0) continue;
                    buf.write(0, bytes, 0, n);
                    LibC.writeFully(mem, buf, n);
                }
            }
            // Read-only, as the target opened it; a second fd on the same open file shares the program's offset.
            ro = LibC.open("/proc/self/fd/" + mem, LibC.O_RDONLY | LibC.O_CLOEXEC, 0);
            return new Wired(targetFd, Direction.TO_PROCESS, stream, ro, Terminal.duplicate(ro, 0), true);
        } catch (IOException | RuntimeException e) { // ErrnoException included
            if (ro >= 0) LibC.closeQuietly(ro);
            throw e;
        } finally {
            LibC.closeQuietly(mem);
        }
    }

    /** Starts the pumps (one thread per direction). */
    static HostFds pump(List<Wired> fds, String name) {
        List<CompletableFuture<Void>> outputs = new ArrayList<>();
        for (Wired w : fds) {
            if (w.fileCopy) continue; // no pump: readOffsets closes ours
            boolean in = w.direction != Direction.FROM_PROCESS, out = w.direction != Direction.TO_PROCESS;
            CompletableFuture<Void> i = in ? ReusedThreads.start(name + "-in-" + w.targetFd, () -> streamToProcess(w, !out)) : null;
            CompletableFuture<Void> o = out ? ReusedThreads.start(name + "-out-" + w.targetFd, () -> processToStream(w)) : null;
            if (o != null) outputs.add(o);
            CompletableFuture.allOf(i == null ? CompletableFuture.completedFuture(null) : i,
                    o == null ? CompletableFuture.completedFuture(null) : o).whenComplete((v, e) -> w.closeOurs());
        }
        return new HostFds(List.copyOf(fds), CompletableFuture.allOf(outputs.toArray(CompletableFuture[]::new)));
    }

    /** Completes when every fd the process writes has reached end of file and its bytes are sent. */
    CompletableFuture<Void> outputDone() {
        return outputDone;
    }

    /** The process has exited: what it did not read stays unread, so the input streams are reset. */
    void processExited() {
        for (Wired w : fds) {
            if (w.direction == Direction.TO_PROCESS) w.stream.reset(ResetCode.RESET_CANCEL, "the host process exited");
        }
    }

    /** After the exit: each file copy's offset (how far the program read or seeked in it), target fd to offset. */
    Map<Integer, Long> readOffsets() {
        Map<Integer, Long> offsets = new TreeMap<>();
        for (Wired w : fds) {
            if (!w.fileCopy) continue;
            try {
                offsets.put(w.targetFd, FileOffsets.seek(w.ourFd, 0, FileOffsets.SEEK_CUR));
            } catch (ErrnoException e) {
                log.debug("fd {}: offset unknown: {}", w.targetFd, e.getMessage());
            } finally {
                w.closeOurs();
            }
        }
        return offsets;
    }

    /** stream -> our end, until the stream ends; then EOF for the process (close a pipe, shut a socket's writing). */
    private static void streamToProcess(Wired w, boolean closeAtEof) {
        byte[] bytes = new byte[CHUNK];
        InputStream in = w.stream.in();
        try (Memory buf = new Memory(CHUNK)) {
            for (int n; (n = in.read(bytes, 0, CHUNK)) >= 0; ) {
                if (n == 0) continue;
                buf.write(0, bytes, 0, n);
                LibC.writeFully(w.ourFd, buf, n);
            }
            if (closeAtEof) w.closeOurs(); else Terminal.shutdownWrite(w.ourFd);
        } catch (ErrnoException e) {
            log.debug("fd {}: the process closed it: {}", w.targetFd, e.getMessage());
            w.stream.reset(ResetCode.RESET_CANCEL, "the host process closed this descriptor");
        } catch (IOException e) {
            log.debug("fd {}: stream ended: {}", w.targetFd, e.getMessage());
            if (closeAtEof) w.closeOurs();
        }
    }

    /** our end -> stream until end of file, then EOF on the stream. */
    private static void processToStream(Wired w) {
        byte[] bytes = new byte[CHUNK];
        try (Memory buf = new Memory(CHUNK)) {
            while (true) {
                int n;
                try {
                    n = LibC.read(w.ourFd, buf, CHUNK);
                } catch (ErrnoException e) {
                    n = 0;
                }
                if (n == 0) break;
                buf.read(0, bytes, 0, n);
                w.stream.out().write(bytes, 0, n);
            }
            w.stream.closeWrite();
        } catch (IOException e) {
            log.debug("fd {}: stream gone: {}", w.targetFd, e.getMessage());
        }
    }
}
