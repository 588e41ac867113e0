package io.tether.client.frontdoor;

import io.tether.client.files.FileExport;
import io.tether.client.files.FileServer;
import io.tether.client.files.ResidentWatch;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The door's host watches for "No NFS" runs, kept between runs ({@link ResidentWatch}): one per
 * target connection and export list (a watch's journal is one daemon's news, and its export ids
 * are one list's), so a warm run's daemon asks what changed since the last run instead of
 * revalidating what it cached. At most {@link #MAX} are kept; the least recently used idle one
 * goes first. Closed with the door.
 */
final class WarmWatches {
    static final int MAX = 8;

    private final Map<String, ResidentWatch> watches = new LinkedHashMap<>(16, 0.75f, true);
    private boolean closed;

    /** The watch for runs of {@code exports} through the connection named {@code target} (made on first use); null once closed. */
    ResidentWatch of(String target, List<FileExport> exports) {
        StringBuilder key = new StringBuilder(target);
        for (FileExport e : exports) key.append('\0').append(e.hostPath()).append('\0').append(e.guestPath()).append('\0').append(e.readOnly());
        List<ResidentWatch> evicted = new ArrayList<>();
        ResidentWatch w;
        synchronized (watches) {
            if (closed) return null;
            w = watches.computeIfAbsent(key.toString(), k -> ResidentWatch.start(FileServer.DEFAULT_MAX_WATCHES));
            var it = watches.values().iterator();
            while (watches.size() > MAX && it.hasNext()) {
                ResidentWatch old = it.next();
                if (old == w || old.busy()) continue;
                it.remove();
                evicted.add(old);
            }
        }
        evicted.forEach(ResidentWatch::close);
        return w;
    }

    void closeAll() {
        List<ResidentWatch> all;
        synchronized (watches) {
            closed = true;
            all = new ArrayList<>(watches.values());
            watches.clear();
        }
        all.forEach(ResidentWatch::close);
    }
}
