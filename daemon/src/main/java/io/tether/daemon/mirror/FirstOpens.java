package io.tether.daemon.mirror;

import com.sun.jna.Native;
import com.sun.jna.Platform;
import io.tether.daemon.guest.OpenGate;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.posix.NativeWord;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The open gate of a kernel-rooted run over a mirror: fanotify permission events (FAN_OPEN_PERM) on the mounts of
 * the tracees' own namespace, so the kernel holds a tracee's open of a mirror file until we answer, and read-only
 * opens need no ptrace stop. Why it is safe: the daemon fetches through its own namespace's mounts, which carry no
 * mark, so its writes raise no events; a file whose contents are here gets an inode ignore mark after its first
 * open, so later opens of it cost nothing; a placeholder that replaces a file (a host change, an eviction) is a new
 * inode without one; any write to a marked inode clears the mark (no FAN_MARK_IGNORED_SURV_MODIFY), so the next
 * open asks again. What it cannot do: fail an open with ENOENT. A permission event only allows or denies; a denial
 * is EIO where the kernel takes an errno (FAN_DENY_ERRNO, 6.14+), else EPERM.
 */
public final class FirstOpens implements OpenGate {
    /** Whether the file a tracee opens may be read now: 0 when its contents are here, else the errno that says why not. */
    public interface Keeper {
        int firstOpen(String hostPath, long ino);
    }

    /** TETHER_OPEN_GATE=off on the daemon keeps every open stopping (A/B benchmarks, an escape hatch). */
    static final String ENV = "TETHER_OPEN_GATE";

    private static final Logger LOG = LoggerFactory.getLogger(FirstOpens.class);
    private static final int FAN_CLOEXEC = 0x1, FAN_CLASS_PRE_CONTENT = 0x8, FAN_UNLIMITED_QUEUE = 0x10, FAN_UNLIMITED_MARKS = 0x20;
    private static final int FAN_MARK_ADD = 0x1, FAN_MARK_MOUNT = 0x10, FAN_MARK_IGNORED_MASK = 0x20;
    private static final long FAN_OPEN_PERM = 0x10000L;
    private static final int FAN_ALLOW = 0x1, FAN_DENY = 0x2, FAN_ERRNO_SHIFT = 24;
    private static final int METADATA_LEN = 24, METADATA_VERSION = 3, AT_FDCWD = -100;
    private static final int O_CLOEXEC = 02000000, O_LARGEFILE_32 = 0400000; // arm's; 64-bit kernels force it
    private static final short POLLIN = 1;
    private static final AtomicInteger THREADS = new AtomicInteger();

    private final int fan;
    private final int[] wake;
    private final int rootPid;
    /** Mountpoints the tracees see as host paths, longest first, and where this daemon reaches them. */
    private final List<Map.Entry<String, String>> binds;
    private final Keeper keeper;
    private final int self = (int) ProcessHandle.current().pid();
    private final Thread reader;
    private final ExecutorService answering;
    private final LongAdder events = new LongAdder(), denied = new LongAdder();
    private volatile boolean closed;
    /** Cleared when the kernel refuses FAN_DENY_ERRNO (before 6.14): a denial is then EPERM. */
    private volatile boolean denyWithErrno = true;

