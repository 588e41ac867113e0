package io.tether.daemon.mirror;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The host changes this session has in flight, by export and rel: from the request until the mirror's
 * entry holds the answer. The client's push about such a name can overtake that last step (the reply
 * wakes the waiting thread while the reader goes straight on to the push), so it waits here until the
 * change is applied, and is then seen for what it is: the echo of our own change, or news.
 */
final class OwnChanges {
    private final Map<String, Integer> inFlight = new HashMap<>();
    private final Map<String, List<Runnable>> waiting = new HashMap<>();

    private static String key(int export, String rel) {
        return export + ":" + rel;
    }

    void begin(int export, String rel) {
        synchronized (this) {
            inFlight.merge(key(export, rel), 1, Integer::sum);
        }
    }

    /** The change is applied in the mirror: what waited for it runs now, on this thread. */
    void end(int export, String rel) {
        List<Runnable> run;
        String k = key(export, rel);
        synchronized (this) {
            Integer n = inFlight.get(k);
            if (n == null) return;
            if (n > 1) {
                inFlight.put(k, n - 1);
                return;
            }
            inFlight.remove(k);
            run = waiting.remove(k);
        }
        if (run != null) for (Runnable r : run) r.run();
    }

    /** Runs {@code r} once no change of ours to (export, rel) is in flight: now (false) or at its end (true). */
    boolean deferred(int export, String rel, Runnable r) {
        String k = key(export, rel);
        synchronized (this) {
            if (!inFlight.containsKey(k)) return false;
            waiting.computeIfAbsent(k, x -> new ArrayList<>()).add(r);
            return true;
        }
    }
}
