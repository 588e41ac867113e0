package io.tether.client.targets;

import io.tether.client.TetherException;

import java.io.IOException;
import java.io.Reader;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Turns what the user wrote after {@code -t} into a {@link Target}.
 *
 * <p>A target is {@code local} (the default), {@code ssh://[USER@]HOST[:PORT]} (user defaults
 * to the current user, port to 22), or a NAME defined in the per-user targets file:
 * {@code $TETHER_CONFIG}, else {@code ~/.config/tether/targets.properties}, a
 * java.util.Properties file:
 * <pre>
 * dev.url=ssh://root@10.0.0.2:2222
 * dev.identity=~/.ssh/id_dev           # -i
 * dev.known-hosts=~/.ssh/known_hosts    # --known-hosts
 * dev.env.CROSS_COMPILE=arm-linux-      # extra remote variables (-e wins)
 * dev.control-persist=600               # seconds an idle control agent stays
 * dev.accept-new-host-key=true          # as --accept-new-host-key (a changed key is still refused)
 * dev.host-exec=/usr/bin/perl, /opt/x/*  # --host-exec globs for runs with -r (comma-separated; -r's --host-exec add)
 * box.stdio-command=ssh -T box /opt/tether/bin/tetherd --stdio   # no url needed
 * </pre>
 * Relative paths in the file are relative to its directory; {@code ~/} means the home directory.
 * Command-line options override the file.
 */
