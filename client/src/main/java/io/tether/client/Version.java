package io.tether.client;

import io.tether.protocol.frame.Limits;

/** The client's version strings, for --version and the mux hello. */
public final class Version {
    public static final String VERSION = "0.1.0";
    public static final String AGENT = "tether/" + VERSION;

    private Version() {}

    public static String line() {
        return "tether " + VERSION + " (protocol " + Limits.MAJOR + "." + Limits.MINOR + ", Java "
                + System.getProperty("java.version") + ", " + System.getProperty("os.arch") + ")";
    }
}
