package io.tether.client.control;

import io.tether.client.TetherException;
import io.tether.client.targets.Target;

/** Starts a control agent for a target and reports whether it came up. */
@FunctionalInterface
public interface AgentLauncher {
    /** What a starting agent reports on its first stdout line. */
    enum Status { READY, BUSY }

    /**
     * Starts an agent and waits for its status.
     *
     * @return READY once its socket accepts; BUSY if another agent holds the lock (it will answer)
     * @throws TetherException the agent could not connect upstream (its message, for the user)
     */
    Status launch(Target target, ControlPaths paths) throws TetherException;
}
