package io.tether.client.frontdoor;

import io.tether.client.control.ControlPaths;
import io.tether.posix.ErrnoException;
import io.tether.posix.LibC;
import io.tether.posix.UnixRights;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The front door: a resident per-user JVM that runs {@code tether run} sessions for the C front
 * end ({@code tether-fe}), so a warm run costs no JVM start. It listens on a Unix socket in the
 * control directory; each front end passes its argv, environment, directory, umask and
 * descriptors (SCM_RIGHTS) and relays its signals; the door runs the session exactly as the JVM
 * client would (through the target's control agent, or for target {@code local} in a daemon
 * hosted here) on those descriptors and sends back the exit status. One {@link DoorSession} per front end. It exits after {@code idle} without
 * sessions, or when its socket file is removed.
 */
public final class FrontDoor {
    private static final Logger log = LoggerFactory.getLogger(FrontDoor.class);

    private final ControlPaths paths;
    private final Duration idle;
    private final AtomicInteger active = new AtomicInteger();
    private final AtomicInteger served = new AtomicInteger();
    private final WarmConnections connections = new WarmConnections();
    private final WarmWatches watches = new WarmWatches();
    private volatile long idleSinceNanos = System.nanoTime();
    private int listenFd = -1;
    private int devNull = -1;

    private final Path jar;
    /** Ours, refreshed every tick: reading it costs ~1 ms of /proc, too much for each session. */
    private volatile String identity = FrontDoorPaths.identity();

    public FrontDoor(ControlPaths paths, Duration idle) {
        this(paths, idle, null);
    }

    /**
     * {@code jar}: the client jar this door was started from; once it or our own modules' jars beside
     * it are rebuilt, the door leaves when idle (its key, {@link FrontDoorPaths#key}, no longer matches).
     */
    public FrontDoor(ControlPaths paths, Duration idle, Path jar) {
        this.paths = paths;
        this.idle = idle;
        this.jar = jar;
    }

    /** Binds the socket (the caller holds the door's lock, so a leftover file is stale). */
    public void start() throws IOException, ErrnoException {
        if (!UnixRights.supported()) throw new IOException("descriptor passing (SCM_RIGHTS) needs 64-bit Linux");
        devNull = LibC.open("/dev/null", LibC.O_RDWR | LibC.O_CLOEXEC, 0);
        Files.deleteIfExists(paths.socket());
        listenFd = UnixRights.listen(paths.socket().toString(), 64);
        Thread accept = new Thread(this::acceptLoop, "frontdoor-accept");
        accept.setDaemon(true);
        accept.start();
        log.info("front door {} listening on {} (idle exit after {} s)", ProcessHandle.current().pid(), paths.socket(),
                idle.toSeconds());
    }

    /** Serves until idle (or the socket is removed); returns then. */
    public void awaitIdle() throws InterruptedException {
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "frontdoor-idle");
            t.setDaemon(true);
            return t;
        });
        Object done = new Object();
        long tick = Math.max(100, Math.min(1000, idle.toMillis() / 4));
        timer.scheduleWithFixedDelay(() -> {
            boolean end;
            identity = FrontDoorPaths.identity();
            if (!Files.exists(paths.socket())) {
                log.warn("socket {} is gone: exiting", paths.socket());
                end = true;
            } else if (jar != null && active.get() == 0 && !paths.key().equals(FrontDoorPaths.key(FrontDoorPaths.home(jar), identity))) {
                // Front ends of the new build (or in our new cgroup...) look for another socket: we would only idle.
                log.info("{} was rebuilt (or this door's identity changed): exiting", jar);
                end = true;
            } else {
                end = active.get() == 0 && System.nanoTime() - idleSinceNanos >= idle.toNanos();
                if (end) log.info("no session for {} s after {} served: exiting", idle.toSeconds(), served.get());
            }
            if (end) {
                synchronized (done) {
                    done.notifyAll();
                }
            }
        }, tick, tick, TimeUnit.MILLISECONDS);
        synchronized (done) {
            done.wait();
        }
        timer.shutdownNow();
        connections.closeAll();
        watches.closeAll();
        try {
            Files.deleteIfExists(paths.socket());
        } catch (IOException e) {
            log.debug("removing {}: {}", paths.socket(), e.getMessage());
        }
    }

    /** Stops accepting (sessions under way go on) and removes the socket. */
    public void close() {
        connections.closeAll();
        watches.closeAll();
        try {
            LibC.shutdown(listenFd, LibC.SHUT_RDWR); // wakes the accept thread
        } catch (ErrnoException e) {
            log.debug("shutdown: {}", e.getMessage());
        }
        try {
            Files.deleteIfExists(paths.socket());
        } catch (IOException e) {
            log.debug("removing {}: {}", paths.socket(), e.getMessage());
        }
    }

    private void acceptLoop() {
        int uid = LibC.getuid();
        AtomicInteger n = new AtomicInteger();
        while (true) {
            int fd;
            try {
                fd = UnixRights.accept(listenFd);
            } catch (ErrnoException e) {
                log.info("no longer accepting on {}: {}", paths.socket(), e.getMessage());
                UnixRights.close(listenFd);
                return;
            }
            try {
                int peer = UnixRights.peer(fd).uid();
                if (peer != uid) {
                    log.warn("refused a front end of uid {}", peer);
                    UnixRights.close(fd);
                    continue;
                }
            } catch (ErrnoException e) {
                UnixRights.close(fd);
                continue;
            }
            active.incrementAndGet();
            DoorSession s = new DoorSession(fd, devNull, connections, watches, identity);
            Thread t = new Thread(null, () -> {
                try {
                    s.run();
                } finally {
                    served.incrementAndGet();
                    idleSinceNanos = System.nanoTime();
                    active.decrementAndGet();
                }
            }, "frontdoor-session-" + n.incrementAndGet(), 512 * 1024);
            t.setDaemon(true);
            t.start();
        }
    }
}
