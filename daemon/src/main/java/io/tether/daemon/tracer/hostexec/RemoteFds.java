package io.tether.daemon.tracer.hostexec;

import com.sun.jna.Memory;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.posix.FileOffsets;
import io.tether.posix.LibC;
import io.tether.posix.Terminal;
import io.tether.protocol.frame.Limits;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.Direction;
import io.tether.protocol.proto.ResetCode;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The target side of a remote host exec's fds: the daemon's copies of the target process's fds
 * (pidfd_getfd, the same open files) pumped to and from their FdStreams.
 *
 * <p>The copies share the target's open file descriptions, so the daemon never sets O_NONBLOCK on
 * them; a pump that reads for the host process polls with a short timeout instead, so it stops soon
 * after the host process has exited and leaves the target fd to its other readers.
 */
final class RemoteFds {
    private static final Logger log = LoggerFactory.getLogger(RemoteFds.class);
    private static final int CHUNK = Limits.DATA_CHUNK;
    private static final int O_ACCMODE = 3, O_PATH = 010000000;
    private static final short POLLIN = 1;
    /** How soon a reading pump notices the host process's exit while its target fd stays silent. */
    private static final int POLL_MS = 100;

    /** The largest rest of a regular file sent as a seekable copy; beyond it the host program reads a pipe. */
    static final long FILE_COPY_MAX = 16L << 20;

    /**
     * One fd: the program's number, the daemon's copy, how the host process uses it, its stream, and for a
     * file copy the target's offset when the exec started (else -1).
     */
    record Wired(int targetFd, int daemonFd, Direction direction, MuxStream stream, long copyFrom) {
        boolean fileCopy() { return copyFrom >= 0; }
    }

    private final CompletableFuture<Void> outputDone;
    private final List<Wired> copies;
    private volatile boolean hostExited;

    private RemoteFds(CompletableFuture<Void> outputDone, List<Wired> copies) {
        this.outputDone = outputDone;
        this.copies = copies;
    }

    /**
     * Where a file copy of the target's read-only fd would start: its offset, when it is a regular file with at
     * most {@link #FILE_COPY_MAX} bytes after it; else -1 (a pipe, a terminal, a larger file: pumped as read).
     * A local child shares such a file's offset and may seek back (GNU head -n1 does), so the host program
     * gets a seekable copy rather than a pipe the daemon fills ahead of it.
     */
    static long copyStart(int daemonFd) {
        try {
            java.nio.file.attribute.BasicFileAttributes a = java.nio.file.Files.readAttributes(
                    java.nio.file.Path.of("/proc/self/fd/" + daemonFd), java.nio.file.attribute.BasicFileAttributes.class);
            if (!a.isRegularFile()) return -1;
            long offset = FileOffsets.seek(daemonFd, 0, FileOffsets.SEEK_CUR);
            return a.size() - offset <= FILE_COPY_MAX ? offset : -1;
        } catch (IOException | RuntimeException e) { // ErrnoException included
            return -1;
        }
    }

    /**
     * Sends the file from {@code w.copyFrom} to its end on the stream, then EOF, on a thread (the client reads it
     * before it starts the program), through a duplicate of the fd that the thread closes: pread leaves the
     * target's offset alone, and a start that fails may close the daemon's fd meanwhile.
     */
    static void sendCopy(Wired w, ExecutorService threads) throws ErrnoException {
        int fd = Terminal.duplicate(w.daemonFd(), 0);
        threads.execute(() -> {
            byte[] bytes = new byte[CHUNK];
            try (Memory buf = new Memory(CHUNK)) {
                long at = w.copyFrom(), end = w.copyFrom() + FILE_COPY_MAX;
                for (int n; at < end && (n = FileOffsets.pread(fd, buf, (int) Math.min(CHUNK, end - at), at)) > 0; at += n) {
                    buf.read(0, bytes, 0, n);
                    w.stream().out().write(bytes, 0, n);
                }
                w.stream().closeWrite();
            } catch (IOException e) { // ErrnoException included
                log.debug("host exec fd {}: file copy: {}", w.targetFd(), e.getMessage());
                w.stream().reset(ResetCode.RESET_CANCEL, "file copy failed: " + e.getMessage());
            } finally {
                LibC.closeQuietly(fd);
            }
        });
    }

    /**
     * The host process's exit: each file copy's target fd moves to where the program left its copy
     * ({@code offsets}: target fd to offset in the copy; none known, the offset stays), then closes.
     */
    void settleCopies(java.util.Map<Integer, Long> offsets) {
        for (Wired w : copies) {
            Long moved = offsets.get(w.targetFd());
            try {
                if (moved != null) FileOffsets.seek(w.daemonFd(), w.copyFrom() + moved, FileOffsets.SEEK_SET);
            } catch (ErrnoException e) {
                log.debug("host exec fd {}: {}", w.targetFd(), e.getMessage());
            } finally {
                LibC.closeQuietly(w.daemonFd());
            }
        }
    }

