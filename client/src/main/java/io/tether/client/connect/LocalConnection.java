package io.tether.client.connect;

import io.tether.client.TetherException;
import io.tether.daemon.session.DaemonCore;
import io.tether.daemon.session.DaemonOptions;
import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.transport.BytePipe;
import io.tether.protocol.transport.Transport;

import java.io.IOException;

/**
 * Target {@code local}: the daemon runs inside this process and the mux runs over an
 * in-memory pipe, so the whole protocol path is exercised without a network.
 */
public final class LocalConnection implements Connection {
    /** Bytes buffered in each direction of the pipe. */
    private static final int PIPE_CAPACITY = 1 << 20;

    private final DaemonCore core;
    private final Mux mux;

    private LocalConnection(DaemonCore core, Mux mux) {
        this.core = core;
        this.mux = mux;
    }

    public static LocalConnection open(MuxConfig config) throws TetherException {
        return open(config, DaemonOptions.defaults());
    }

    public static LocalConnection open(MuxConfig config, DaemonOptions options) throws TetherException {
        DaemonCore core;
        try {
            core = new DaemonCore(options);
        } catch (RuntimeException e) {
            throw new TetherException("cannot start the local daemon: " + e.getMessage());
        }
        Transport[] pipe = BytePipe.duplex(PIPE_CAPACITY);
        core.serve(pipe[1]);
        Mux mux = Mux.start(pipe[0], Mux.Role.CLIENT, config, null);
        try {
            mux.awaitReady();
        } catch (IOException e) {
            mux.close();
            core.close();
            throw new TetherException("the local daemon did not answer: " + e.getMessage());
        }
        return new LocalConnection(core, mux);
    }

    @Override public Mux mux() { return mux; }

    @Override public String describe() { return "local"; }

    @Override
    public void close() {
        mux.close();
        core.close();
    }
}
