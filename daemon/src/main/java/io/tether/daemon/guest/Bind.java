package io.tether.daemon.guest;

import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;

/**
 * A host directory or file made visible at a guest location, as {@code -b HOST[:GUEST]} (GUEST
 * defaults to HOST). Both are absolute and normalised (no ".", "..", duplicate or trailing slashes).
 */
public record Bind(String hostPath, String guestPath) {
    public Bind {
        hostPath = GuestPaths.normalizeAbsolute(hostPath, "bind host path");
        guestPath = GuestPaths.normalizeAbsolute(guestPath, "bind guest path");
    }

    /** Parses {@code HOST[:GUEST]}. */
    public static Bind parse(String spec) throws ErrnoException {
        int colon = spec.indexOf(':');
        String host = colon < 0 ? spec : spec.substring(0, colon);
        String guest = colon < 0 ? host : spec.substring(colon + 1);
        if (host.isEmpty() || guest.isEmpty() || !host.startsWith("/") || !guest.startsWith("/")) {
            throw new ErrnoException(Errno.EINVAL, "bind", spec + " (want HOST[:GUEST], both absolute)");
        }
        return new Bind(host, guest);
    }
}
