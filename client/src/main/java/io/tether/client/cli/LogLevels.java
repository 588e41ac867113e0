package io.tether.client.cli;

import java.util.List;
import java.util.Locale;

/**
 * Configures slf4j-simple before the first logger exists: everything goes to stderr (never to
 * a stdout that may carry a command's output), default level warn, {@code --log-level} to
 * change it. MINA SSHD is held at error unless a debug level is asked for.
 */
public final class LogLevels {
    public static final List<String> LEVELS = List.of("trace", "debug", "info", "warn", "error", "off");

    private LogLevels() {}

    /** The value of {@code --log-level} among {@code args} (before any "--"), or null. */
    public static String find(String[] args) {
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--")) break;
            if (a.equals("--log-level") && i + 1 < args.length) return args[i + 1];
            if (a.startsWith("--log-level=")) return a.substring("--log-level=".length());
        }
        return null;
    }

    /** Sets the levels from {@code args}; {@code agent} logs at info with timestamps by default. */
    public static void configure(String[] args, boolean agent) {
        String level = find(args);
        if (level == null || !LEVELS.contains(level.toLowerCase(Locale.ROOT))) level = agent ? "info" : "warn";
        level = level.toLowerCase(Locale.ROOT);
        setIfAbsent("org.slf4j.simpleLogger.logFile", "System.err");
        setIfAbsent("org.slf4j.simpleLogger.defaultLogLevel", level);
        boolean verbose = level.equals("debug") || level.equals("trace");
        setIfAbsent("org.slf4j.simpleLogger.log.org.apache.sshd", verbose ? level : "error");
        setIfAbsent("org.slf4j.simpleLogger.log.io.netty", verbose ? level : "error");
        // The front end reports a failed connection itself, as its one `tether: ...` line; the
        // mux's own warning would be a second line. An explicit --log-level still shows it.
        if (!agent && find(args) == null) setIfAbsent("org.slf4j.simpleLogger.log.io.tether.protocol", "error");
        setIfAbsent("org.slf4j.simpleLogger.showThreadName", Boolean.toString(verbose));
        setIfAbsent("org.slf4j.simpleLogger.showShortLogName", "true");
        if (agent) {
            setIfAbsent("org.slf4j.simpleLogger.showDateTime", "true");
            setIfAbsent("org.slf4j.simpleLogger.dateTimeFormat", "yyyy-MM-dd'T'HH:mm:ss.SSS");
        }
    }

    private static void setIfAbsent(String key, String value) {
        if (System.getProperty(key) == null) System.setProperty(key, value);
    }
}
