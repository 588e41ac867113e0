package io.tether.client.session;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;
import sun.misc.SignalHandler;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArraySet;

/**
 * Process-wide signal handlers shared by the live sessions: installed when the first
 * session starts, the previous handlers put back when the last one ends. The JDK runs
 * each delivery on its own short-lived thread, so listeners may block briefly.
 *
 * <p>Needs a JVM without -Xrs: under -Xrs the JDK refuses INT, TERM and HUP and dispatches
 * no Java handler at all. QUIT is always refused to Java; {@link QuitRelay} catches it natively.
 */
final class SignalRelay {
    private static final Logger log = LoggerFactory.getLogger(SignalRelay.class);

    /** Forwarded as they are to the remote process group. */
    static final List<String> FORWARDED = List.of("INT", "TERM", "HUP", "QUIT", "USR1", "USR2");
    /** Handled by the session: window changes and job control. */
    static final List<String> SESSION = List.of("WINCH", "TSTP", "CONT");

    interface Listener {
        void onSignal(String name);
    }

    private static final Set<Listener> listeners = new CopyOnWriteArraySet<>();
    private static final Map<String, SignalHandler> previous = new LinkedHashMap<>();
    private static final Set<String> unavailable = ConcurrentHashMap.newKeySet();

    private SignalRelay() {}

    static synchronized void add(Listener l) {
        if (listeners.isEmpty()) install();
        listeners.add(l);
    }

    static synchronized void remove(Listener l) {
        if (listeners.remove(l) && listeners.isEmpty()) uninstall();
    }

    /** Signals whose handler the JVM refused in this process (empty when all work). */
    static synchronized Set<String> unavailable() {
        if (listeners.isEmpty() && previous.isEmpty()) {
            install();
            uninstall();
        }
        return Set.copyOf(unavailable);
    }

    static void dispatch(String name) {
        for (Listener l : listeners) {
            try {
                l.onSignal(name);
            } catch (RuntimeException e) {
                log.warn("handling SIG{}", name, e);
            }
        }
    }

    private static void install() {
        unavailable.clear();
        for (List<String> names : List.of(FORWARDED, SESSION)) {
            for (String name : names) {
                if (name.equals("QUIT")) {
                    if (!QuitRelay.install()) unavailable.add(name);
                    continue;
                }
                try {
                    previous.put(name, Signal.handle(new Signal(name), s -> dispatch(name)));
                } catch (IllegalArgumentException e) {
                    unavailable.add(name);
                    log.debug("SIG{} cannot be handled in this JVM: {}", name, e.getMessage());
                }
            }
        }
    }

    private static void uninstall() {
        QuitRelay.uninstall();
        previous.forEach((name, handler) -> {
            try {
                Signal.handle(new Signal(name), handler);
            } catch (IllegalArgumentException e) {
                log.debug("restoring SIG{}: {}", name, e.getMessage());
            }
        });
        previous.clear();
    }
}
