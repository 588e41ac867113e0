package io.tether.daemon.session;

import io.tether.daemon.files.RemoteHostFiles;
import io.tether.daemon.mirror.MirrorCache;
import io.tether.daemon.process.Spawner;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.protocol.mux.Mux;
import io.tether.protocol.transport.Transport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The daemon's session service, independent of how bytes arrive: {@link #serve} runs the
 * protocol as the SERVER side of a mux over any {@link Transport} (an SSH subsystem
 * channel, stdin/stdout, an in-memory pipe for the in-process {@code local} target).
 * Each connection's processes die with it.
 */
public final class DaemonCore implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(DaemonCore.class);

    private final DaemonOptions options;
    private final Spawner spawner;
    private final ScheduledExecutorService timer;
    private final Set<Mux> muxes = ConcurrentHashMap.newKeySet();
    private final Set<Connection> connections = ConcurrentHashMap.newKeySet();
    private final HostFilesConnector hostFiles;
    private MirrorCache mirrorCache; // opened by the first "No NFS" run, then shared by all
    private volatile boolean closed;

    /** @throws UncheckedIOException if the run directory cannot be prepared */
    public DaemonCore(DaemonOptions options) {
        this(options, RemoteHostFiles::open);
    }

    /**
     * As {@link #DaemonCore(DaemonOptions)}, with the host file server of "No NFS" runs reached through
     * {@code hostFiles} (tests: an in-process server).
     */
    public DaemonCore(DaemonOptions options, HostFilesConnector hostFiles) {
        this.options = options;
        this.hostFiles = hostFiles;
        try {
            this.spawner = new Spawner(options.runDir(), options.execHook(), options.reaper());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot prepare run directory " + options.runDir() + ": " + e.getMessage(), e);
        }
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "tetherd-timer");
            t.setDaemon(true);
            return t;
        });
    }

    public DaemonOptions options() { return options; }

    Spawner spawner() { return spawner; }

    ScheduledExecutorService timer() { return timer; }

    HostFilesConnector hostFiles() { return hostFiles; }

    /**
     * The daemon-wide mirror cache ({@code --cache-dir}, {@code --cache-size}), opened on first use so
     * a daemon that never serves a "No NFS" run never touches it.
     *
     * @throws ErrnoException naming the directory, if it cannot be created or used
     */
    synchronized MirrorCache mirrorCache() throws ErrnoException {
        if (closed) throw new ErrnoException(Errno.EIO, "mirror cache", "daemon closing");
        if (mirrorCache == null) mirrorCache = MirrorCache.open(options.mirrorCacheDir(), options.cacheSize());
        return mirrorCache;
    }

    /**
     * Serves one client over {@code transport} and returns its mux at once (the hello is
     * exchanged in the background). When the mux terminates, for any reason, every session
     * of that connection is killed.
     */
    public Mux serve(Transport transport) {
        if (closed) throw new IllegalStateException("daemon closed");
        Connection conn = new Connection(this, transport.describe());
        Mux mux = Mux.start(transport, Mux.Role.SERVER, options.mux(), conn::accept);
        muxes.add(mux);
        connections.add(conn);
        mux.terminated().whenComplete((v, e) -> {
            muxes.remove(mux);
            connections.remove(conn);
            conn.ended(mux, e);
        });
        log.debug("serving {}", transport.describe());
        return mux;
    }

    /** Sessions currently running, over all connections. */
    public int activeSessions() {
        return connections.stream().mapToInt(Connection::sessionCount).sum();
    }

    /** Closes every connection (killing their processes) and the launcher. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Mux m : muxes) m.close();
        // Pending SIGKILLs still run after shutdown(); wait for them so no process outlives us.
        timer.shutdown();
        try {
            timer.awaitTermination(options.killGrace().toMillis() + 1000, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        spawner.close();
        MirrorCache cache;
        synchronized (this) {
            cache = mirrorCache;
        }
        if (cache != null) cache.close();
    }
}
