package io.tether.client.session;

import io.tether.posix.ErrnoException;
import io.tether.posix.Terminal;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Our terminal in raw mode while a remote pty owns the keyboard: every key, ^C and ^Z
 * included, goes to the remote line discipline. The saved settings come back on every way
 * out: {@link #close}, a stop (SIGTSTP), and a shutdown hook for System.exit elsewhere.
 */
final class RawTerminal implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RawTerminal.class);

    private final int fd;
    private final byte[] saved;
    private final byte[] raw;
    private final Thread hook;
    private boolean isRaw;
    private boolean closed;

    private RawTerminal(int fd, byte[] saved) {
        this.fd = fd;
        this.saved = saved;
        this.raw = Terminal.makeRaw(saved);
        this.hook = new Thread(this::restore, "tether-restore-terminal");
    }

    /** Saves the settings of terminal {@code fd} and switches it to raw mode. */
    static RawTerminal enter(int fd) throws ErrnoException {
        RawTerminal t = new RawTerminal(fd, Terminal.getAttributes(fd));
        Runtime.getRuntime().addShutdownHook(t.hook);
        t.reenter();
        return t;
    }

    /** Raw mode again, after a stop and continue (the shell may have reset the terminal). */
    synchronized void reenter() {
        if (closed) return;
        try {
            Terminal.setAttributes(fd, Terminal.TCSADRAIN, raw);
            isRaw = true;
        } catch (ErrnoException e) {
            log.debug("raw mode on fd {}: {}", fd, e.getMessage());
        }
    }

    /** The settings we found; idempotent. */
    synchronized void restore() {
        if (!isRaw) return;
        try {
            Terminal.setAttributes(fd, Terminal.TCSADRAIN, saved);
        } catch (ErrnoException e) {
            log.debug("restoring fd {}: {}", fd, e.getMessage());
        }
        isRaw = false;
    }

    @Override
    public synchronized void close() {
        restore();
        closed = true;
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // the hook runs or ran: it restores the same settings
        }
    }
}
