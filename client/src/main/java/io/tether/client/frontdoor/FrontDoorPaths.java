package io.tether.client.frontdoor;

import io.tether.client.control.ControlPaths;
import io.tether.posix.LibC;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Where the front door lives: beside the control agents ({@link ControlPaths#defaultDir}), as
 * {@code frontdoor-STAMP.sock/.lock/.log}, or under {@code /tmp/tether-UID} when the socket
 * path would not fit in sun_path. STAMP identifies the build and the caller:
 * {@code MTIME-SIZE-HASH}, the client jar's modification time and size in hex, and a 64-bit
 * FNV-1a hash (16 hex digits) of the home's real path, the jars of our own modules in
 * {@code client/target/lib} (name, mtime, size) and the {@link #identity} of the process asking. So a rebuilt client or
 * daemon never meets a door still running the old classes, and a caller in another namespace,
 * cgroup, or with other credentials or limits gets a door of its own (one that spawns local
 * processes exactly as that caller's own JVM would). tether-fe.c computes the same names.
 */
public final class FrontDoorPaths {
    private static final int MAX_SOCKET_PATH = 106;
    private static final String[] NAMESPACES = {"net", "mnt", "pid", "user", "uts", "ipc", "cgroup"};
    private static final String[] STATUS = {"Uid:", "Gid:", "Groups:", "CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:",
        "NoNewPrivs:", "Seccomp:", "Cpus_allowed_list:", "Mems_allowed_list:"};
    /** The nice value's place in /proc/self/stat, counted from the field after the command name. */
    private static final int NICE_AFTER_COMM = 16;
    /** Row of RLIMIT_NOFILE in /proc/self/limits: a JVM raises its soft limit to the hard one, so only that counts. */
    private static final int NOFILE_ROW = 7;
    /** Where /proc/self/limits puts the soft limit ("%-25s %-20s %-20s %-10s"). */
    private static final int LIMITS_VALUES = 26;
    private static final long FNV_OFFSET = 0xcbf29ce484222325L, FNV_PRIME = 0x100000001b3L;

    private FrontDoorPaths() {}

    /** The client jar of a tether home. */
    public static Path jar(Path home) {
        return home.resolve("client/target/tether.jar");
    }

    /** The tether home of a client jar ({@link #jar}'s inverse). */
    static Path home(Path jar) {
        return jar.toAbsolutePath().getParent().getParent().getParent();
    }

    /** The front end binary bin/tether builds when a C compiler exists. */
    public static Path frontEnd(Path home) {
        return home.resolve("client/target/native/tether-fe");
    }

    /** {@code frontdoor-MTIME-SIZE-HASH} for the build in {@code home} and this process, or null if the jar cannot be read. */
    public static String key(Path home) {
        return key(home, identity());
    }

    /** As {@link #key(Path)} for a process of identity {@code identity}. */
    static String key(Path home, String identity) {
        Path jar = jar(home);
        try {
            long mtime = Files.getLastModifiedTime(jar).to(TimeUnit.SECONDS);
            long size = Files.size(jar);
            StringBuilder h = new StringBuilder(home.toRealPath().toString()).append('\n');
            for (Path lib : ownLibraries(home.resolve("client/target/lib"))) {
                h.append(lib.getFileName()).append('\n').append(Files.getLastModifiedTime(lib).to(TimeUnit.SECONDS)).append('\n')
                        .append(Files.size(lib)).append('\n');
            }
            h.append(identity);
            return "frontdoor-" + Long.toHexString(mtime) + "-" + Long.toHexString(size) + "-"
                    + String.format("%016x", fnv1a(h.toString().getBytes(StandardCharsets.UTF_8)));
        } catch (IOException e) {
            return null;
        }
    }

    /** {@code tether-*.jar} in {@code lib}, sorted by name (as strcmp sorts ASCII). */
    private static List<Path> ownLibraries(Path lib) throws IOException {
        List<Path> all = new ArrayList<>();
        if (!Files.isDirectory(lib)) return all;
        try (DirectoryStream<Path> s = Files.newDirectoryStream(lib, "tether-*.jar")) {
            s.forEach(all::add);
        }
        all.sort((a, b) -> a.getFileName().toString().compareTo(b.getFileName().toString()));
        return all;
    }

    static long fnv1a(byte[] data) {
        long h = FNV_OFFSET;
        for (byte b : data) {
            h ^= b & 0xff;
            h *= FNV_PRIME;
        }
        return h;
    }

    /**
     * What a process started by this one inherits and a session cannot set: namespaces, root
     * directory, credentials and capabilities, no_new_privs and seccomp mode, CPU and memory node
     * affinity, resource limits (the open-files limit by its hard value only), cgroup, personality
     * (setarch), nice value. A door serves a front end only if their
     * identities are equal, since local processes are its children, not the front end's.
     * Lines: {@code ns net:[..] mnt:[..] ...}, {@code root DEV INO}, the named lines of
     * /proc/self/status verbatim, {@code limits S/H ...}, {@code cgroup LINE ...},
     * {@code personality HEX}, {@code nice N}.
     */
    public static String identity() {
        StringBuilder b = new StringBuilder("ns");
        for (String ns : NAMESPACES) {
            b.append(' ');
            try {
                b.append(Files.readSymbolicLink(Path.of("/proc/self/ns", ns)));
            } catch (IOException | UnsupportedOperationException e) {
                b.append('?');
            }
        }
        b.append("\nroot ");
        try {
            b.append(Long.toUnsignedString((Long) Files.getAttribute(Path.of("/"), "unix:dev"))).append(' ')
                    .append(Long.toUnsignedString((Long) Files.getAttribute(Path.of("/"), "unix:ino")));
        } catch (IOException | RuntimeException e) {
            b.append('?');
        }
        b.append('\n');
        for (String line : lines("/proc/self/status")) {
            for (String s : STATUS) {
                if (line.startsWith(s)) b.append(line).append('\n');
            }
        }
        b.append("limits");
        List<String> limits = lines("/proc/self/limits");
        for (int i = 1; i < limits.size(); i++) {
            String line = limits.get(i);
            String[] v = line.length() > LIMITS_VALUES ? line.substring(LIMITS_VALUES).trim().split("\\s+") : new String[0];
            if (v.length < 2) continue;
            b.append(' ').append(i - 1 == NOFILE_ROW ? v[1] : v[0]).append('/').append(v[1]);
        }
        b.append("\ncgroup");
        for (String line : lines("/proc/self/cgroup")) b.append(' ').append(line);
        b.append("\npersonality ").append(String.join(" ", lines("/proc/self/personality")));
        b.append("\nnice ");
        String stat = String.join(" ", lines("/proc/self/stat"));
        String[] after = stat.lastIndexOf(')') < 0 ? new String[0] : stat.substring(stat.lastIndexOf(')') + 1).trim().split(" ");
        b.append(after.length > NICE_AFTER_COMM ? after[NICE_AFTER_COMM] : "?");
        return b.append('\n').toString();
    }

    private static List<String> lines(String file) {
        try {
            return Files.readString(Path.of(file), StandardCharsets.UTF_8).lines().toList();
        } catch (IOException | RuntimeException e) {
            return List.of();
        }
    }

    /** The paths for the door keyed {@code key} for a client with environment {@code env}. */
    public static ControlPaths of(Map<String, String> env, String key) {
        ControlPaths p = new ControlPaths(ControlPaths.defaultDir(env).toAbsolutePath(), key);
        if (p.socket().toString().getBytes(StandardCharsets.UTF_8).length <= MAX_SOCKET_PATH) return p;
        return new ControlPaths(Path.of("/tmp", "tether-" + LibC.getuid()), key);
    }
}
