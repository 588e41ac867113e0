package io.tether.protocol.frame;

/** Frame types and their wire codes. Unknown codes are skipped by the mux (extensibility). */
public enum FrameType {
    HELLO(0), OPEN(1), MESSAGE(2), DATA(3), WINDOW(4), RESET(5), GOAWAY(6), PING(7);

    private static final FrameType[] BY_CODE = new FrameType[256];
    static {
        for (FrameType t : values()) {
            BY_CODE[t.code] = t;
        }
    }

    public final int code;

    FrameType(int code) { this.code = code; }

    /** The type for a wire code, or null if this version does not know it. */
    public static FrameType of(int code) {
        return BY_CODE[code & 0xff];
    }
}
