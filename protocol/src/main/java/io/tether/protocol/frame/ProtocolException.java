package io.tether.protocol.frame;

import java.io.IOException;

/** The peer broke the protocol: the connection cannot continue. */
public final class ProtocolException extends IOException {
    public ProtocolException(String message) { super(message); }
    public ProtocolException(String message, Throwable cause) { super(message, cause); }
}
