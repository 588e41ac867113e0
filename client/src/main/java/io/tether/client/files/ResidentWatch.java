package io.tether.client.files;

import com.google.protobuf.ByteString;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.Closeable;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Host watches that outlive a run (the front door keeps one per target and export list): the
 * directories the daemon listed or validated in earlier runs stay watched, and what changed in
 * them is kept for the next run, which then asks for those changes (one small Validate) instead
 * of having the daemon revalidate every entry it cached (tether.proto {@code FilesOpen.watch_epoch}).
 *
 * <p>The epoch names one gap-free stretch of watching: a watch limit, a directory that cannot be
 * watched, an inotify overflow or a full journal end it, and the next run gets a new epoch (so its
 * daemon revalidates in full). While runs are served, changes are also pushed to them as usual.
 */
public final class ResidentWatch implements Closeable {
    private static final Logger log = LoggerFactory.getLogger(ResidentWatch.class);
    /** Changed rels kept between runs; past this the next run revalidates in full. */
    static final int MAX_JOURNAL = 65536;
    private static final SecureRandom RANDOM = new SecureRandom();

    private final DirectoryWatcher watcher;
    private final Object lock = new Object();
    private final Set<FileServer> serving = new LinkedHashSet<>();
    private final Map<Integer, Set<ByteString>> journal = new HashMap<>();
    private int journalSize;
    private long epoch;
    private boolean gap = true;
    private volatile long lastUseNanos = System.nanoTime();

    private ResidentWatch(int maxWatches) {
        this.watcher = DirectoryWatcher.start(new DirectoryWatcher.Listener() {
            @Override
            public void changed(int export, byte[] rel) {
                ResidentWatch.this.changed(export, rel);
            }

            @Override
            public void gap(String why) {
                ResidentWatch.this.gap(why);
            }
        }, maxWatches);
    }

    /** A watch with room for {@code maxWatches} directories (without a watch service: one that never vouches). */
    public static ResidentWatch start(int maxWatches) {
        return new ResidentWatch(maxWatches);
    }

    /** {@code s} starts serving a run; returns the epoch it announces (0: none, the daemon revalidates). */
    long begin(FileServer s) {
        synchronized (lock) {
            if (gap) {
                epoch = RANDOM.nextLong() | 1;
                journal.clear();
                journalSize = 0;
                gap = false;
            }
            serving.add(s);
            lastUseNanos = System.nanoTime();
            return watcher == null || !watcher.alive() ? 0 : epoch;
        }
    }

    void end(FileServer s) {
        synchronized (lock) {
            serving.remove(s);
            lastUseNanos = System.nanoTime();
        }
    }

    /** Whether a run is being served now. */
    public boolean busy() {
        synchronized (lock) {
            return !serving.isEmpty();
        }
    }

    /** When a run last began or ended (System.nanoTime). */
    public long lastUseNanos() {
        return lastUseNanos;
    }

    void watch(Path hostDir, int export, byte[] rel) {
        if (watcher != null) watcher.watch(hostDir, export, rel);
    }

    void renamed(int export, byte[] fromRel, int toExport, byte[] toRel) {
        if (watcher != null) watcher.renamed(export, fromRel, toExport, toRel);
    }

    /** What changed in {@code export} since the last call (for a run of {@code epoch}); ESTALE if that cannot be told. */
    List<ByteString> changes(int export, long epoch) throws ErrnoException {
        synchronized (lock) {
            if (!vouchesFor(epoch)) {
                throw new ErrnoException(Errno.ESTALE, "validate", "changes since the last run (watching had a gap)");
            }
            Set<ByteString> changed = journal.remove(export);
            if (changed == null) return List.of();
            journalSize -= changed.size();
            return new ArrayList<>(changed);
        }
    }

    /**
     * What changed in every export since the last call, taken all at once as a run's files stream opens
     * ({@code FilesOpen.changes}): null, leaving the journal for the daemon to ask, if that cannot be
     * told or the rels, counted {@code perRelBytes} more each, come to more than {@code maxBytes}.
     */
    Map<Integer, List<ByteString>> changesIfFew(long epoch, int maxBytes, int perRelBytes) {
        synchronized (lock) {
            if (!vouchesFor(epoch)) return null;
            long bytes = 0;
            for (Set<ByteString> rels : journal.values()) {
                for (ByteString rel : rels) {
                    bytes += rel.size() + perRelBytes;
                    if (bytes > maxBytes) return null;
                }
            }
            Map<Integer, List<ByteString>> all = new HashMap<>();
            journal.forEach((export, rels) -> all.put(export, new ArrayList<>(rels)));
            journal.clear();
            journalSize = 0;
            return all;
        }
    }

    /** Under {@link #lock}: whether the journal holds every change since the last answer of {@code epoch}. */
    private boolean vouchesFor(long epoch) {
        return watcher != null && watcher.alive() && !gap && epoch == this.epoch;
    }

    /** Changes journaled now (tests). */
    int journaled() {
        synchronized (lock) {
            return journalSize;
        }
    }

    private void changed(int export, byte[] rel) {
        List<FileServer> to;
        synchronized (lock) {
            if (!gap && journal.computeIfAbsent(export, k -> new LinkedHashSet<>()).add(ByteString.copyFrom(rel))
                    && ++journalSize > MAX_JOURNAL) {
                gap(MAX_JOURNAL + " changes kept");
            }
            to = List.copyOf(serving);
        }
        for (FileServer s : to) s.invalidate(export, rel);
    }

    private void gap(String why) {
        synchronized (lock) {
            if (gap) return;
            gap = true;
            journal.clear();
            journalSize = 0;
        }
        log.info("host watches have a gap ({}): the next run revalidates what it cached", why);
    }

    @Override
    public void close() {
        synchronized (lock) {
            gap = true;
        }
        if (watcher != null) watcher.close();
    }
}
