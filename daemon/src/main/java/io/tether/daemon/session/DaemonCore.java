package io.tether.daemon.session;

import io.tether.daemon.process.Spawner;
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
    private volatile boolean closed;

    /** @throws UncheckedIOException if the run directory cannot be prepared */
    public DaemonCore(DaemonOptions options) {
        this.options = options;
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
    }
}
