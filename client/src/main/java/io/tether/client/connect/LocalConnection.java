package io.tether.client.connect;

import io.tether.client.TetherException;
import io.tether.protocol.mux.MuxConfig;

/** The in-process daemon over an in-memory pipe (target "local"). Placeholder until DaemonCore lands. */
public final class LocalConnection {
    private LocalConnection() {}

    public static Connection open(MuxConfig config) throws TetherException {
        throw new TetherException("the local target is not available in this build");
    }
}
