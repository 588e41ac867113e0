package io.tether.client;

import io.tether.protocol.frame.Limits;

/** The client's version strings, for --version and the mux hello. */
public final class Version {
    public static final String VERSION = "0.1.0";
    public static final String AGENT = "tether/" + VERSION;

    private Version() {}

    /**
     * Identifies this build: where the client's classes come from and when that jar was
     * written. A running agent serves only front ends of its own build, so a rebuilt jar (which
     * an old agent might still load classes from) never meets an agent of the previous one.
     */
    public static String buildStamp() {
        try {
            java.io.File code = new java.io.File(Version.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            return code + "@" + code.lastModified();
        } catch (Exception | Error e) {
            return VERSION;
        }
    }

    public static String line() {
        return "tether " + VERSION + " (protocol " + Limits.MAJOR + "." + Limits.MINOR + ", Java "
                + System.getProperty("java.version") + ", " + System.getProperty("os.arch") + ")";
    }
}
