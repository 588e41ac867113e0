package io.tether.daemon.process;

import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.posix.LibC;
import io.tether.posix.SpawnAttributes;
import io.tether.posix.SpawnFileActions;
import io.tether.protocol.transport.ReusedThreads;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Launches children the one way that is safe from a JVM and leaves room for a tracer
 * (NOTES.md, "Starting a traced child from a JVM"): glibc posix_spawn, whose clone runs in
 * native code, never ProcessBuilder and never a JNA fork.
 *
 * <p>The first file action makes the child open a FIFO "gate" for reading, which blocks it
 * before it touches anything else and before execve. While the spawning thread sits in
 * posix_spawn (vfork semantics), the gate thread finds the child's pid in
 * {@code /proc/self/task/<spawning tid>/children}, runs {@link ExecHook#beforeExec} (the
 * tracer PTRACE_SEIZEs there, so its first stop is the exec event), then opens the FIFO for
 * writing, which lets the child go on: close the gate, chdir, set up its fds, execve.
 * posix_spawn returns the exec errno (ENOENT, EACCES, ENOEXEC) if that fails.
 *
 * <p>Every child gets its own session and process group, an empty signal mask, default
 * dispositions for all signals, the spec's umask (process-wide, so set under {@link #UMASK_LOCK}
 * around the spawn), and exactly the fds the spec names.
 *
 * <p>Gate FIFOs live in {@code runDir/<daemon pid>-<n>/}; directories of dead daemons are
 * removed at start-up.
 */
