package io.tether.client.frontdoor;

import io.tether.client.Connector;
import io.tether.client.TetherException;
import io.tether.client.connect.Connection;
import io.tether.client.control.AgentProcess;
import io.tether.client.control.ControlClient;
import io.tether.client.control.ControlPaths;
import io.tether.client.targets.Target;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Connections to control agents, one kept ready per agent socket: each session still gets a
 * connection of its own (as a JVM client would, so ending or abandoning it never touches
 * another session), but the connect and mux hello (1-3 ms) happen off the critical path: a
 * session takes the spare and a new one is made after it ended. A spare whose agent went away is
 * dropped and a fresh connection made, starting the agent as {@code tether run} does.
 *
 * <p>A spare counts as a connected front end, so an agent outlives its idle time while the door
 * runs; the door's own idle exit releases it.
 */
final class WarmConnections {
    private static final Logger log = LoggerFactory.getLogger(WarmConnections.class);

    private final Map<Path, Connection> spares = new ConcurrentHashMap<>();
    private final ExecutorService refill = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "frontdoor-warm");
        t.setDaemon(true);
        return t;
    });

    /** A ready connection to {@code target}'s agent, the spare if there is one, else a new one (starting the agent if needed). */
    Connection take(Target target, ControlPaths paths) throws TetherException {
        Connection c = spares.remove(paths.socket());
        // An agent that is ending removes its socket before it cuts its front ends off.
        if (c != null && (!c.mux().isOpen() || !Files.exists(paths.socket()))) {
            c.close();
            c = null;
        }
        if (c == null) c = ControlClient.connectOrStart(target, paths, new AgentProcess("info"), Connector.clientConfig());
        return c;
    }

    /**
     * Makes the next spare for {@code target}'s agent in the background: called once a session has
     * ended, so that the connect and hello never compete with a session for the CPU.
     */
    void replenish(Target target, ControlPaths paths) {
        if (spares.containsKey(paths.socket())) return;
        String description = target.describe() + " (through the control agent)";
        refill.execute(() -> {
            try {
                Connection spare = ControlClient.connect(paths.socket(), description, Connector.clientConfig());
                Connection old = spares.put(paths.socket(), spare);
                if (old != null) old.close();
            } catch (IOException e) {
                log.debug("no spare connection to {}: {}", paths.socket(), e.getMessage());
            }
        });
    }

    void closeAll() {
        refill.shutdownNow();
        spares.values().forEach(Connection::close);
        spares.clear();
    }
}
