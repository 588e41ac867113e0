package io.tether.client.connect;

import io.tether.protocol.mux.Mux;

import java.io.Closeable;

/** An open client-role mux to a daemon (or a control agent) and whatever carries it. */
public interface Connection extends Closeable {
    /** The CLIENT-role mux, hello already agreed. */
    Mux mux();

    /** For messages and logs. */
    String describe();

    /** Closes the mux and the transport beneath it. Never throws. */
    @Override
    void close();
}
