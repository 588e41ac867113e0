package io.tether.protocol.mux;

import io.tether.protocol.proto.ResetCode;

import java.io.IOException;

/** The stream was reset, by the peer or locally (connection lost, cancelled). */
public final class StreamResetException extends IOException {
    private final ResetCode code;
    private final boolean byPeer;

    public StreamResetException(ResetCode code, String reason, boolean byPeer) {
        super((byPeer ? "reset by peer: " : "reset: ") + code.name().toLowerCase().replace("reset_", "") + (reason.isEmpty() ? "" : ": " + reason));
        this.code = code;
        this.byPeer = byPeer;
    }

    public ResetCode code() { return code; }
    public boolean byPeer() { return byPeer; }
}
