package io.tether.client.targets;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * A resolved target: where sessions run and how to get there. Immutable.
 *
 * @param name             what the user named it ("local", "ssh://...", "dev")
 * @param kind             how the client reaches the daemon
 * @param user             SSH user (SSH; may be null for STDIO)
 * @param host             SSH host (SSH; may be null for STDIO)
 * @param port             SSH port (SSH)
 * @param identity         private key file, or null for the usual ~/.ssh/id_* files
 * @param knownHosts       known_hosts file, or null for ~/.ssh/known_hosts
 * @param acceptNewHostKey whether an unknown host key is added to knownHosts (never a changed one)
 * @param stdioCommand     shell command speaking the protocol on its stdin/stdout (STDIO)
 * @param env              variables configured for the target
 * @param controlPersist   how long an idle control agent keeps the connection
 * @param hostExec         guest path globs of the programs that run on the host in its runs with -r
 *                         ({@code NAME.host-exec}; the command line's --host-exec add to them)
 */
public record Target(String name, Kind kind, String user, String host, int port, Path identity, Path knownHosts,
                     boolean acceptNewHostKey, String stdioCommand, Map<String, String> env,
                     Duration controlPersist, List<String> hostExec) {

    public enum Kind {
        /** The daemon runs in this process, over an in-memory pipe. */
        LOCAL,
        /** MINA SSHD client to a tetherd's embedded SSH server, subsystem "tether". */
        SSH,
        /** A command (e.g. {@code ssh -T dev tetherd --stdio}) whose stdin/stdout carry the protocol. */
        STDIO
    }

    public static final int DEFAULT_PORT = 22;
    public static final Duration DEFAULT_CONTROL_PERSIST = Duration.ofSeconds(600);

    public Target {
        env = Map.copyOf(env);
        hostExec = hostExec == null ? List.of() : List.copyOf(hostExec);
    }

    /** A target without configured host-exec globs. */
    public Target(String name, Kind kind, String user, String host, int port, Path identity, Path knownHosts,
                  boolean acceptNewHostKey, String stdioCommand, Map<String, String> env, Duration controlPersist) {
        this(name, kind, user, host, port, identity, knownHosts, acceptNewHostKey, stdioCommand, env, controlPersist, List.of());
    }

    public static Target local() {
        return new Target("local", Kind.LOCAL, null, null, 0, null, null, false, null, Map.of(), DEFAULT_CONTROL_PERSIST);
    }

    /** For messages: "ssh://root@10.0.0.2:2222", "stdio: ssh -T dev ...", "local". */
    public String describe() {
        return switch (kind) {
            case LOCAL -> "local";
            case SSH -> "ssh://" + user + "@" + hostForUrl() + ":" + port;
            case STDIO -> "stdio: " + stdioCommand;
        };
    }

    private String hostForUrl() {
        return host != null && host.indexOf(':') >= 0 ? "[" + host + "]" : host;
    }

    /**
     * Names the connection a control agent holds: targets with equal keys share one agent.
     * Covers what changes the connection, not per-run settings (env, accept-new), and the
     * client build, so an upgraded or rebuilt client never talks to an old agent.
     */
    public String controlKey() {
        String canon = String.join("\u0000", io.tether.client.Version.VERSION, io.tether.client.Version.buildStamp(), kind.name(), String.valueOf(user), String.valueOf(host),
                String.valueOf(port), String.valueOf(identity == null ? null : identity.toAbsolutePath()),
                String.valueOf(knownHosts == null ? null : knownHosts.toAbsolutePath()), String.valueOf(stdioCommand));
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest(canon.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(h, 0, 10);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public Target withAcceptNewHostKey(boolean accept) {
        return new Target(name, kind, user, host, port, identity, knownHosts, accept, stdioCommand, env, controlPersist, hostExec);
    }
}
