package io.tether.client.session;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.posix.Signals;
import io.tether.posix.Terminal;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Arrays;

/**
 * SIGQUIT, which the JVM keeps for itself: Java handlers are refused, and its own prints a
 * thread dump into our stdout. We replace it with a native handler, which must be
 * async-signal-safe and cannot be Java. glibc's {@code eventfd_write(int fd, uint64 value)}
 * is such a function, and as a handler it is called with the signal number as {@code fd}
 * and the (non-zero) siginfo address as {@code value}: SIGQUIT, 3 on every Linux
 * architecture we run on, bumps an eventfd placed at descriptor 3, and a thread turns
 * that into a dispatch.
 *
 * <p>Descriptor 3 is ours to take only if the launcher kept the JVM from opening its own
 * files there: {@code -Dtether.fd3=reserved} (it holds /dev/null there), or
 * {@code -Dtether.fds} lists 3 (the caller's {@code 3>log}, which moves to a higher number:
 * {@link #localFd} says where). Otherwise QUIT stays unavailable.
 */
final class QuitRelay {
    private static final Logger log = LoggerFactory.getLogger(QuitRelay.class);
    private static final int FD = 3;

    private static boolean prepared;
    private static boolean usable;
    private static int movedFd3 = FD;
    private static byte[] previous;

    private QuitRelay() {}

    /** Where the caller's descriptor {@code fd} is now (only 3 ever moves). */
    static synchronized int localFd(int fd) {
        return fd == FD ? movedFd3 : fd;
    }

    /** Starts relaying SIGQUIT to {@link SignalRelay#dispatch}; false where it cannot. */
    static synchronized boolean install() {
        if (!prepared) {
            prepared = true;
            usable = prepare();
        }
        if (!usable || previous != null) return usable;
        try {
            previous = Terminal.setNativeHandler(Signals.SIGQUIT, "eventfd_write");
            return true;
        } catch (ErrnoException | UnsatisfiedLinkError e) {
            log.debug("SIGQUIT handler: {}", e.getMessage());
            return false;
        }
    }

    /** The JVM's own handler again. */
    static synchronized void uninstall() {
        if (previous == null) return;
        try {
            Terminal.restoreHandler(Signals.SIGQUIT, previous);
        } catch (ErrnoException e) {
            log.debug("restoring the SIGQUIT handler: {}", e.getMessage());
        }
        previous = null;
    }

    private static boolean prepare() {
        if (Signals.SIGQUIT != FD) return false;
        boolean reserved = "reserved".equals(System.getProperty("tether.fd3"));
        boolean inherited = Arrays.asList(System.getProperty("tether.fds", "").split(",")).contains(String.valueOf(FD));
        if (!reserved && !inherited) {
            log.debug("SIGQUIT not relayed: descriptor 3 may be the JVM's (launch with -Dtether.fd3=reserved)");
            return false;
        }
        try {
            int counter = Terminal.eventfd();
            if (inherited) movedFd3 = Terminal.duplicate(FD, 10);
            Terminal.duplicateTo(counter, FD);
            Thread t = new Thread(() -> relay(counter), "tether-sigquit");
            t.setDaemon(true);
            t.start();
            return true;
        } catch (ErrnoException e) {
            log.debug("SIGQUIT relay: {}", e.getMessage());
            return false;
        }
    }

    private static void relay(int counter) {
        try (Memory value = new Memory(8)) {
            while (true) {
                Terminal.poll(counter, Terminal.POLLIN, -1);
                try {
                    Terminal.read(counter, Pointer.nativeValue(value), 8);
                } catch (ErrnoException e) {
                    if (e.errno() == Errno.EAGAIN) continue;
                    throw e;
                }
                SignalRelay.dispatch("QUIT");
            }
        } catch (ErrnoException e) {
            log.warn("SIGQUIT relay stopped: {}", e.getMessage());
        }
    }
}
