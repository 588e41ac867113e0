package io.tether.client.session;

import java.util.function.Consumer;

/**
 * Signals a session forwards when they are not this process's own: the front door relays
 * those its front end receives. Names as on the wire ("INT", "TERM", "HUP", "QUIT", "USR1",
 * "USR2") plus the ones the session handles itself ("WINCH", "TSTP", "CONT").
 */
public interface SignalSource {
    /** From now until {@link #unsubscribe}, each signal's name goes to {@code listener}. */
    void subscribe(Consumer<String> listener);

    void unsubscribe();

    /**
     * TSTP was forwarded and the terminal restored: the process the signals come from may stop
     * itself now (as a local client stops itself with SIGSTOP).
     */
    void stopRequested();
}
