package io.tether.protocol.frame;

/** Hard limits of protocol version 1. */
public final class Limits {
    public static final int MAJOR = 1;
    public static final int MINOR = 0;
    /** Bytes after the length field: type, flags, stream id. */
    public static final int HEADER_AFTER_LENGTH = 1 + 1 + 4;
    /** Largest payload of any frame. A longer frame is a protocol error. */
    public static final int MAX_PAYLOAD = 64 * 1024;
    /** Bulk data is cut into chunks of at most this size so control frames never wait long. */
    public static final int DATA_CHUNK = 32 * 1024;
    /** Largest value of the length field. */
    public static final int MAX_FRAME_LENGTH = HEADER_AFTER_LENGTH + MAX_PAYLOAD;

    private Limits() {}
}
