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
 * in-memory pipe, so the whole protocol path is exercised without a network. Either the
 * connection has a daemon of its own ({@link #open}, the JVM client: one run per process), or
 * it is one of several connections to a daemon that outlives it ({@link #attach}, the front
 * door: closing the connection ends only its sessions, as a dropped ssh connection would).
 */
public final class LocalConnection implements Connection {
    /** Bytes buffered in each direction of the pipe. */
    private static final int PIPE_CAPACITY = 1 << 20;

    private final DaemonCore core;
    private final boolean ownsCore;
    private final Mux mux;

    private LocalConnection(DaemonCore core, boolean ownsCore, Mux mux) {
        this.core = core;
        this.ownsCore = ownsCore;
        this.mux = mux;
    }

    public static LocalConnection open(MuxConfig config) throws TetherException {
        return open(config, DaemonOptions.defaults());
    }

    public static LocalConnection open(MuxConfig config, DaemonOptions options) throws TetherException {
        DaemonCore core = startDaemon(options);
        try {
            return connect(core, true, config);
        } catch (TetherException e) {
            core.close();
            throw e;
        }
    }

    /** A daemon for {@link #attach}; the caller closes it. */
    public static DaemonCore startDaemon(DaemonOptions options) throws TetherException {
        try {
            return new DaemonCore(options);
        } catch (RuntimeException e) {
            throw new TetherException("cannot start the local daemon: " + e.getMessage());
        }
    }

    /** A new connection to {@code core}, which stays up when the connection is closed. */
    public static LocalConnection attach(DaemonCore core, MuxConfig config) throws TetherException {
        return connect(core, false, config);
    }

    private static LocalConnection connect(DaemonCore core, boolean ownsCore, MuxConfig config) throws TetherException {
        Transport[] pipe = BytePipe.duplex(PIPE_CAPACITY);
        try {
            core.serve(pipe[1]);
        } catch (IllegalStateException e) {
            throw new TetherException("the local daemon is closed");
        }
        Mux mux = Mux.start(pipe[0], Mux.Role.CLIENT, config, null);
        try {
            mux.awaitReady();
        } catch (IOException e) {
            mux.close();
            throw new TetherException("the local daemon did not answer: " + e.getMessage());
        }
        return new LocalConnection(core, ownsCore, mux);
    }

    @Override public Mux mux() { return mux; }

    @Override public String describe() { return "local"; }

    @Override
    public void close() {
        mux.close();
        if (ownsCore) core.close();
    }
}