    private FirstOpens(int fan, int[] wake, int rootPid, Map<String, String> bindsSeenAt, Keeper keeper) {
        this.fan = fan;
        this.wake = wake;
        this.rootPid = rootPid;
        this.binds = new ArrayList<>(bindsSeenAt.entrySet());
        this.binds.sort(Comparator.comparingInt((Map.Entry<String, String> e) -> e.getKey().length()).reversed());
        this.keeper = keeper;
        int n = THREADS.incrementAndGet();
        this.answering = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "open-gate-" + n + "-answer");
            t.setDaemon(true);
            return t;
        });
        this.reader = new Thread(this::read, "open-gate-" + n);
        reader.setDaemon(true);
    }

    /**
     * The gate for the tree of {@code rootPid} (chrooted into {@code rootHostPath}, with {@code bindsSeenAt}'s
     * mountpoints), or null with the reason logged when the kernel offers none (no fanotify permission events,
     * not root): the run's opens then all stop, as before.
     */
    public static FirstOpens start(int rootPid, String rootHostPath, Map<String, String> bindsSeenAt, Keeper keeper) {
        if ("off".equals(System.getenv(ENV))) return null;
        int fan = Fan.fanotify_init(FAN_CLOEXEC | FAN_CLASS_PRE_CONTENT | FAN_UNLIMITED_QUEUE | FAN_UNLIMITED_MARKS,
                MirrorFs.O_RDONLY | O_CLOEXEC | (NativeWord.LP64 ? 0 : O_LARGEFILE_32));
        if (fan < 0) {
            LOG.debug("no open gate: fanotify_init: {}", Errno.describe(Native.getLastError()));
            return null;
        }
        int[] wake = new int[2];
        if (Fan.pipe2(wake, O_CLOEXEC) != 0) {
            LOG.debug("no open gate: pipe2: {}", Errno.describe(Native.getLastError()));
            MirrorFs.close(fan);
            return null;
        }
        List<String> marked = new ArrayList<>();
        marked.add("/proc/" + rootPid + "/root");
        for (String seen : bindsSeenAt.keySet()) {
            if (!seen.startsWith(rootHostPath)) continue; // not below the root: the tracees cannot see it
            marked.add("/proc/" + rootPid + "/root" + seen.substring(rootHostPath.equals("/") ? 0 : rootHostPath.length()));
        }
        for (String procPath : marked) {
            if (Fan.fanotify_mark(fan, FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_OPEN_PERM, AT_FDCWD, MirrorFs.c(procPath)) != 0) {
                LOG.debug("no open gate: fanotify_mark of the mount at {}: {}", procPath, Errno.describe(Native.getLastError()));
                MirrorFs.close(fan);
                MirrorFs.close(wake[0]);
                MirrorFs.close(wake[1]);
                return null;
            }
        }
        FirstOpens gate = new FirstOpens(fan, wake, rootPid, bindsSeenAt, keeper);
        gate.reader.start();
        LOG.debug("open gate up for pid {}: {} mounts", rootPid, marked.size());
        return gate;
    }

    private void read() {
        byte[] buf = new byte[64 * METADATA_LEN];
        // struct pollfd[2]: int fd; short events; short revents.
        ByteBuffer fds = ByteBuffer.allocate(16).order(ByteOrder.nativeOrder());
        fds.putInt(0, fan).putShort(4, POLLIN).putInt(8, wake[0]).putShort(12, POLLIN);
        byte[] pollfds = fds.array();
        while (!closed) {
            pollfds[6] = pollfds[7] = pollfds[14] = pollfds[15] = 0;
            int ready = Fan.poll(pollfds, 2, -1);
            if (ready < 0) {
                if (Native.getLastError() == Errno.EINTR) continue;
                LOG.warn("open gate of pid {}: poll: {}", rootPid, Errno.describe(Native.getLastError()));
                return;
            }
            if (closed) return;
            long n;
            try {
                n = MirrorFs.read(fan, buf);
            } catch (ErrnoException e) {
                if (e.errno() == Errno.EINTR || e.errno() == Errno.EAGAIN) continue;
                if (!closed) LOG.warn("open gate of pid {}: read: {}", rootPid, e.getMessage());
                return;
            }
            ByteBuffer b = ByteBuffer.wrap(buf, 0, (int) n).order(ByteOrder.nativeOrder());
            for (int at = 0; at + METADATA_LEN <= n; ) {
                int len = b.getInt(at);
                if (len < METADATA_LEN || (b.get(at + 4) & 0xff) != METADATA_VERSION) {
                    LOG.error("open gate of pid {}: an event of fanotify version {}, length {}: not ours", rootPid,
                            b.get(at + 4) & 0xff, len);
                    return;
                }
                long mask = b.getLong(at + 8);
                int fd = b.getInt(at + 16), pid = b.getInt(at + 20);
                at += len;
                if (fd < 0 || (mask & FAN_OPEN_PERM) == 0) continue;
                events.increment();
                answering.execute(() -> answer(fd, pid));
            }
        }
    }

    /** Decides one held open, answers it (the tracee goes on) and closes the event's fd. */
    private void answer(int fd, int pid) {
        int errno;
        try {
            errno = decide(fd, pid);
        } catch (ErrnoException e) {
            errno = e.errno();
        } catch (RuntimeException e) {
            LOG.warn("open gate of pid {}: an open of pid {}", rootPid, pid, e);
            errno = Errno.EIO;
        }
        try {
            if (errno == 0) {
                // Its contents are here: its next opens need no answer, until a write or a replacement.
                if (Fan.fanotify_mark(fan, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK, FAN_OPEN_PERM, fd, null) != 0) {
                    LOG.debug("open gate: ignore mark: {}", Errno.describe(Native.getLastError()));
                }
                respond(fd, FAN_ALLOW);
            } else {
                denied.increment();
                deny(fd, errno);
                if (denied.sum() == 1) {
                    LOG.warn("open gate of pid {}: an open of pid {} denied ({}); the program gets EIO", rootPid, pid,
                            Errno.describe(errno));
                }
            }
        } finally {
            MirrorFs.close(fd);
        }
    }

    private int decide(int fd, int pid) throws ErrnoException {
        if (pid == self) return 0; // our own reads through the tracees' mounts: never a placeholder's fetch
        MirrorFs.LocalStat st = MirrorFs.fstat(fd);
        if (!st.isRegular()) return 0; // directories are whole in a kernel-rooted run; devices have no contents
        String seen = MirrorFs.readlink("/proc/self/fd/" + fd);
        if (seen.endsWith(" (deleted)")) seen = seen.substring(0, seen.length() - " (deleted)".length());
        return keeper.firstOpen(hostPathOf(seen), st.ino());
    }

    /** The host path this daemon reaches a file by that the tracees see at {@code seen} (the kernel's name for it). */
    String hostPathOf(String seen) {
        for (Map.Entry<String, String> b : binds) {
            String at = b.getKey();
            if (seen.equals(at)) return b.getValue();
            if (seen.startsWith(at) && seen.charAt(at.length()) == '/') return b.getValue() + seen.substring(at.length());
        }
        return seen;
    }

    private void deny(int fd, int errno) {
        // The kernel takes only a few errnos from us: EIO says what any failure of ours means to a reader.
        int e = errno == Errno.ENOSPC ? Errno.ENOSPC : Errno.EIO;
        if (denyWithErrno) {
            if (respondOrErrno(fd, FAN_DENY | e << FAN_ERRNO_SHIFT) == 0) return;
            denyWithErrno = false; // before 6.14: EINVAL
            LOG.debug("open gate: this kernel denies with EPERM only");
        }
        respond(fd, FAN_DENY);
    }

    private void respond(int fd, int response) {
        int errno = respondOrErrno(fd, response);
        if (errno != 0 && !closed) LOG.warn("open gate of pid {}: answering fd {}: {}", rootPid, fd, Errno.describe(errno));
    }

    private int respondOrErrno(int fd, int response) {
        byte[] r = ByteBuffer.allocate(8).order(ByteOrder.nativeOrder()).putInt(fd).putInt(response).array();
        try {
            MirrorFs.write(fan, r);
            return 0;
        } catch (ErrnoException e) {
            return e.errno();
        }
    }

    /** Called once the run's last tracee is gone: events still queued are the kernel's to allow as it closes the group. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try {
            MirrorFs.write(wake[1], new byte[] {1});
        } catch (ErrnoException e) {
            LOG.debug("open gate: wake: {}", e.getMessage());
        }
        try {
            reader.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        answering.shutdown();
        try {
            answering.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        MirrorFs.close(fan);
        MirrorFs.close(wake[0]);
        MirrorFs.close(wake[1]);
        LOG.debug("open gate of pid {} down: {} first opens held, {} denied", rootPid, events.sum(), denied.sum());
    }

    /** The opens held so far. */
    public long events() {
        return events.sum();
    }

    /** The opens denied so far. */
    public long denied() {
        return denied.sum();
    }

    private static final class Fan {
        static {
            Native.register(Fan.class, Platform.C_LIBRARY_NAME);
        }

        static native int fanotify_init(int flags, int eventFlags);
        static native int fanotify_mark(int fd, int flags, long mask, int dirfd, byte[] path);
        static native int pipe2(int[] fds, int flags);
        static native int poll(byte[] fds, long nfds, int timeoutMs);
    }
}