    /**
     * How the host process uses the target's fd {@code targetFd}, from the access mode of the open file
     * (null: nothing to carry, an O_PATH fd). A read-write 0 is read, a read-write 1 or 2 is written (a
     * terminal); other read-write fds (sockets, {@code 5<>file}) go both ways.
     */
    static Direction direction(int targetFd, int daemonFd) {
        int flags;
        try {
            flags = LibC.fcntl(daemonFd, LibC.F_GETFL, 0);
        } catch (ErrnoException e) {
            return null;
        }
        if ((flags & O_PATH) != 0) return null;
        return switch (flags & O_ACCMODE) {
            case LibC.O_RDONLY -> Direction.TO_PROCESS;
            case LibC.O_WRONLY -> Direction.FROM_PROCESS;
            default -> targetFd == 0 ? Direction.TO_PROCESS : targetFd <= 2 ? Direction.FROM_PROCESS : Direction.BOTH;
        };
    }

    /** Starts the pumps; each daemon fd is closed once its pumps have ended. */
    static RemoteFds pump(List<Wired> fds, ExecutorService threads) {
        List<CompletableFuture<Void>> outputs = new ArrayList<>();
        CompletableFuture<Void> all = new CompletableFuture<>();
        RemoteFds r = new RemoteFds(all, fds.stream().filter(Wired::fileCopy).toList());
        for (Wired w : fds) {
            if (w.fileCopy()) continue; // sent whole (sendCopy); settleCopies closes it
            boolean reads = w.direction() != Direction.FROM_PROCESS, writes = w.direction() != Direction.TO_PROCESS;
            AtomicInteger users = new AtomicInteger((reads ? 1 : 0) + (writes ? 1 : 0));
            Runnable done = () -> {
                if (users.decrementAndGet() == 0) LibC.closeQuietly(w.daemonFd());
            };
            if (reads) run(threads, () -> r.targetToHost(w), done);
            if (writes) outputs.add(run(threads, () -> hostToTarget(w), done));
        }
        CompletableFuture.allOf(outputs.toArray(CompletableFuture[]::new)).whenComplete((v, e) -> all.complete(null));
        return r;
    }

    /** Completes once every fd the host process writes through has reached its end (the bytes are in the target fds). */
    CompletableFuture<Void> outputDone() {
        return outputDone;
    }

    /** The host process has exited: reading pumps stop taking bytes from the target fds. */
    void hostExited() {
        hostExited = true;
    }

    private static CompletableFuture<Void> run(ExecutorService threads, Runnable body, Runnable done) {
        CompletableFuture<Void> f = new CompletableFuture<>();
        threads.execute(() -> {
            try {
                body.run();
            } catch (RuntimeException | Error e) {
                log.warn("host exec fd pump failed", e);
            } finally {
                done.run();
                f.complete(null);
            }
        });
        return f;
    }

    /** What the host process reads: target fd -> stream, until end of file, the host's exit, or the stream's reset. */
    private void targetToHost(Wired w) {
        byte[] bytes = new byte[CHUNK];
        try (Memory buf = new Memory(CHUNK)) {
            while (!hostExited) {
                int ready = Terminal.poll(w.daemonFd(), POLLIN, POLL_MS);
                if (ready == 0) continue;
                if (hostExited) break;
                int n;
                try {
                    n = LibC.read(w.daemonFd(), buf, CHUNK);
                } catch (ErrnoException e) {
                    if (e.errno() != Errno.EIO) log.debug("host exec fd {}: {}", w.targetFd(), e.getMessage());
                    n = 0;
                }
                if (n == 0) break;
                buf.read(0, bytes, 0, n);
                w.stream().out().write(bytes, 0, n);
            }
            w.stream().closeWrite();
        } catch (IOException e) { // ErrnoException included
            log.debug("host exec fd {}: {}", w.targetFd(), e.getMessage()); // the host side closed it
        }
    }

    /** What the host process writes: stream -> target fd, until the stream ends. */
    private static void hostToTarget(Wired w) {
        byte[] bytes = new byte[CHUNK];
        InputStream in = w.stream().in();
        try (Memory buf = new Memory(CHUNK)) {
            for (int n; (n = in.read(bytes, 0, CHUNK)) >= 0; ) {
                if (n == 0) continue;
                buf.write(0, bytes, 0, n);
                try {
                    LibC.writeFully(w.daemonFd(), buf, n);
                } catch (ErrnoException e) {
                    // EPIPE: the target's reader is gone; the host process gets EPIPE in turn.
                    log.debug("host exec fd {}: {}", w.targetFd(), e.getMessage());
                    w.stream().reset(ResetCode.RESET_CANCEL, "the target closed this descriptor");
                    return;
                }
            }
        } catch (IOException e) {
            log.debug("host exec fd {}: stream ended: {}", w.targetFd(), e.getMessage());
        }
    }
}
