package io.tether.daemon.mirror;

import io.tether.daemon.guest.FileKind;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * What one session's path resolution learnt of its mirror paths: which are directories or symlinks, and the
 * symlinks' targets. A resolution asks about every component (/usr, /usr/lib, /usr/lib/x86_64-linux-gnu, ...),
 * and each answer otherwise costs the presence checks and a statx of a long cache path on the tracer's thread;
 * a rewriting run asks for every stat, open and exec (a cold configure: ~20% of the tracer's CPU).
 *
 * <p>Regular files and missing names are never kept, so a creation needs no care. A path is kept only below a
 * kept directory (or at or right below a tree's root), so nothing is kept under a path that is not: {@link #dropped} of an
 * unkept path (a file's unlink) is free. What may change a kept answer:
 * <ul>
 *   <li>our own removals and renames: {@link #dropped} before the host applies them and again when the tracer
 *       says the tracee's call is done (a lookup in between, racing the kernel, is dropped then);</li>
 *   <li>the host's changes and the tree's own re-listings: they move {@code epoch} (pushes, and a tree removing
 *       or replacing a local name), which empties the cache at the next lookup. An answer read while it moved is
 *       not kept.</li>
 * </ul>
 */
final class LookupCache {
    private static final int MAX_ENTRIES = 1 << 16;

    private final ConcurrentHashMap<String, FileKind> kinds = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, String> targets = new ConcurrentHashMap<>();
    private final LongSupplier epoch;
    private volatile long seen;

    LookupCache(LongSupplier epoch) {
        this.epoch = epoch;
        this.seen = epoch.getAsLong();
    }

    /** The epoch now: read before a lookup whose answer may be kept ({@link #keepKind}, {@link #keepTarget}). */
    long epoch() {
        long now = epoch.getAsLong();
        if (now != seen) {
            kinds.clear();
            targets.clear();
            seen = now;
        }
        return now;
    }

    /** The kept kind of {@code mirrorPath}, or null. */
    FileKind kind(String mirrorPath) {
        epoch();
        return kinds.get(mirrorPath);
    }

    /** The kept target of the symlink {@code mirrorPath}, or null. */
    String target(String mirrorPath) {
        epoch();
        return targets.get(mirrorPath);
    }

    /**
     * Keeps a directory's or symlink's kind learnt since {@code before} ({@link #epoch()}); {@code top}: the path
     * is a tree's root or right below it (a resolution never asks about the root it starts from), kept without
     * a kept parent.
     */
    void keepKind(String mirrorPath, FileKind kind, long before, boolean top) {
        if (kind != FileKind.DIRECTORY && kind != FileKind.SYMLINK) return;
        if (!top && kinds.get(Tree.parentOf(mirrorPath)) != FileKind.DIRECTORY) return;
        if (kinds.size() >= MAX_ENTRIES) kinds.clear();
        keep(kinds, mirrorPath, kind, before);
    }

    /** Keeps a symlink's target learnt since {@code before}, when its kind is kept. */
    void keepTarget(String mirrorPath, String target, long before) {
        if (kinds.get(mirrorPath) != FileKind.SYMLINK) return;
        if (targets.size() >= MAX_ENTRIES) targets.clear();
        keep(targets, mirrorPath, target, before);
    }

    private <V> void keep(ConcurrentHashMap<String, V> map, String mirrorPath, V value, long before) {
        if (epoch.getAsLong() != before) return;
        map.put(mirrorPath, value);
        if (epoch.getAsLong() != before) map.remove(mirrorPath, value); // moved meanwhile: the answer may be old
    }

    /**
     * {@code mirrorPath} is being (or was) removed, renamed or replaced: a kept symlink goes alone, a kept
     * directory takes everything with it (rare: rmdir, a directory's rename), and so does a tree's root (the names
     * right below it are kept whether or not it is).
     */
    void dropped(String mirrorPath, boolean treeRoot) {
        FileKind k = kinds.get(mirrorPath);
        if (k == FileKind.DIRECTORY || treeRoot) {
            kinds.clear();
            targets.clear();
        } else {
            kinds.remove(mirrorPath);
            targets.remove(mirrorPath);
        }
    }

    /** Paths kept now (tests). */
    int size() {
        return kinds.size() + targets.size();
    }
}