public final class Spawner implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Spawner.class);
    private static final AtomicInteger INSTANCES = new AtomicInteger();
    /** Held while the process umask is not the daemon's own. Anyone changing umask takes it. */
    public static final Object UMASK_LOCK = new Object();

    /**
     * Runs on the gate thread while the new child is blocked in open() of its gate, before
     * any of its file actions and before execve: the tracer's PTRACE_SEIZE goes here (posted
     * to the tracer's own thread), so the first stop it sees is the exec event. Must return
     * in bounded time: the spawn (and every spawn queued behind it) waits for it.
     */
    @FunctionalInterface
    public interface ExecHook {
        ExecHook NONE = pid -> { };

        /** Throwing kills the child (SIGKILL) and fails the spawn with an IOException caused by it. */
        void beforeExec(int pid) throws Exception;
    }

    private final Path gateDir;
    private final ExecHook hook;
    private final Reaper reaper;
    private final BlockingQueue<Job> jobs = new LinkedBlockingQueue<>();
    private final BlockingQueue<Release> releases = new LinkedBlockingQueue<>();
    /** Put on the queues by {@link #close}: the loops end (their threads are reused, never interrupted). */
    private static final Job STOP_JOB = new Job(null);
    private static final Release STOP_RELEASE = new Release(null, 0, Set.of());
    private final CompletableFuture<Integer> spawnTid = new CompletableFuture<>();
    private final AtomicBoolean closed = new AtomicBoolean();
    private int gateSeq;

    public Spawner(Path runDir) throws IOException {
        this(runDir, ExecHook.NONE, new ThreadReaper());
    }

    public Spawner(Path runDir, ExecHook hook, Reaper reaper) throws IOException {
        this.hook = hook;
        this.reaper = reaper;
        privateDirectory(runDir);
        cleanStale(runDir);
        this.gateDir = runDir.resolve(LibC.getpid() + "-" + INSTANCES.incrementAndGet());
        deleteTree(gateDir);
        Files.createDirectories(gateDir);
        // Threads kept between spawners: a guest session makes one spawner, and two thread starts were a
        // millisecond of a short run's start.
        ReusedThreads.start("tether-spawn", this::spawnLoop);
        ReusedThreads.start("tether-spawn-gate", this::gateLoop);
    }

    /** Where this spawner's gate FIFOs are made. */
    public Path gateDir() { return gateDir; }

    /**
     * Launches {@code spec}; returns once the child has passed execve. The fds named by the
     * spec must stay open until this returns; the caller still owns them afterwards.
     */
    public ChildProcess spawn(SpawnSpec spec) throws ErrnoException, IOException {
        if (closed.get()) throw new IOException("spawner closed");
        Job job = new Job(spec);
        jobs.add(job);
        try {
            int pid = job.result.get();
            return new ChildProcess(pid, reaper.watch(pid));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while spawning " + spec.program());
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof ErrnoException ee) throw ee;
            if (c instanceof IOException io) throw io;
            throw new IOException("spawn of " + spec.program() + " failed: " + c, c);
        }
    }

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) return;
        jobs.add(STOP_JOB);
        releases.add(STOP_RELEASE);
        deleteTree(gateDir);
    }

    // ---- the spawning thread ----

    private void spawnLoop() {
        try {
            spawnTid.complete(LibC.gettid());
        } catch (ErrnoException e) {
            spawnTid.completeExceptionally(e);
        }
        while (!closed.get()) {
            Job job;
            try {
                job = jobs.take();
            } catch (InterruptedException e) {
                break;
            }
            if (job == STOP_JOB) break;
            try {
                job.result.complete(spawnNow(job.spec));
            } catch (Throwable t) {
                job.result.completeExceptionally(t);
            }
        }
        for (Job j; (j = jobs.poll()) != null; ) {
            if (j != STOP_JOB) j.result.completeExceptionally(new IOException("spawner closed"));
        }
    }

    private int spawnNow(SpawnSpec spec) throws Exception {
        int tid = spawnTid.get();
        Path gate = gateDir.resolve("gate-" + (++gateSeq));
        LibC.mkfifo(gate.toString(), 0600);
        // A placeholder fd reserves a number no fd the child needs can have: the gate opens there.
        int placeholder = LibC.open("/dev/null", LibC.O_RDONLY | LibC.O_CLOEXEC, 0);
        Release release = new Release(gate.toString(), tid, childrenOf(tid));
        try (SpawnFileActions actions = fileActions(spec, gate.toString(), placeholder);
             SpawnAttributes attr = new SpawnAttributes()) {
            attr.flags((short) (LibC.POSIX_SPAWN_SETSID | LibC.POSIX_SPAWN_SETSIGMASK | LibC.POSIX_SPAWN_SETSIGDEF))
                    .emptySignalMask().defaultAllSignals();
            int pid;
            releases.add(release);
            try {
                synchronized (UMASK_LOCK) {
                    int old = LibC.umask(spec.umask());
                    try {
                        pid = LibC.posixSpawn(spec.program(), actions, attr, spec.argv(), spec.env());
                    } finally {
                        LibC.umask(old);
                    }
                }
            } finally {
                release.spawnReturned.set(true);
            }
            Integer seen = release.done.get(10, TimeUnit.SECONDS);
            if (release.hookFailure != null) {
                reaper.watch(pid); // the killed child must still be reaped
                throw release.hookFailure;
            }
            if (seen != null && seen != pid) log.warn("gate released pid {} but posix_spawn returned {}", seen, pid);
            log.debug("spawned {} as pid {}", spec.argv(), pid);
            return pid;
        } finally {
            // Wait for the gate thread before reusing anything it looks at.
            try {
                release.done.get(10, TimeUnit.SECONDS);
            } catch (Exception ignored) {
                // reported above
            }
            LibC.closeQuietly(placeholder);
            Files.deleteIfExists(gate);
        }
    }

    /**
     * Order matters: gate first (nothing else happens before the tracer is attached), then
     * cwd, then fds through temporaries above every number in play (so no mapping clobbers
     * another's source), then everything else closed.
     */
    private static SpawnFileActions fileActions(SpawnSpec spec, String gate, int placeholder) throws ErrnoException {
        Map<Integer, Integer> map = new TreeMap<>(spec.fds());
        SpawnFileActions a = new SpawnFileActions();
        try {
            a.open(placeholder, gate, LibC.O_RDONLY, 0).close(placeholder);
            if (spec.cwd() != null) a.chdir(spec.cwd());
            int top = placeholder;
            for (var e : map.entrySet()) top = Math.max(top, Math.max(e.getKey(), e.getValue()));
            int tmp = top + 1;
            int maxTarget = 2;
            for (int t : map.keySet()) maxTarget = Math.max(maxTarget, t);
            Integer slaveTmp = null;
            if (spec.pty() != null) {
                // Opened without O_NOCTTY by a session leader: becomes the controlling terminal.
                slaveTmp = tmp++;
                a.open(slaveTmp, spec.pty().slavePath(), LibC.O_RDWR, 0);
            }
            Map<Integer, Integer> staged = new TreeMap<>();
            for (var e : map.entrySet()) {
                int t = tmp++;
                a.dup2(e.getValue(), t);
                staged.put(e.getKey(), t);
            }
            for (int fd = 0; fd <= 2; fd++) {
                if (!staged.containsKey(fd) && slaveTmp != null) staged.put(fd, slaveTmp);
            }
            for (var e : staged.entrySet()) a.dup2(e.getValue(), e.getKey());
            for (int fd = 0; fd <= 2; fd++) {
                if (!staged.containsKey(fd)) a.open(fd, "/dev/null", LibC.O_RDWR, 0);
            }
            for (int fd = 3; fd <= maxTarget; fd++) {
                if (!staged.containsKey(fd)) a.close(fd);
            }
            a.closeFrom(maxTarget + 1);
            return a;
        } catch (ErrnoException e) {
            a.close();
            throw e;
        }
    }

    // ---- the gate thread ----

    private void gateLoop() {
        while (!closed.get()) {
            Release r;
            try {
                r = releases.take();
            } catch (InterruptedException e) {
                break;
            }
            if (r == STOP_RELEASE) break;
            try {
                r.done.complete(release(r));
            } catch (Throwable t) {
                r.done.complete(null);
                log.warn("gate release failed: {}", t.toString());
            }
        }
    }

    /** Finds the child, runs the hook, opens the gate. Null if posix_spawn ended first. */
    private Integer release(Release r) throws IOException {
        int pid = -1;
        long spins = 0;
        while (pid < 0) {
            if (r.spawnReturned.get()) return null; // failed before the gate: nothing to release
            for (int c : childrenOf(r.tid)) {
                if (!r.before.contains(c)) {
                    pid = c;
                    break;
                }
            }
            if (pid < 0) pause(++spins);
        }
        try {
            hook.beforeExec(pid);
        } catch (Exception e) {
            r.hookFailure = e;
            try {
                LibC.kill(pid, 9);
            } catch (ErrnoException ignored) {
                // already gone
            }
        }
        // Non-blocking: succeeds as soon as the child is inside its open of the gate.
        spins = 0;
        while (true) {
            try {
                int fd = LibC.open(r.gate, LibC.O_WRONLY | LibC.O_NONBLOCK | LibC.O_CLOEXEC, 0);
                LibC.closeQuietly(fd);
                return pid;
            } catch (ErrnoException e) {
                if (e.errno() != Errno.ENXIO) throw e;
                if (r.spawnReturned.get()) return pid; // child died at the gate (killed)
                pause(++spins);
            }
        }
    }

    private static void pause(long spins) {
        if (spins < 50) Thread.onSpinWait();
        else if (spins < 200) Thread.yield();
        else LockSupport.parkNanos(spins < 2000 ? 20_000 : 1_000_000);
    }

    /** Children of one thread of this process; falls back to a /proc scan without CONFIG_PROC_CHILDREN. */
    static Set<Integer> childrenOf(int tid) throws IOException {
        Set<Integer> pids = new HashSet<>();
        try {
            String s = Files.readString(Path.of("/proc/self/task/" + tid + "/children"));
            for (String p : s.trim().split("\\s+")) {
                if (!p.isEmpty()) pids.add(Integer.parseInt(p));
            }
            return pids;
        } catch (NoSuchFileException e) {
            return childrenByScan();
        }
    }

    private static Set<Integer> childrenByScan() throws IOException {
        Set<Integer> pids = new HashSet<>();
        int self = LibC.getpid();
        try (DirectoryStream<Path> proc = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
            for (Path p : proc) {
                try {
                    String stat = Files.readString(p.resolve("stat"));
                    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    if (Integer.parseInt(f[1]) == self) pids.add(Integer.parseInt(p.getFileName().toString()));
                } catch (IOException | RuntimeException ignored) {
                    // raced with an exit
                }
            }
        }
        return pids;
    }

    // ---- run directory ----

    /**
     * Whoever can open a gate FIFO for writing releases a child before the tracer has seized it,
     * so the gate directory must be ours alone: create it 0700, or refuse one that is a symlink,
     * belongs to another user, or is open to others (a shared /tmp is the usual trap).
     */
    static void privateDirectory(Path dir) throws IOException {
        dir = dir.toAbsolutePath();
        Path parent = dir.getParent();
        if (parent != null && !Files.exists(parent, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            privateDirectory(parent);
        }
        // A parent others may write without the sticky bit could swap our directory under us.
        if (parent != null) {
            int owner = (Integer) Files.getAttribute(parent, "unix:uid", java.nio.file.LinkOption.NOFOLLOW_LINKS);
            int mode = (Integer) Files.getAttribute(parent, "unix:mode");
            boolean sticky = (mode & 01000) != 0;
            if ((owner != 0 && owner != LibC.getuid()) || ((mode & 022) != 0 && !sticky)) {
                throw new IOException("refusing run directory " + dir + ": its parent is writable by others or owned by uid " + owner);
            }
        }
        if (!Files.exists(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            try {
                Files.createDirectory(dir, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                        java.nio.file.attribute.PosixFilePermissions.fromString("rwx------")));
            } catch (java.nio.file.FileAlreadyExistsException raced) {
                // checked below like any existing directory
            }
        }
        java.nio.file.attribute.PosixFileAttributes a = Files.readAttributes(dir,
                java.nio.file.attribute.PosixFileAttributes.class, java.nio.file.LinkOption.NOFOLLOW_LINKS);
        int uid = (Integer) Files.getAttribute(dir, "unix:uid", java.nio.file.LinkOption.NOFOLLOW_LINKS);
        if (!a.isDirectory() || uid != LibC.getuid()) {
            throw new IOException("refusing run directory " + dir + ": not a directory owned by uid " + LibC.getuid());
        }
        java.util.Set<java.nio.file.attribute.PosixFilePermission> perms = a.permissions();
        if (perms.contains(java.nio.file.attribute.PosixFilePermission.GROUP_WRITE)
                || perms.contains(java.nio.file.attribute.PosixFilePermission.OTHERS_WRITE)
                || perms.contains(java.nio.file.attribute.PosixFilePermission.OTHERS_EXECUTE)) {
            Files.setPosixFilePermissions(dir, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        }
    }

    private static void cleanStale(Path runDir) {
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(runDir)) {
            for (Path d : dirs) {
                String name = d.getFileName().toString();
                int dash = name.indexOf('-');
                String pid = dash < 0 ? name : name.substring(0, dash);
                if (!pid.matches("\\d+") || Files.exists(Path.of("/proc", pid))) continue;
                log.info("removing stale gate directory {}", d);
                deleteTree(d);
            }
        } catch (IOException e) {
            log.warn("cannot clean stale gates in {}: {}", runDir, e.getMessage());
        }
    }

    private static void deleteTree(Path dir) {
        if (!Files.exists(dir)) return;
        try (var walk = Files.walk(dir)) {
            var all = new ArrayList<>(walk.toList());
            java.util.Collections.reverse(all);
            for (Path p : all) Files.deleteIfExists(p);
        } catch (IOException e) {
            log.warn("cannot delete {}: {}", dir, e.getMessage());
        }
    }

    private record Job(SpawnSpec spec, CompletableFuture<Integer> result) {
        Job(SpawnSpec spec) {
            this(spec, new CompletableFuture<>());
        }
    }

    private static final class Release {
        final String gate;
        final int tid;
        final Set<Integer> before;
        final AtomicBoolean spawnReturned = new AtomicBoolean();
        final CompletableFuture<Integer> done = new CompletableFuture<>();
        volatile Exception hookFailure;

        Release(String gate, int tid, Set<Integer> before) {
            this.gate = gate;
            this.tid = tid;
            this.before = before;
        }
    }
}
