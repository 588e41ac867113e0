package io.tether.client.frontdoor;

import io.tether.client.Connector;
import io.tether.client.TetherException;
import io.tether.client.connect.Connection;
import io.tether.client.connect.LocalConnection;
import io.tether.client.control.AgentProcess;
import io.tether.client.control.ControlClient;
import io.tether.client.control.ControlPaths;
import io.tether.client.targets.Target;
import io.tether.daemon.session.DaemonCore;
import io.tether.daemon.session.DaemonOptions;

import java.nio.file.Files;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;

/**
 * Connections to control agents, reused between sessions. A session has a connection to itself
 * while it runs (as a JVM client would), and gives it back when it ended cleanly: every stream
 * it opened is closed by then, so the next session starts on a quiet mux and skips the connect,
 * the mux hello and four thread starts in door and agent. A session that was abandoned (its
 * front end gone) or whose connection failed closes it instead. An idle connection whose agent
 * went away is dropped, and a fresh one made, starting the agent as {@code tether run} does.
 *
 * <p>A connection serves at most {@link #MAX_USES} sessions (the agent keeps a little
 * bookkeeping per stream for the life of a connection). Idle connections count as connected
 * front ends, so an agent outlives its idle time while the door runs; the door's own idle exit
 * releases them.
 *
 * <p>Target {@code local} has no agent: the door hosts the daemon itself ({@link DaemonCore},
 * made on first use, shared by every local session and closed with the door), and its
 * connections are in-memory pipes to it ({@link LocalConnection#attach}), kept in the same way.
 * Traced sessions then run their tracer threads in this JVM, as the JVM client's would in its own.
 */
final class WarmConnections {
    static final int MAX_USES = 1000;
    private static final int MAX_IDLE_PER_AGENT = 4;
    private static final String LOCAL = "local";

    /** A connection and how many sessions it has carried. */
    static final class Lease {
        final Connection connection;
        int uses;

        Lease(Connection connection) {
            this.connection = connection;
        }
    }

    private final Map<String, Deque<Lease>> idle = new HashMap<>();
    private final DaemonOptions localOptions;
    private DaemonCore localDaemon;
    private boolean closed;

    WarmConnections() {
        this(DaemonOptions.defaults());
    }

    /** {@code localOptions}: the settings of the daemon that serves target {@code local}. */
    WarmConnections(DaemonOptions localOptions) {
        this.localOptions = localOptions;
    }

    /** A ready connection to {@code target}'s agent: an idle one if there is one, else a new one. */
    Lease take(Target target, ControlPaths paths) throws TetherException {
        Lease l = idleLease(paths.socket().toString(), () -> Files.exists(paths.socket()));
        if (l != null) return l;
        l = new Lease(ControlClient.connectOrStart(target, paths, new AgentProcess("info"), Connector.clientConfig()));
        l.uses = 1;
        return l;
    }

    /** A ready connection to the door's own daemon (target {@code local}): an idle one if there is one, else a new one. */
    Lease takeLocal() throws TetherException {
        Lease l = idleLease(LOCAL, () -> true);
        if (l != null) return l;
        l = new Lease(LocalConnection.attach(localDaemon(), Connector.clientConfig()));
        l.uses = 1;
        return l;
    }

    private synchronized DaemonCore localDaemon() throws TetherException {
        if (closed) throw new TetherException("the front door is closing");
        if (localDaemon == null) localDaemon = LocalConnection.startDaemon(localOptions);
        return localDaemon;
    }

    private Lease idleLease(String key, BooleanSupplier peerAlive) {
        while (true) {
            Lease l;
            synchronized (idle) {
                Deque<Lease> q = idle.get(key);
                l = q == null ? null : q.pollFirst();
            }
            if (l == null) return null;
            // An agent that is ending removes its socket before it cuts its front ends off.
            if (l.connection.mux().isOpen() && peerAlive.getAsBoolean()) {
                l.uses++;
                return l;
            }
            l.connection.close();
        }
    }

    /**
     * The session on {@code l} is over: keep its connection for the next one if {@code clean}, else
     * close it. {@code paths}: its agent's, or null for a connection to the door's own daemon.
     */
    void release(ControlPaths paths, Lease l, boolean clean) {
        if (clean && l.uses < MAX_USES && l.connection.mux().isOpen()) {
            synchronized (idle) {
                Deque<Lease> q = idle.computeIfAbsent(paths == null ? LOCAL : paths.socket().toString(), k -> new ArrayDeque<>());
                if (q.size() < MAX_IDLE_PER_AGENT) {
                    q.addFirst(l);
                    return;
                }
            }
        }
        l.connection.close();
    }

    /** Closes the idle connections and the door's own daemon (which ends the local sessions still running). */
    void closeAll() {
        List<Lease> all = new ArrayList<>();
        synchronized (idle) {
            idle.values().forEach(all::addAll);
            idle.clear();
        }
        all.forEach(l -> l.connection.close());
        DaemonCore d;
        synchronized (this) {
            closed = true;
            d = localDaemon;
            localDaemon = null;
        }
        if (d != null) d.close();
    }

}
