package io.tether.daemon;

/** The daemon's version, as announced in the hello ("tetherd/0.1.0") and by --version. */
public final class Version {
    public static final String VERSION = "0.1.0";
    public static final String AGENT = "tetherd/" + VERSION;

    private Version() {}
}
