package io.tether.client.files;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;
import io.tether.posix.Errno;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.Closeable;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Push invalidation: watches (inotify, called through JNA) the host directories the daemon has
 * listed and reports each entry created, deleted, modified or renamed there as (export, rel of the
 * entry); an overflow or a vanished directory reports the directory itself. The number of watched
 * directories is bounded; past the bound the daemon relies on validation.
 *
 * <p>inotify_add_watch is one short syscall on the caller's thread. The JDK's WatchService hands
 * each registration to its poller thread and waits for it, one at a time: 0.1-17 ms each on a busy
 * machine, which a cold run's parallel listings queued behind (a listing watches its directory
 * before it is read).
 */
final class DirectoryWatcher implements Closeable {
    private static final Logger log = LoggerFactory.getLogger(DirectoryWatcher.class);

    private static final int IN_MODIFY = 0x2, IN_ATTRIB = 0x4, IN_MOVED_FROM = 0x40, IN_MOVED_TO = 0x80,
            IN_CREATE = 0x100, IN_DELETE = 0x200, IN_Q_OVERFLOW = 0x4000, IN_IGNORED = 0x8000, IN_ONLYDIR = 0x01000000;
    /** What the JDK asks for ENTRY_CREATE, ENTRY_DELETE and ENTRY_MODIFY, for directories only. */
    private static final int MASK = IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_MODIFY | IN_ATTRIB | IN_ONLYDIR;
    private static final int IN_CLOEXEC = 02000000, IN_NONBLOCK = 04000, POLLIN = 1;
    /** How long the reader waits before it looks whether it was closed (a blocked read is not woken by close). */
    private static final int POLL_MS = 200;
    private static final int EVENT_HEADER = 16; // wd, mask, cookie, len

    /** Receives (export, rel) of what changed. */
    interface Listener {
        void changed(int export, byte[] rel);

        /** From now on a change may go unreported (watch limit, a directory that cannot be watched, queue overflow). */
        default void gap(String why) {
        }
    }

    /** A listed directory: its export and rel (one host directory may be listed under several rels). */
    private record Listed(int export, String rel) {}

    private final int fd;
    private final Listener listener;
    private final int maxWatches;
    /** Watch descriptor -> the rels its directory was listed as. */
    private final Map<Integer, Set<Listed>> keys = new HashMap<>();
    private final Thread thread;
    private boolean limitLogged;
    private volatile boolean closed;
    /** The reader stopped on an error: nothing is reported any more. */
    private volatile boolean failed;

    private DirectoryWatcher(int fd, Listener listener, int maxWatches) {
        this.fd = fd;
        this.listener = listener;
        this.maxWatches = maxWatches;
        this.thread = new Thread(this::run, "tether-files-watch");
        thread.setDaemon(true);
    }

    /** A running watcher, or null where the platform has no inotify (then only validation keeps the daemon true). */
    static DirectoryWatcher start(Listener listener, int maxWatches) {
        int fd;
        try {
            fd = Platform.isLinux() ? HostNative.inotify_init1(IN_CLOEXEC | IN_NONBLOCK) : -1;
        } catch (UnsatisfiedLinkError e) {
            fd = -1;
        }
        if (fd < 0) {
            log.warn("no push invalidation of host files ({}): the target revalidates instead",
                    Platform.isLinux() ? "inotify_init1: " + Errno.describe(Native.getLastError()) : "no inotify");
            return null;
        }
        DirectoryWatcher w = new DirectoryWatcher(fd, listener, maxWatches);
        w.thread.start();
        return w;
    }

