package io.tether.daemon.mirror;

import io.tether.daemon.files.HostAttr;

/**
 * What the mirror knows about one path of one tree (one export): the host's attributes when last
 * seen, whether a directory's entries are present ({@code listed}), whether a regular file holds the
 * host's contents ({@code contents}) or is a placeholder. Guarded by its own monitor; the tree's map
 * holds one per mirrored path.
 */
final class Entry {
    final String rel;
    /** Host attributes when listed, fetched or written back; null when unknown (re-listed before use). */
    HostAttr attr;
    boolean listed;
    boolean contents;
    /** Bytes counted against the cache bound while {@code contents}. */
    long bytes;
    long lastUse;
    /** Sessions that may have written it and not yet written it back: never evicted, never replaced. */
    int writers;
    /** The mirror file's own identity when its contents were placed (a restart checks it is the same file). */
    long localIno, localCtimeNs;
    /** Bumped by every invalidation: a listing that raced one is not trusted. */
    int gen;
    /**
     * Listed lazily and not made here yet (a rewrite-mode run's listing: {@link Tree#sparse}); made when
     * first looked up. Never stored in the index. {@code linkTarget}: a symlink's, until it is made.
     */
    boolean absent;
    String linkTarget;

    Entry(String rel, HostAttr attr) {
        this.rel = rel;
        this.attr = attr;
    }

    synchronized boolean pinned() {
        return writers > 0;
    }
}
