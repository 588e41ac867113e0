package io.tether.client.control;

import io.tether.client.TetherException;
import io.tether.client.connect.Connection;
import io.tether.client.connect.UnixSocketTransport;
import io.tether.client.targets.Target;
import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * The front end's way to a warm connection: connect to the target's control socket, or start
 * an agent and then connect. A socket that vanishes under us (the agent's idle exit racing
 * our connect) is retried with a fresh agent.
 */
public final class ControlClient {
    private static final Logger log = LoggerFactory.getLogger(ControlClient.class);
    private static final int ATTEMPTS = 3;
    private static final long BUSY_WAIT_MS = 90_000;

    private ControlClient() {}

    /** Connects to the agent listening on {@code socket}; IOException if none answers. */
    public static Connection connect(Path socket, MuxConfig config) throws IOException {
        return connect(socket, "control agent " + socket, config);
    }

    /**
     * As {@link #connect(Path, MuxConfig)}; {@code description} names the connection in errors
     * (the target, since that is what the user knows).
     */
    public static Connection connect(Path socket, String description, MuxConfig config) throws IOException {
        UnixSocketTransport t = UnixSocketTransport.connect(socket, description);
        Mux mux = Mux.start(t, Mux.Role.CLIENT, config, null);
        try {
            mux.awaitReady();
        } catch (IOException e) {
            mux.close();
            throw e;
        }
        return new Connection() {
            @Override public Mux mux() { return mux; }
            @Override public String describe() { return description; }
            @Override public void close() { mux.close(); }
        };
    }

    /** Connects through the target's agent, starting one with {@code launcher} if none runs. */
    public static Connection connectOrStart(Target target, ControlPaths paths, AgentLauncher launcher, MuxConfig config)
            throws TetherException {
        paths.prepare();
        for (int attempt = 1; ; attempt++) {
            try {
                return connect(paths.socket(), via(target), config);
            } catch (IOException e) {
                log.debug("control socket {}: {}", paths.socket(), e.getMessage());
                if (attempt > ATTEMPTS) {
                    throw new TetherException("cannot reach the control agent at " + paths.socket() + " (" + e.getMessage()
                            + "); see " + paths.log() + " or run with --control no");
                }
            }
            AgentLauncher.Status status = launcher.launch(target, paths);
            if (status == AgentLauncher.Status.BUSY) {
                // Another front end is starting the agent right now: wait for its socket.
                Connection c = awaitAgent(target, paths, config);
                if (c != null) return c;
            }
        }
    }

    private static String via(Target target) {
        return target.describe() + " (through the control agent)";
    }

    /** Waits for the agent that holds the lock; null if the lock is released without a socket. */
    private static Connection awaitAgent(Target target, ControlPaths paths, MuxConfig config) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(BUSY_WAIT_MS);
        int polls = 0;
        while (System.nanoTime() < deadline) {
            try {
                return connect(paths.socket(), via(target), config);
            } catch (IOException e) {
                if (++polls % 20 == 0 && paths.lockIsFree()) return null; // that agent died: start another
                try {
                    Thread.sleep(50);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    return null;
                }
            }
        }
        return null;
    }

}
