package io.tether.daemon.process;

import io.tether.posix.ErrnoException;
import io.tether.posix.LibC;

/**
 * A pseudo-terminal for one child. The daemon keeps only the master; the child opens the
 * slave by path after setsid, which makes it the child's controlling terminal. Reading the
 * master fails with EIO once every slave fd is closed: that is the terminal's end of file.
 */
public final class Pty implements AutoCloseable {
    private final int masterFd;
    private final String slavePath;
    private boolean closed;

    private Pty(int masterFd, String slavePath) {
        this.masterFd = masterFd;
        this.slavePath = slavePath;
    }

    /** A new pty of {@code rows} x {@code cols} (0 keeps the kernel default). */
    public static Pty open(int rows, int cols) throws ErrnoException {
        int master = LibC.openPtyMaster(LibC.O_RDWR | LibC.O_NOCTTY | LibC.O_CLOEXEC);
        try {
            String slave = LibC.ptsname(master);
            if (rows > 0 && cols > 0) LibC.setWindowSize(master, rows, cols);
            return new Pty(master, slave);
        } catch (ErrnoException e) {
            LibC.closeQuietly(master);
            throw e;
        }
    }

    public int masterFd() { return masterFd; }

    /** "/dev/pts/N" on the target. */
    public String slavePath() { return slavePath; }

    /** Sets the window size; the kernel sends SIGWINCH to the terminal's foreground group. */
    public void resize(int rows, int cols) throws ErrnoException {
        LibC.setWindowSize(masterFd, rows, cols);
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        LibC.closeQuietly(masterFd);
    }
}