    /** Watches {@code hostDir}, listed by the daemon as (export, rel). */
    void watch(Path hostDir, int export, byte[] rel) {
        if (closed || hostDir == null) return;
        if (failed) {
            listener.gap("the watch reader stopped");
            return;
        }
        Listed listed = new Listed(export, new String(rel, StandardCharsets.ISO_8859_1));
        byte[] path = bytesOf(hostDir);
        synchronized (keys) {
            if (path == null) {
                limit("cannot watch " + hostDir + ": its name does not decode");
                return;
            }
            if (keys.size() >= maxWatches) {
                limit(maxWatches + " directories watched");
                return;
            }
            // Held across the call: an event of a new watch waits here until the watch is in the map.
            int wd = HostNative.inotify_add_watch(fd, path, MASK);
            if (wd < 0) {
                limit("cannot watch " + hostDir + ": " + Errno.describe(Native.getLastError()));
                return;
            }
            keys.computeIfAbsent(wd, k -> new LinkedHashSet<>()).add(listed);
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
        Memory buf = new Memory(64 * 1024);
        Memory pollFd = new Memory(8); // struct pollfd: int fd, short events, short revents
        try {
            while (!closed) {
                pollFd.setInt(0, fd);
                pollFd.setShort(4, (short) POLLIN);
                pollFd.setShort(6, (short) 0);
                int ready = HostNative.poll(Pointer.nativeValue(pollFd), 1, POLL_MS);
                if (ready <= 0) {
                    if (ready < 0 && Native.getLastError() != Errno.EINTR) {
                        fail("poll: " + Errno.describe(Native.getLastError()));
                        return;
                    }
                    continue;
                }
                long n = HostNative.read(fd, Pointer.nativeValue(buf), buf.size());
                if (n < 0) {
                    int errno = Native.getLastError();
                    if (errno == Errno.EINTR || errno == Errno.EAGAIN) continue;
                    fail("read: " + Errno.describe(errno));
                    return;
                }
                for (long off = 0; off + EVENT_HEADER <= n; ) {
                    int wd = buf.getInt(off), mask = buf.getInt(off + 4), len = buf.getInt(off + 12);
                    byte[] name = len == 0 ? null : nameAt(buf, off + EVENT_HEADER, len);
                    off += EVENT_HEADER + len;
                    if (!closed) onEvent(wd, mask, name);
                }
            }
        } finally {
            HostNative.close(fd);
        }
    }

    private void onEvent(int wd, int mask, byte[] name) {
        if ((mask & IN_Q_OVERFLOW) != 0) {
            listener.gap("inotify queue overflow");
            List<Listed> all = new ArrayList<>();
            synchronized (keys) {
                for (Set<Listed> s : keys.values()) all.addAll(s);
            }
            for (Listed l : all) report(l.export(), l.rel());
            return;
        }
        List<Listed> listed;
        synchronized (keys) {
            Set<Listed> s = (mask & IN_IGNORED) != 0 ? keys.remove(wd) : keys.get(wd);
            listed = s == null ? List.of() : List.copyOf(s);
        }
        if ((mask & IN_IGNORED) != 0) {
            // The directory is gone (or unmounted): the daemon drops it and its listing.
            for (Listed l : listed) report(l.export(), l.rel());
            return;
        }
        if (name == null) return; // the directory itself: its parent's watch reports it
        String child = new String(name, StandardCharsets.ISO_8859_1);
        if (HostTree.isTempName(child)) return; // a Put in progress: its rename reports the real name
        for (Listed l : listed) report(l.export(), l.rel().isEmpty() ? child : l.rel() + "/" + child);
    }

    /** The event's name: {@code len} bytes padded with NULs. */
    private static byte[] nameAt(Memory buf, long at, int len) {
        int end = 0;
        while (end < len && buf.getByte(at + end) != 0) end++;
        return buf.getByteArray(at, end);
    }

    /** The bytes of a host path as the kernel knows them, or null when the JDK's decoding of it lost some. */
    private static byte[] bytesOf(Path hostDir) {
        Charset cs = nativeCharset();
        String s = hostDir.toString();
        byte[] b = s.getBytes(cs);
        if (s.indexOf('\uFFFD') >= 0 || !new String(b, cs).equals(s)) return null;
        byte[] z = java.util.Arrays.copyOf(b, b.length + 1);
        return z;
    }

    private static Charset nativeCharset() {
        String jnu = System.getProperty("sun.jnu.encoding");
        try {
            return jnu == null ? StandardCharsets.UTF_8 : Charset.forName(jnu);
        } catch (RuntimeException e) {
            return StandardCharsets.UTF_8;
        }
    }

    /** Whether changes are still reported (the reader has not stopped on an error). */
    boolean alive() {
        return !failed && !closed;
    }

    private void fail(String why) {
        failed = true;
        listener.gap(why);
        log.warn("push invalidation stopped ({}): the target revalidates instead", why);
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
        closed = true; // the reader closes the descriptor within POLL_MS
    }
}
