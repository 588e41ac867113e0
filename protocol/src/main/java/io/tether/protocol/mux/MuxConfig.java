package io.tether.protocol.mux;

import java.time.Duration;
import java.util.List;

/** Immutable settings of one mux endpoint. */
public record MuxConfig(
        String agent,
        String arch,
        List<String> features,
        int streamWindow,
        int connectionWindow,
        Duration keepaliveInterval,
        Duration idleTimeout,
        Duration helloTimeout) {

    public static final int DEFAULT_STREAM_WINDOW = 1 << 20;
    public static final int DEFAULT_CONNECTION_WINDOW = 8 << 20;

    public MuxConfig {
        if (streamWindow < 2 * io.tether.protocol.frame.Limits.DATA_CHUNK || connectionWindow < streamWindow) {
            throw new IllegalArgumentException("windows too small: stream " + streamWindow + ", connection " + connectionWindow);
        }
        if (keepaliveInterval.isNegative() || keepaliveInterval.isZero() || idleTimeout.compareTo(keepaliveInterval) < 0
                || helloTimeout.isNegative() || helloTimeout.isZero()) {
            throw new IllegalArgumentException("need 0 < keepalive interval <= idle timeout and a positive hello timeout: "
                    + keepaliveInterval + ", " + idleTimeout + ", " + helloTimeout);
        }
        features = List.copyOf(features);
    }

    public static MuxConfig defaults(String agent) {
        return new MuxConfig(agent, System.getProperty("os.arch"), List.of("run", "fd", "pty", "host-exec", "files-data", io.tether.protocol.files.ChunkCompression.FEATURE),
                DEFAULT_STREAM_WINDOW, DEFAULT_CONNECTION_WINDOW,
                Duration.ofSeconds(15), Duration.ofSeconds(60), Duration.ofSeconds(30));
    }

    public MuxConfig withKeepalive(Duration interval, Duration idle) {
        return new MuxConfig(agent, arch, features, streamWindow, connectionWindow, interval, idle, helloTimeout);
    }

    public MuxConfig withHelloTimeout(Duration timeout) {
        return new MuxConfig(agent, arch, features, streamWindow, connectionWindow, keepaliveInterval, idleTimeout, timeout);
    }

    public MuxConfig withWindows(int stream, int connection) {
        return new MuxConfig(agent, arch, features, stream, connection, keepaliveInterval, idleTimeout, helloTimeout);
    }
}
