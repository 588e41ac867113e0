package io.tether.daemon.ssh;

import io.tether.daemon.session.DaemonCore;
import org.apache.sshd.common.config.keys.AuthorizedKeyEntry;
import org.apache.sshd.core.CoreModuleProperties;
import org.apache.sshd.netty.NettyIoServiceFactoryFactory;
import org.apache.sshd.server.SshServer;
import org.apache.sshd.server.auth.pubkey.UserAuthPublicKeyFactory;
import org.apache.sshd.server.config.keys.AuthorizedKeysAuthenticator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The embedded SSH server (Apache MINA SSHD over its Netty IO service): public-key
 * authentication against one authorized_keys file, nothing else (no password, no
 * keyboard-interactive, no shell, no exec), and the "tether" subsystem.
 */
public final class TetherSshServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(TetherSshServer.class);

    private final SshServer sshd;

    private TetherSshServer(SshServer sshd) {
        this.sshd = sshd;
    }

    /**
     * Binds {@code host:port} (port 0: an ephemeral one) and starts serving.
     *
     * @throws IOException for an unreadable or invalid key file, or a port already in use
     *                     ({@link java.net.BindException})
     */
    public static TetherSshServer start(DaemonCore core, String host, int port, Path hostKey, Path authorizedKeys)
            throws IOException {
        if (!Files.isReadable(authorizedKeys)) {
            throw new IOException("authorized keys file " + authorizedKeys + " is missing or unreadable");
        }
        List<AuthorizedKeyEntry> entries;
        try {
            entries = AuthorizedKeyEntry.readAuthorizedKeys(authorizedKeys);
        } catch (IOException | RuntimeException e) {
            throw new IOException("cannot parse authorized keys file " + authorizedKeys + ": " + e.getMessage(), e);
        }
        if (entries.isEmpty()) log.warn("{} lists no keys: nobody can log in", authorizedKeys);

        SshServer sshd = SshServer.setUpDefaultServer();
        sshd.setIoServiceFactoryFactory(new NettyIoServiceFactoryFactory());
        sshd.setHost(host);
        sshd.setPort(port);
        sshd.setKeyPairProvider(HostKeys.loadOrCreate(hostKey));
        sshd.setUserAuthFactories(List.of(UserAuthPublicKeyFactory.INSTANCE));
        sshd.setPublickeyAuthenticator(new AuthorizedKeysAuthenticator(authorizedKeys));
        sshd.setPasswordAuthenticator(null);
        sshd.setKeyboardInteractiveAuthenticator(null);
        sshd.setGSSAuthenticator(null);
        sshd.setHostBasedAuthenticator(null);
        sshd.setSubsystemFactories(List.of(TetherSubsystem.factory(core)));
        // The mux has its own keepalive and flow control: a write waiting for SSH window must
        // not time out while the client is merely slow (a paused pager), and idleness is the
        // mux's call (its pings keep the channel busy).
        CoreModuleProperties.WAIT_FOR_SPACE_TIMEOUT.set(sshd, Duration.ofDays(1));
        CoreModuleProperties.IDLE_TIMEOUT.set(sshd, Duration.ofHours(1));
        sshd.start();
        TetherSshServer server = new TetherSshServer(sshd);
        log.info("listening on {} (host key {}, authorized keys {})", server.address(), hostKey, authorizedKeys);
        return server;
    }

    /** The bound address (with the real port when 0 was asked for). */
    public InetSocketAddress address() {
        for (SocketAddress a : sshd.getBoundAddresses()) {
            if (a instanceof InetSocketAddress inet) return inet;
        }
        return new InetSocketAddress(sshd.getHost(), sshd.getPort());
    }

    public boolean isOpen() {
        return sshd.isOpen();
    }

    @Override
    public void close() throws IOException {
        sshd.stop(true);
    }
}
