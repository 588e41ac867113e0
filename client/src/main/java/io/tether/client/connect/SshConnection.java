package io.tether.client.connect;

import io.tether.client.TetherException;
import io.tether.client.targets.Target;
import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.transport.Transport;
import org.apache.sshd.client.SshClient;
import org.apache.sshd.client.auth.pubkey.UserAuthPublicKeyFactory;
import org.apache.sshd.client.channel.ChannelSubsystem;
import org.apache.sshd.client.config.hosts.HostConfigEntryResolver;
import org.apache.sshd.client.session.ClientSession;
import org.apache.sshd.common.NamedFactory;
import org.apache.sshd.common.cipher.Cipher;
import org.apache.sshd.common.kex.KexProposalOption;
import org.apache.sshd.common.keyprovider.KeyIdentityProvider;
import org.apache.sshd.core.CoreModuleProperties;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * A connection over SSH with Apache MINA SSHD: one session, ONE subsystem channel "tether"
 * carrying the mux. The host key is checked strictly ({@link StrictKnownHosts}); only
 * public-key authentication is offered.
 */
public final class SshConnection implements Connection {
    private static final Logger log = LoggerFactory.getLogger(SshConnection.class);
    public static final String SUBSYSTEM = "tether";
    static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(15);
    static final Duration AUTH_TIMEOUT = Duration.ofSeconds(30);

    private final SshClient client;
    private final ClientSession session;
    private final ChannelSubsystem channel;
    private final Mux mux;
    private final String description;

    private SshConnection(SshClient client, ClientSession session, ChannelSubsystem channel, Mux mux, String description) {
        this.client = client;
        this.session = session;
        this.channel = channel;
        this.mux = mux;
        this.description = description;
    }

    /** Connects, verifies the host, authenticates, opens the channel and agrees the hello. */
    public static SshConnection open(Target target, MuxConfig config) throws TetherException {
        Path home = Path.of(System.getProperty("user.home"));
        Path knownHosts = target.knownHosts() != null ? target.knownHosts() : home.resolve(".ssh/known_hosts");
        List<Path> keyFiles = Identities.files(target.identity(), home);
        List<KeyPair> keys = new ArrayList<>();
        TetherException unusable = null;
        for (Path f : keyFiles) {
            try {
                keys.addAll(Identities.load(f));
            } catch (TetherException e) {
                // An explicit -i must work; of the default files, any usable one will do.
                if (target.identity() != null) throw e;
                log.warn("skipping identity {}: {}", f, e.getMessage());
                if (unusable == null) unusable = e;
            }
        }
        if (keys.isEmpty() && unusable != null) throw unusable;

        String where = target.describe();
        String hostPort = target.host() + ":" + target.port();
        StrictKnownHosts verifier = new StrictKnownHosts(knownHosts, target.acceptNewHostKey(), target.host(), target.port());
        SshClient client = SshClient.setUpDefaultClient();
        client.setServerKeyVerifier(verifier);
        client.setHostConfigEntryResolver(HostConfigEntryResolver.EMPTY); // ~/.ssh/config must not redirect us
        client.setKeyIdentityProvider(KeyIdentityProvider.EMPTY_KEYS_PROVIDER);
        client.setUserAuthFactories(List.of(UserAuthPublicKeyFactory.INSTANCE));
        if (aesIsFast()) client.setCipherFactories(preferAes(client.getCipherFactories()));
        CoreModuleProperties.REQUEST_SUBSYSTEM_REPLY.set(client, true);
        // A stopped remote reader may hold the SSH window shut for long; the mux keeps it alive.
        CoreModuleProperties.WAIT_FOR_SPACE_TIMEOUT.set(client, Duration.ofDays(365));
        CoreModuleProperties.IDLE_TIMEOUT.set(client, Duration.ZERO);
        client.start();
        ClientSession session = null;
        ChannelSubsystem channel = null;
        try {
            try {
                session = client.connect(target.user(), target.host(), target.port()).verify(CONNECT_TIMEOUT).getSession();
            } catch (IOException e) {
                throw connectFailure(e, hostPort, where);
            }
            for (KeyPair kp : keys) session.addPublicKeyIdentity(kp);
            try {
                session.auth().verify(AUTH_TIMEOUT);
            } catch (IOException e) {
                if (verifier.refusal() != null) throw new TetherException(verifier.refusal());
                if (isAuthFailure(e)) {
                    throw new TetherException("authentication as " + target.user() + " at " + hostPort + " failed with "
                            + describeKeys(keyFiles) + ": add its public key to the daemon's authorized_keys, or pass -i KEYFILE");
                }
                throw connectFailure(e, hostPort, where);
            }
            channel = session.createSubsystemChannel(SUBSYSTEM);
            try {
                channel.open().verify(CONNECT_TIMEOUT);
            } catch (IOException e) {
                throw new TetherException("the SSH server at " + hostPort + " refused the '" + SUBSYSTEM + "' subsystem ("
                        + oneLine(e) + "): is it a tetherd? For a stock OpenSSH server add `Subsystem tether /PATH/bin/tetherd --stdio` "
                        + "to its sshd_config, or use --stdio-command 'ssh -T HOST /PATH/bin/tetherd --stdio'");
            }
            ClientSession s = session;
            ChannelSubsystem ch = channel;
            Transport transport = Transport.of(channel.getInvertedOut(), channel.getInvertedIn(), where, () -> closeQuietly(client, s, ch));
            Mux mux = Mux.start(transport, Mux.Role.CLIENT, config, null);
            try {
                mux.awaitReady();
            } catch (IOException e) {
                mux.close();
                throw new TetherException("no Tether hello from " + where + ": " + oneLine(e));
            }
            log.debug("connected to {} ({})", where, mux.ready().join().getAgent());
            return new SshConnection(client, session, channel, mux, where);
        } catch (TetherException | RuntimeException e) {
            closeQuietly(client, session, channel);
            throw e;
        } catch (IOException e) {
            closeQuietly(client, session, channel);
            throw new TetherException("SSH connection to " + where + " failed: " + oneLine(e));
        }
    }

