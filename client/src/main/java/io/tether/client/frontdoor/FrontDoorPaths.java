package io.tether.client.frontdoor;

import io.tether.client.control.ControlPaths;
import io.tether.posix.LibC;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Where the front door lives: beside the control agents ({@link ControlPaths#defaultDir}), as
 * {@code frontdoor-STAMP.sock/.lock/.log}, or under {@code /tmp/tether-UID} when the socket
 * path would not fit in sun_path. STAMP identifies the client jar (modification time and size,
 * in hex), so a rebuilt client never talks to a door still running the old classes;
 * tether-fe.c computes the same names.
 */
public final class FrontDoorPaths {
    private static final int MAX_SOCKET_PATH = 106;

    private FrontDoorPaths() {}

    /** The client jar of a tether home. */
    public static Path jar(Path home) {
        return home.resolve("client/target/tether.jar");
    }

    /** The front end binary bin/tether builds when a C compiler exists. */
    public static Path frontEnd(Path home) {
        return home.resolve("client/target/native/tether-fe");
    }

    /** {@code frontdoor-MTIME-SIZE} for the jar, or null if it cannot be read. */
    public static String key(Path jar) {
        try {
            long mtime = Files.getLastModifiedTime(jar).to(TimeUnit.SECONDS);
            long size = Files.size(jar);
            return "frontdoor-" + Long.toHexString(mtime) + "-" + Long.toHexString(size);
        } catch (IOException e) {
            return null;
        }
    }

    /** The paths for the door keyed {@code key} for a client with environment {@code env}. */
    public static ControlPaths of(Map<String, String> env, String key) {
        ControlPaths p = new ControlPaths(ControlPaths.defaultDir(env).toAbsolutePath(), key);
        if (p.socket().toString().getBytes(StandardCharsets.UTF_8).length <= MAX_SOCKET_PATH) return p;
        return new ControlPaths(Path.of("/tmp", "tether-" + LibC.getuid()), key);
    }
}
