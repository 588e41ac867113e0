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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The open gate of kernel-rooted runs over a mirror, one per daemon: fanotify permission events (FAN_OPEN_PERM,
 * FAN_OPEN_EXEC_PERM) on the mounts of each run's own namespace, so the kernel holds a tracee's open of a mirror file
 * until we answer, and neither read-only opens nor execs need a ptrace stop. Why it is safe: the daemon fetches through its own namespace's mounts, which
 * carry no mark, so its writes raise no events; a file found with its contents gets an inode ignore mark, so its
 * later opens, in this run and the next ones, cost nothing; a placeholder that replaces a file (a host change, an
 * eviction) is a new inode without one (a mark goes with its inode's last link); any write to a marked inode clears
 * its mark (no FAN_MARK_IGNORED_SURV_MODIFY), so the next open asks again. Each run's mounts are told apart by
 * their mount id (two runs may bind different sources at one mountpoint). What it cannot do: fail an open with
 * ENOENT. A permission event only allows or denies; a denial is EIO where the kernel takes an errno from us
 * (FAN_DENY_ERRNO, 6.14+, a pre-content group), else EPERM. A daemon killed while an open is held: the kernel
 * allows what its group held as it goes, and the tracees die with their tracer (PTRACE_O_EXITKILL); nothing they
 * did meanwhile reaches the host without the daemon.
 */
public final class FirstOpens implements AutoCloseable {
    /**
     * Whether the file a tracee opens ({@code exec}: the kernel opens it to execute it, as a program, a "#!"
     * interpreter or an ELF loader) may be read now: 0 when its contents are here, else the errno that says why
     * not; or, unless {@code mayWait}, {@link #WAIT} when deciding takes a round trip.
     */
    public interface Keeper {
        int firstOpen(String hostPath, long ino, boolean exec, boolean mayWait);
    }

    /** A {@link Keeper}'s "ask me again on a thread that may wait". */
    public static final int WAIT = -1;
    /** A {@link Keeper}'s "allow, but ask again next time": a file being written, whose contents are the writer's. */
    public static final int ALLOW_UNMARKED = -2;
    /** TETHER_OPEN_GATE=off on the daemon keeps every open stopping (A/B benchmarks, an escape hatch). */
    static final String ENV = "TETHER_OPEN_GATE";
    /** Ignore marks pin their inodes in memory: past this many they are all dropped, and files earn them again. */
    static final int MAX_IGNORED = 65536;

    private static final Logger LOG = LoggerFactory.getLogger(FirstOpens.class);
    private static final int FAN_CLOEXEC = 0x1, FAN_CLASS_PRE_CONTENT = 0x8, FAN_UNLIMITED_QUEUE = 0x10, FAN_UNLIMITED_MARKS = 0x20;
    private static final int FAN_MARK_ADD = 0x1, FAN_MARK_REMOVE = 0x2, FAN_MARK_MOUNT = 0x10, FAN_MARK_IGNORED_MASK = 0x20,
            FAN_MARK_FLUSH = 0x80;
    /** An exec's opens raise both (the exec one first), each answered; a file's ignore mark covers both. */
    private static final long FAN_OPEN_PERM = 0x10000L, FAN_OPEN_EXEC_PERM = 0x40000L, HELD = FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM;
    private static final int FAN_ALLOW = 0x1, FAN_DENY = 0x2, FAN_ERRNO_SHIFT = 24;
    private static final int METADATA_LEN = 24, METADATA_VERSION = 3, AT_FDCWD = -100;
    private static final int O_CLOEXEC = 02000000, O_LARGEFILE_32 = 0400000; // arm's; 64-bit kernels force it
    private static final short POLLIN = 1;
    private static final int S_IFMT = 0170000, S_IFREG = 0100000;

    private final int fan;
    private final int[] wake;
    private final int self = (int) ProcessHandle.current().pid();
    private final Thread reader;
    private final ExecutorService answering;
    /** The marked mounts of the runs behind the gate, by mount id. */
    private final Map<Long, Seen> mounts = new ConcurrentHashMap<>();
    private final AtomicInteger ignored = new AtomicInteger();
    private volatile boolean closed;
    /** Held for every use of {@link #fan} after the start, taken whole to close it: no answer goes to a reused fd number. */
    private final java.util.concurrent.locks.ReadWriteLock fanLock = new java.util.concurrent.locks.ReentrantReadWriteLock();
    private boolean fanClosed;
    /** Cleared when the kernel refuses FAN_DENY_ERRNO (before 6.14): a denial is then EPERM. */
    private volatile boolean denyWithErrno = true;

    /** One mount of a run's namespace: its run, the host path its root shows as there, the one we reach it by. */
    private record Seen(Run run, String seenAt, String hostPath) {}

    private FirstOpens(int fan, int[] wake) {
        this.fan = fan;
        this.wake = wake;
        this.answering = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "open-gate-answer");
            t.setDaemon(true);
            return t;
        });
        this.reader = new Thread(this::read, "open-gate");
        reader.setDaemon(true);
    }

    /** The daemon's gate, or null with the reason logged when the kernel offers none (not root, no fanotify permission events). */
    public static FirstOpens open() {
        if ("off".equals(System.getenv(ENV))) return null;
        int fan = Fan.fanotify_init(FAN_CLOEXEC | FAN_CLASS_PRE_CONTENT | FAN_UNLIMITED_QUEUE | FAN_UNLIMITED_MARKS,
                MirrorFs.O_RDONLY | O_CLOEXEC | (NativeWord.LP64 ? 0 : O_LARGEFILE_32));
        if (fan < 0) {
            LOG.info("no open gate (every open of a kernel-rooted run stops): fanotify_init: {}", Errno.describe(Native.getLastError()));
            return null;
        }
        int[] wake = new int[2];
        if (Fan.pipe2(wake, O_CLOEXEC) != 0) {
            LOG.info("no open gate: pipe2: {}", Errno.describe(Native.getLastError()));
            MirrorFs.close(fan);
            return null;
        }
        FirstOpens gate = new FirstOpens(fan, wake);
        gate.reader.start();
        return gate;
    }

    /**
     * Puts the run of {@code rootPid} (chrooted into {@code rootHostPath}, with {@code bindsSeenAt}'s mountpoints,
     * host paths below the root, mapped to their sources) behind the gate, its opens decided by {@code keeper}; or
     * returns null, logged, when a mount cannot be marked (then its opens all stop, as before).
     */
    public OpenGate admit(int rootPid, String rootHostPath, Map<String, String> bindsSeenAt, Keeper keeper) {
        if (closed) return null;
        Run run = new Run(rootPid, keeper);
        String proc = "/proc/" + rootPid + "/root";
        Map<String, String> seen = new LinkedHashMap<>();
        seen.put(rootHostPath, rootHostPath);
        bindsSeenAt.forEach((at, source) -> {
            if (at.startsWith(rootHostPath)) seen.put(at, source); // below the root, or the tracees cannot see it
        });
        for (Map.Entry<String, String> e : seen.entrySet()) {
            String procPath = proc + (e.getKey().equals(rootHostPath) ? "" : e.getKey().substring(rootHostPath.equals("/") ? 0 : rootHostPath.length()));
            int fd = -1;
            try {
                // Held open until the run ends: the mark is removed from exactly this mount, never one a reused pid shows.
                fd = MirrorFs.open(procPath, MirrorFs.O_RDONLY | MirrorFs.O_DIRECTORY | MirrorFs.O_CLOEXEC, 0);
                long id = MirrorFs.fstatMount(fd)[2];
                if (id < 0 || mounts.containsKey(id)) throw new ErrnoException(Errno.EEXIST, "open gate", procPath + ": mount id " + id);
                if (!markMount(FAN_MARK_ADD, fd)) throw new ErrnoException(Native.getLastError(), "fanotify_mark", procPath);
                mounts.put(id, new Seen(run, e.getKey(), e.getValue()));
                run.fds.add(fd);
                run.ids.add(id);
            } catch (ErrnoException ex) {
                MirrorFs.close(fd);
                LOG.info("no open gate for pid {} (its opens stop): {}", rootPid, ex.getMessage());
                run.close();
                return null;
            }
        }
        LOG.debug("open gate up for pid {}: {} mounts", rootPid, run.ids.size());
        return run;
    }

    /** One run behind the gate. */
    private final class Run implements OpenGate {
        final int rootPid;
        final Keeper keeper;
        /** A directory fd of each marked mount (the mount stays while we hold it), and its id. */
        final List<Integer> fds = new ArrayList<>();
        final List<Long> ids = new ArrayList<>();
        final LongAdder events = new LongAdder(), denied = new LongAdder();

        Run(int rootPid, Keeper keeper) {
            this.rootPid = rootPid;
            this.keeper = keeper;
        }

        /** Once the run's last tracee is gone. */
        @Override
        public void close() {
            for (Long id : ids) mounts.remove(id);
            for (int fd : fds) {
                markMount(FAN_MARK_REMOVE, fd);
                MirrorFs.close(fd);
            }
            LOG.debug("open gate of pid {} down: {} first opens held, {} denied", rootPid, events.sum(), denied.sum());
        }
    }

    private boolean markMount(int how, int dirFd) {
        fanLock.readLock().lock();
        try {
            return !fanClosed && Fan.fanotify_mark(fan, how | FAN_MARK_MOUNT, HELD, dirFd, null) == 0;
        } finally {
            fanLock.readLock().unlock();
        }
    }

    private void read() {
        byte[] buf = new byte[64 * METADATA_LEN];
        // struct pollfd[2]: int fd; short events; short revents.
        ByteBuffer fds = ByteBuffer.allocate(16).order(ByteOrder.nativeOrder());
        fds.putInt(0, fan).putShort(4, POLLIN).putInt(8, wake[0]).putShort(12, POLLIN);
        byte[] pollfds = fds.array();
        while (!closed) {
            pollfds[6] = pollfds[7] = pollfds[14] = pollfds[15] = 0;
            if (Fan.poll(pollfds, new com.sun.jna.NativeLong(2), -1) < 0) {
                int e = Native.getLastError();
                if (e == Errno.EINTR) continue;
                if (e == Errno.EBADF) return;
                LOG.error("open gate: poll: {}", Errno.describe(e));
                pause();
                continue;
            }
            if (closed) return;
            long n;
            try {
                n = MirrorFs.read(fan, buf);
            } catch (ErrnoException e) {
                if (e.errno() == Errno.EINTR || e.errno() == Errno.EAGAIN) continue;
                if (closed || e.errno() == Errno.EBADF) return;
                // EMFILE, ENFILE, ENOMEM: the kernel could not give us the event's fd and denied that open itself.
                LOG.error("open gate: read: {}", e.getMessage());
                pause();
                continue;
            }
            ByteBuffer b = ByteBuffer.wrap(buf, 0, (int) n).order(ByteOrder.nativeOrder());
            for (int at = 0; at + METADATA_LEN <= n; ) {
                int len = b.getInt(at);
                if (len < METADATA_LEN || (b.get(at + 4) & 0xff) != METADATA_VERSION) {
                    // Unreadable, so unanswerable: the opens it held wait until the daemon's end allows them.
                    LOG.error("open gate: an event of fanotify version {}, length {}: not ours", b.get(at + 4) & 0xff, len);
                    break;
                }
                long mask = b.getLong(at + 8);
                int fd = b.getInt(at + 16), pid = b.getInt(at + 20);
                at += len;
                if (fd < 0 || (mask & HELD) == 0) continue;
                try {
                    held(fd, pid, (mask & FAN_OPEN_EXEC_PERM) != 0);
                } catch (RuntimeException e) {
                    LOG.error("open gate: an open of pid {}", pid, e);
                    answer(fd, null, Errno.EIO);
                }
            }
        }
    }

    private static void pause() {
        try {
            Thread.sleep(10);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** One held open: answered at once when its file's contents are here (a thread hop costs two wake-ups), else from a thread that may wait. */
    private void held(int fd, int pid, boolean exec) {
        long[] st;
        try {
            st = MirrorFs.fstatMount(fd);
        } catch (ErrnoException e) {
            answer(fd, null, Errno.EIO);
            return;
        }
        Seen seen = st[2] < 0 ? null : mounts.get(st[2]);
        // Our own reads through a run's mounts, a run that just closed, what is no regular file: no placeholder of ours.
        if (pid == self || seen == null || ((int) st[0] & S_IFMT) != S_IFREG) {
            answer(fd, null, 0);
            return;
        }
        seen.run.events.increment();
        int now = decide(fd, seen, st[1], exec, false);
        if (now == WAIT) answering.execute(() -> answer(fd, seen.run, decide(fd, seen, st[1], exec, true)));
        else answer(fd, seen.run, now);
    }

    private int decide(int fd, Seen seen, long ino, boolean exec, boolean mayWait) {
        try {
            String name = MirrorFs.readlink("/proc/self/fd/" + fd);
            if (name.endsWith(" (deleted)")) name = name.substring(0, name.length() - " (deleted)".length());
            String hostPath = name.startsWith(seen.seenAt) ? seen.hostPath + name.substring(seen.seenAt.length()) : name;
            return seen.run.keeper.firstOpen(hostPath, ino, exec, mayWait);
        } catch (ErrnoException e) {
            return e.errno();
        } catch (RuntimeException e) {
            LOG.warn("open gate of pid {}", seen.run.rootPid, e);
            return Errno.EIO;
        }
    }

    /** Answers one held open with {@code errno}'s verdict (the tracee goes on) and closes the event's fd. */
    private void answer(int fd, Run run, int errno) {
        try {
            if (errno == 0 || errno == ALLOW_UNMARKED) {
                // Its contents are here: its next opens need no answer, until a write or a replacement.
                if (run != null && errno == 0) ignoreFrom(fd);
                respond(fd, FAN_ALLOW);
            } else {
                if (run != null && run.denied.sum() == 0) {
                    LOG.warn("open gate of pid {}: an open denied ({}); the program gets an error", run.rootPid, Errno.describe(errno));
                }
                if (run != null) run.denied.increment(); // before the answer: the run may end right after it
                deny(fd, errno);
            }
        } finally {
            MirrorFs.close(fd);
        }
    }

    private void ignoreFrom(int fd) {
        fanLock.readLock().lock();
        try {
            if (fanClosed) return;
            if (ignored.incrementAndGet() > MAX_IGNORED) {
                // Pinned inodes: start over (inode marks only; the runs' mount marks stay).
                Fan.fanotify_mark(fan, FAN_MARK_FLUSH, 0, AT_FDCWD, null);
                ignored.set(1);
                LOG.debug("open gate: {} ignore marks dropped", MAX_IGNORED);
            }
            if (Fan.fanotify_mark(fan, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK, HELD, fd, null) != 0) {
                LOG.debug("open gate: ignore mark: {}", Errno.describe(Native.getLastError()));
            }
        } finally {
            fanLock.readLock().unlock();
        }
    }

    private void deny(int fd, int errno) {
        // The kernel takes only a few errnos from us: EIO says what any failure of ours means to a reader.
        int e = errno == Errno.ENOSPC ? Errno.ENOSPC : Errno.EIO;
        if (denyWithErrno) {
            int failed = respondOrErrno(fd, FAN_DENY | e << FAN_ERRNO_SHIFT);
            if (failed != Errno.EINVAL) return;
            denyWithErrno = false; // before 6.14
            LOG.debug("open gate: this kernel denies with EPERM only");
        }
        respond(fd, FAN_DENY);
    }

    private void respond(int fd, int response) {
        int errno = respondOrErrno(fd, response);
        if (errno != 0 && !closed) LOG.warn("open gate: answering fd {}: {}", fd, Errno.describe(errno));
    }

    private int respondOrErrno(int fd, int response) {
        byte[] r = ByteBuffer.allocate(8).order(ByteOrder.nativeOrder()).putInt(fd).putInt(response).array();
        fanLock.readLock().lock();
        try {
            if (fanClosed) return 0; // closing the group allowed it
            MirrorFs.write(fan, r);
            return 0;
        } catch (ErrnoException e) {
            return e.errno();
        } finally {
            fanLock.readLock().unlock();
        }
    }

    /** With the cache: events still queued are the kernel's to allow as it closes the group. */
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
            answering.awaitTermination(1, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        fanLock.writeLock().lock();
        try {
            fanClosed = true;
            MirrorFs.close(fan);
        } finally {
            fanLock.writeLock().unlock();
        }
        MirrorFs.close(wake[0]);
        MirrorFs.close(wake[1]);
    }

    /** The opens of a run held so far, and those denied ({@code gate} as {@link #admit} gave it). */
    public static long[] counts(OpenGate gate) {
        Run r = (Run) gate;
        return new long[] {r.events.sum(), r.denied.sum()};
    }

    private static final class Fan {
        static {
            Native.register(Fan.class, Platform.C_LIBRARY_NAME);
        }

        static native int fanotify_init(int flags, int eventFlags);
        static native int fanotify_mark(int fd, int flags, long mask, int dirfd, byte[] path);
        static native int pipe2(int[] fds, int flags);
        static native int poll(byte[] fds, com.sun.jna.NativeLong nfds, int timeoutMs);
    }
}
