package io.tether.client.files;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.Closeable;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchEvent;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Push invalidation: watches (inotify, through the JDK's WatchService) the host directories the
 * daemon has listed and reports each entry created, deleted, modified or renamed there as
 * (export, rel of the entry); an overflow or a vanished directory reports the directory itself.
 * The number of watched directories is bounded; past the bound the daemon relies on validation.
 */
final class DirectoryWatcher implements Closeable {
    private static final Logger log = LoggerFactory.getLogger(DirectoryWatcher.class);

    /** Receives (export, rel) of what changed. */
    interface Listener {
        void changed(int export, byte[] rel);

        /** From now on a change may go unreported (watch limit, a directory that cannot be watched, queue overflow). */
        default void gap(String why) {
        }
    }

    /** A listed directory: its export and rel (one host directory may be listed under several rels). */
    private record Listed(int export, String rel) {}

    private final WatchService service;
    private final Listener listener;
    private final int maxWatches;
    private final Map<WatchKey, Set<Listed>> keys = new HashMap<>();
    private final Thread thread;
    private boolean limitLogged;
    private volatile boolean closed;

    private DirectoryWatcher(WatchService service, Listener listener, int maxWatches) {
        this.service = service;
        this.listener = listener;
        this.maxWatches = maxWatches;
        this.thread = new Thread(this::run, "tether-files-watch");
        thread.setDaemon(true);
    }

    /** A running watcher, or null where the platform has no watch service (then only validation keeps the daemon true). */
    static DirectoryWatcher start(Listener listener, int maxWatches) {
        try {
            DirectoryWatcher w = new DirectoryWatcher(FileSystems.getDefault().newWatchService(), listener, maxWatches);
            w.thread.start();
            return w;
        } catch (IOException | UnsupportedOperationException e) {
            log.warn("no push invalidation of host files ({}): the target revalidates instead", e.getMessage());
            return null;
        }
    }

    /** Watches {@code hostDir}, listed by the daemon as (export, rel). */
    void watch(Path hostDir, int export, byte[] rel) {
        if (closed || hostDir == null) return;
        Listed listed = new Listed(export, new String(rel, StandardCharsets.ISO_8859_1));
        synchronized (keys) {
            WatchKey key;
            try {
                if (keys.size() >= maxWatches) {
                    // May be a directory watched already: registering again returns its key.
                    key = null;
                } else {
                    key = hostDir.register(service, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_DELETE,
                            StandardWatchEventKinds.ENTRY_MODIFY);
                }
            } catch (IOException | RuntimeException e) {
                limit("cannot watch " + hostDir + ": " + e.getMessage());
                return;
            }
            if (key == null) {
                limit(maxWatches + " directories watched");
                return;
            }
            keys.computeIfAbsent(key, k -> new LinkedHashSet<>()).add(listed);
        }
    }

    /**
     * {@code fromRel} was renamed to {@code toRel}: the directories watched at or below it are now
     * (also) reported under the new name (inotify watches follow the inode, not the name).
     */
    void renamed(int export, byte[] fromRel, int toExport, byte[] toRel) {
        String from = new String(fromRel, StandardCharsets.ISO_8859_1), to = new String(toRel, StandardCharsets.ISO_8859_1);
        synchronized (keys) {
            for (Set<Listed> set : keys.values()) {
                for (Listed l : List.copyOf(set)) {
                    if (l.export() != export) continue;
                    if (l.rel().equals(from)) set.add(new Listed(toExport, to));
                    else if (l.rel().startsWith(from + "/")) set.add(new Listed(toExport, to + l.rel().substring(from.length())));
                }
            }
        }
    }

    int watchCount() {
        synchronized (keys) {
            return keys.size();
        }
    }

    private void limit(String why) {
        listener.gap(why);
        if (!limitLogged) {
            limitLogged = true;
            log.warn("push invalidation limit reached ({}): further listed directories are revalidated by the target instead", why);
        }
    }

    private void run() {
        while (!closed) {
            WatchKey key;
            try {
                key = service.take();
            } catch (InterruptedException | ClosedWatchServiceException e) {
                return;
            }
            List<Listed> listed;
            synchronized (keys) {
                Set<Listed> s = keys.get(key);
                listed = s == null ? List.of() : List.copyOf(s);
            }
            for (WatchEvent<?> event : key.pollEvents()) {
                if (event.kind() == StandardWatchEventKinds.OVERFLOW || !(event.context() instanceof Path name)) {
                    listener.gap("inotify queue overflow");
                    for (Listed l : listed) report(l.export(), l.rel());
                    continue;
                }
                String child = name.toString();
                if (HostTree.isTempName(child)) continue; // a Put in progress: its rename reports the real name
                for (Listed l : listed) report(l.export(), l.rel().isEmpty() ? child(child) : l.rel() + "/" + child(child));
            }
            if (!key.reset()) {
                // The directory is gone (or unmounted): the daemon drops it and its listing.
                synchronized (keys) {
                    keys.remove(key);
                }
                for (Listed l : listed) report(l.export(), l.rel());
            }
        }
    }

    /** A host file name as the wire's bytes (the JDK decodes names with the platform charset). */
    private static String child(String name) {
        return new String(name.getBytes(nativeCharset()), StandardCharsets.ISO_8859_1);
    }

    private static java.nio.charset.Charset nativeCharset() {
        String jnu = System.getProperty("sun.jnu.encoding");
        try {
            return jnu == null ? StandardCharsets.UTF_8 : java.nio.charset.Charset.forName(jnu);
        } catch (RuntimeException e) {
            return StandardCharsets.UTF_8;
        }
    }

    private void report(int export, String rel) {
        try {
            listener.changed(export, rel.getBytes(StandardCharsets.ISO_8859_1));
        } catch (RuntimeException e) {
            log.debug("invalidation of {}:{} not sent: {}", export, rel, e.toString());
        }
    }

    @Override
    public void close() {
        closed = true;
        try {
            service.close();
        } catch (IOException e) {
            log.debug("closing the watch service: {}", e.getMessage());
        }
        thread.interrupt();
    }
}
