package io.tether.client.env;

import io.tether.posix.LibC;

/** The process umask, which POSIX only lets us read by setting it: umask(2) set and restore. */
public final class Umask {
    private Umask() {}

    /** The current umask. Call early, before threads create files: it is briefly 022. */
    public static synchronized int current() {
        int old = LibC.umask(0022);
        LibC.umask(old);
        return old;
    }
}