    /**
     * MINA's ciphers, AES-GCM then AES-CTR first. OpenSSH's first choice, chacha20-poly1305, is
     * pure Java in MINA, while the JDK runs AES on AES-NI (x86) or ARMv8 crypto intrinsics: about
     * 3x less CPU per byte on each end (bench/channel.sh, BENCHMARKS.md). The rest stay, in
     * MINA's order, for servers without AES. The client's order decides (RFC 4253, 7.1).
     * Only with C2 ({@link #aesIsFast}): the intrinsics are C2's.
     */
    static List<NamedFactory<Cipher>> preferAes(List<NamedFactory<Cipher>> ciphers) {
        List<NamedFactory<Cipher>> sorted = new ArrayList<>(ciphers);
        sorted.sort(Comparator.comparingInt(c -> c.getName().startsWith("aes") && c.getName().contains("gcm") ? 0
                : c.getName().startsWith("aes") && c.getName().endsWith("-ctr") ? 1 : 2));
        return sorted;
    }

    /**
     * Whether this JVM compiles with C2, which alone uses the AES/GHASH intrinsics. Without it
     * (bin/tether's short-lived client runs with -XX:TieredStopAtLevel=1) AES-GCM costs ~3x the
     * CPU of MINA's chacha20 (41 vs 15 s/GiB): then MINA's order stays.
     */
    static boolean aesIsFast() {
        List<String> options = new ArrayList<>();
        for (String env : List.of("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS")) {
            String v = System.getenv(env);
            if (v != null && !v.isBlank()) options.addAll(List.of(v.trim().split("\\s+")));
        }
        ProcessHandle.current().info().arguments().ifPresent(a -> options.addAll(List.of(a)));
        return hasC2(options);
    }

    /** {@code jvmArguments}: options in the order the JVM applies them, then the main class and its arguments. */
    static boolean hasC2(List<String> jvmArguments) {
        boolean interpreted = false;
        boolean tiered = true;
        int stopAtLevel = 4;
        boolean takesValue = false;
        for (String a : jvmArguments) {
            if (takesValue) {
                takesValue = false;
                continue;
            }
            if (!a.startsWith("-")) break; // the main class: the rest are the program's arguments
            switch (a) {
                case "-cp", "-classpath", "--class-path", "-p", "--module-path", "--add-modules", "--add-opens",
                        "--add-exports", "--add-reads", "--upgrade-module-path", "--limit-modules" -> takesValue = true;
                case "-jar", "-m", "--module" -> { return !interpreted && (!tiered || stopAtLevel >= 4); }
                case "-Xint" -> interpreted = true;
                case "-Xmixed", "-Xcomp" -> interpreted = false;
                case "-XX:+TieredCompilation" -> tiered = true;
                case "-XX:-TieredCompilation" -> tiered = false;
                default -> {
                    if (a.startsWith("-XX:TieredStopAtLevel=")) {
                        try {
                            stopAtLevel = Integer.parseInt(a.substring("-XX:TieredStopAtLevel=".length()));
                        } catch (NumberFormatException ignored) {
                            // the JVM would not have started with it
                        }
                    }
                }
            }
        }
        return !interpreted && (!tiered || stopAtLevel >= 4);
    }

    /** The cipher agreed for client-to-server traffic (benchmarks, diagnostics). */
    public String cipher() {
        return session.getNegotiatedKexParameter(KexProposalOption.C2SENC);
    }

    @Override public Mux mux() { return mux; }

    @Override public String describe() { return description; }

    @Override
    public void close() {
        mux.close();
        closeQuietly(client, session, channel);
    }

    private static void closeQuietly(SshClient client, ClientSession session, ChannelSubsystem channel) {
        try {
            if (channel != null) channel.close(true);
            if (session != null) session.close(true);
        } catch (RuntimeException e) {
            log.debug("closing ssh session: {}", e.toString());
        } finally {
            client.stop();
        }
    }

    private static TetherException connectFailure(IOException e, String hostPort, String where) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof ConnectException) {
                return new TetherException("cannot connect to " + hostPort + ": connection refused (is tetherd running there? "
                        + "start it with `tetherd --listen ADDR:PORT --host-key FILE --authorized-keys FILE`)");
            }
            if (t instanceof UnknownHostException) {
                return new TetherException("cannot connect to " + where + ": unknown host " + hostPort.substring(0, hostPort.lastIndexOf(':')));
            }
            if (t instanceof NoRouteToHostException) {
                return new TetherException("cannot connect to " + hostPort + ": no route to host (check the address and the network)");
            }
        }
        String m = oneLine(e);
        if (m.toLowerCase().contains("timeout") || m.toLowerCase().contains("timed out")) {
            return new TetherException("cannot connect to " + hostPort + ": timed out after " + CONNECT_TIMEOUT.toSeconds()
                    + " s (check the address, port and firewall)");
        }
        return new TetherException("SSH connection to " + where + " failed: " + m);
    }

    private static boolean isAuthFailure(IOException e) {
        String m = String.valueOf(e.getMessage()).toLowerCase();
        return m.contains("authentication") || m.contains("no more") || m.contains("auth");
    }

    private static String describeKeys(List<Path> files) {
        return files.size() == 1 ? "key " + files.get(0) : "keys " + files;
    }

    static String oneLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return m.replace('\n', ' ');
    }
}
