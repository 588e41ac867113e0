package io.tether.client.frontdoor;

import io.tether.client.Connector;
import io.tether.client.TetherException;
import io.tether.client.connect.Connection;
import io.tether.client.control.AgentProcess;
import io.tether.client.control.ControlClient;
import io.tether.client.control.ControlPaths;
import io.tether.client.targets.Target;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

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
 */
final class WarmConnections {
    static final int MAX_USES = 1000;
    private static final int MAX_IDLE_PER_AGENT = 4;

    /** A connection and how many sessions it has carried. */
    static final class Lease {
        final Connection connection;
        int uses;

        Lease(Connection connection) {
            this.connection = connection;
        }
    }

    private final Map<Path, Deque<Lease>> idle = new HashMap<>();

    /** A ready connection to {@code target}'s agent: an idle one if there is one, else a new one. */
    Lease take(Target target, ControlPaths paths) throws TetherException {
        while (true) {
            Lease l;
            synchronized (idle) {
                Deque<Lease> q = idle.get(paths.socket());
                l = q == null ? null : q.pollFirst();
            }
            if (l == null) break;
            // An agent that is ending removes its socket before it cuts its front ends off.
            if (l.connection.mux().isOpen() && Files.exists(paths.socket())) {
                l.uses++;
                return l;
            }
            l.connection.close();
        }
        Lease l = new Lease(ControlClient.connectOrStart(target, paths, new AgentProcess("info"), Connector.clientConfig()));
        l.uses = 1;
        return l;
    }

    /** The session on {@code l} is over: keep its connection for the next one if {@code clean}, else close it. */
    void release(ControlPaths paths, Lease l, boolean clean) {
        if (clean && l.uses < MAX_USES && l.connection.mux().isOpen()) {
            synchronized (idle) {
                Deque<Lease> q = idle.computeIfAbsent(paths.socket(), k -> new ArrayDeque<>());
                if (q.size() < MAX_IDLE_PER_AGENT) {
                    q.addFirst(l);
                    return;
                }
            }
        }
        l.connection.close();
    }

    void closeAll() {
        List<Lease> all = new ArrayList<>();
        synchronized (idle) {
            idle.values().forEach(all::addAll);
            idle.clear();
        }
        all.forEach(l -> l.connection.close());
    }
}