public final class TargetResolver {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]*");

    /** Settings given on the command line; null/false means "not given". */
    public record Overrides(Path identity, Path knownHosts, boolean acceptNewHostKey, String stdioCommand,
                            Integer controlPersistSeconds) {
        public static Overrides none() {
            return new Overrides(null, null, false, null, null);
        }
    }

    private final Path configFile;
    private final String defaultUser;
    private final Path home;

    public TargetResolver(Path configFile, String defaultUser, Path home) {
        this.configFile = configFile;
        this.defaultUser = defaultUser;
        this.home = home;
    }

    /** The resolver for this process: $TETHER_CONFIG or ~/.config/tether/targets.properties. */
    public static TargetResolver forCurrentUser(Map<String, String> env) {
        Path home = Path.of(System.getProperty("user.home"));
        String explicit = env.get("TETHER_CONFIG");
        Path file = explicit != null && !explicit.isEmpty()
                ? Path.of(explicit)
                : home.resolve(".config/tether/targets.properties");
        return new TargetResolver(file, System.getProperty("user.name"), home);
    }

    public Path configFile() { return configFile; }

    public Target resolve(String spec, Overrides o) throws TetherException {
        if (spec == null || spec.isEmpty()) spec = "local";
        Target base;
        if (spec.equals("local")) {
            base = Target.local();
        } else if (spec.contains("://")) {
            base = parseUrl(spec, spec);
        } else if (NAME.matcher(spec).matches()) {
            base = named(spec);
        } else {
            throw new TetherException("bad target '" + spec + "': use local, ssh://[USER@]HOST[:PORT], or a name from " + configFile);
        }
        return apply(base, o);
    }

    private Target apply(Target t, Overrides o) throws TetherException {
        String stdio = o.stdioCommand() != null ? o.stdioCommand() : t.stdioCommand();
        Target.Kind kind = stdio != null && !stdio.isBlank() ? Target.Kind.STDIO : t.kind();
        Duration persist = t.controlPersist();
        if (o.controlPersistSeconds() != null) {
            if (o.controlPersistSeconds() < 0) throw new TetherException("--control-persist must be 0 or more seconds");
            persist = Duration.ofSeconds(o.controlPersistSeconds());
        }
        return new Target(t.name(), kind, t.user(), t.host(), t.port(),
                o.identity() != null ? o.identity().toAbsolutePath() : t.identity(),
                o.knownHosts() != null ? o.knownHosts().toAbsolutePath() : t.knownHosts(),
                o.acceptNewHostKey() || t.acceptNewHostKey(),
                kind == Target.Kind.STDIO ? stdio : null, t.env(), persist, t.hostExec());
    }

    /** Parses {@code ssh://[USER@]HOST[:PORT]}. */
    public Target parseUrl(String url, String name) throws TetherException {
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException e) {
            throw new TetherException("bad target URL '" + url + "': " + e.getReason() + " (expected ssh://[USER@]HOST[:PORT])");
        }
        if (!"ssh".equalsIgnoreCase(uri.getScheme())) {
            throw new TetherException("bad target URL '" + url + "': only ssh://[USER@]HOST[:PORT] is supported");
        }
        String host = uri.getHost();
        if (host == null || host.isEmpty()) {
            throw new TetherException("bad target URL '" + url + "': no host (expected ssh://[USER@]HOST[:PORT])");
        }
        if (host.startsWith("[") && host.endsWith("]")) host = host.substring(1, host.length() - 1);
        String path = uri.getRawPath();
        if ((path != null && !path.isEmpty() && !path.equals("/")) || uri.getRawQuery() != null || uri.getRawFragment() != null) {
            throw new TetherException("bad target URL '" + url + "': unexpected path or query (expected ssh://[USER@]HOST[:PORT])");
        }
        String user = uri.getUserInfo();
        if (user == null || user.isEmpty()) user = defaultUser;
        if (user.contains(":")) {
            throw new TetherException("bad target URL '" + url + "': passwords are not supported; use key files (-i)");
        }
        int port = uri.getPort() < 0 ? Target.DEFAULT_PORT : uri.getPort();
        return new Target(name, Target.Kind.SSH, user, host, port, null, null, false, null, Map.of(),
                Target.DEFAULT_CONTROL_PERSIST);
    }

    private Target named(String name) throws TetherException {
        if (!Files.isRegularFile(configFile)) {
            throw new TetherException("unknown target '" + name + "': no targets file " + configFile
                    + " (create it with a line " + name + ".url=ssh://USER@HOST:PORT, or use -t ssh://...)");
        }
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(configFile, StandardCharsets.UTF_8)) {
            p.load(r);
        } catch (IOException | IllegalArgumentException e) {
            throw new TetherException("cannot read targets file " + configFile + ": " + e.getMessage());
        }
        String prefix = name + ".";
        String url = trimmed(p.getProperty(prefix + "url"));
        String stdio = trimmed(p.getProperty(prefix + "stdio-command"));
        if (url == null && stdio == null) {
            boolean any = p.stringPropertyNames().stream().anyMatch(k -> k.startsWith(prefix));
            throw new TetherException(any
                    ? "target '" + name + "' in " + configFile + " has neither " + prefix + "url nor " + prefix + "stdio-command"
                    : "unknown target '" + name + "': not defined in " + configFile + " (add " + prefix + "url=ssh://USER@HOST:PORT)");
        }
        Target base;
        if (url == null || url.equals("local")) {
            base = Target.local();
        } else {
            base = parseUrl(url, name);
        }
        Map<String, String> env = new TreeMap<>();
        for (String k : p.stringPropertyNames()) {
            if (k.startsWith(prefix + "env.")) env.put(k.substring((prefix + "env.").length()), p.getProperty(k));
        }
        Duration persist = Target.DEFAULT_CONTROL_PERSIST;
        String cp = trimmed(p.getProperty(prefix + "control-persist"));
        if (cp != null) {
            try {
                long s = Long.parseLong(cp);
                if (s < 0) throw new NumberFormatException();
                persist = Duration.ofSeconds(s);
            } catch (NumberFormatException e) {
                throw new TetherException(configFile + ": " + prefix + "control-persist must be a number of seconds, not '" + cp + "'");
            }
        }
        return new Target(name, base.kind(), base.user(), base.host(), base.port(),
                path(p.getProperty(prefix + "identity")), path(p.getProperty(prefix + "known-hosts")),
                Boolean.parseBoolean(trimmed(p.getProperty(prefix + "accept-new-host-key"))),
                stdio, env, persist, hostExecGlobs(trimmed(p.getProperty(prefix + "host-exec")), prefix));
    }

    /** {@code NAME.host-exec}: absolute guest path globs separated by commas (blanks around them ignored). */
    private List<String> hostExecGlobs(String value, String prefix) throws TetherException {
        if (value == null) return List.of();
        List<String> globs = new ArrayList<>();
        for (String g : value.split(",")) {
            g = g.strip();
            if (g.isEmpty()) continue;
            if (!g.startsWith("/")) {
                throw new TetherException(configFile + ": " + prefix + "host-exec: '" + g
                        + "' is not an absolute guest path glob (want e.g. /usr/bin/perl, /opt/x/*)");
            }
            globs.add(g);
        }
        return globs;
    }

    private Path path(String value) {
        value = trimmed(value);
        if (value == null) return null;
        if (value.equals("~")) return home;
        if (value.startsWith("~/")) return home.resolve(value.substring(2));
        Path dir = configFile.toAbsolutePath().getParent();
        return dir.resolve(value).normalize();
    }

    private static String trimmed(String s) {
        if (s == null) return null;
        s = s.trim();
        return s.isEmpty() ? null : s;
    }
}
