package io.tether.client.connect;

import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.transport.Transport;
import org.apache.sshd.common.config.keys.KeyUtils;
import org.apache.sshd.common.config.keys.writer.openssh.OpenSSHKeyPairResourceWriter;
import org.apache.sshd.common.keyprovider.KeyPairProvider;
import org.apache.sshd.server.Environment;
import org.apache.sshd.server.ExitCallback;
import org.apache.sshd.server.SshServer;
import org.apache.sshd.server.channel.ChannelSession;
import org.apache.sshd.server.command.Command;
import org.apache.sshd.server.subsystem.SubsystemFactory;

import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.util.List;

/**
 * A MINA SSH server on 127.0.0.1 (ephemeral port) with one host key, one authorized client
 * key, and a "tether" subsystem running a SERVER mux with the given acceptor.
 */
final class TestSshServer implements AutoCloseable {
    final SshServer server;
    final KeyPair hostKey;
    final KeyPair clientKey;

    TestSshServer(KeyPair hostKey, KeyPair clientKey, Mux.Acceptor acceptor) throws Exception {
        this.hostKey = hostKey;
        this.clientKey = clientKey;
        server = SshServer.setUpDefaultServer();
        server.setHost("127.0.0.1");
        server.setPort(0);
        server.setKeyPairProvider(KeyPairProvider.wrap(hostKey));
        server.setPasswordAuthenticator(null);
        server.setPublickeyAuthenticator((user, key, session) -> KeyUtils.compareKeys(key, clientKey.getPublic()));
        server.setSubsystemFactories(List.of(new SubsystemFactory() {
            @Override
            public String getName() {
                return "tether";
            }

            @Override
            public Command createSubsystem(ChannelSession channel) {
                return new MuxCommand(acceptor);
            }
        }));
        server.start();
    }

    int port() {
        return server.getPort();
    }

    static KeyPair newKey() throws Exception {
        return KeyUtils.generateKeyPair(KeyPairProvider.SSH_ED25519, 256);
    }

    /** Writes {@code key} as an unencrypted OpenSSH private key file. */
    static Path writePrivateKey(KeyPair key, Path file) throws Exception {
        try (OutputStream out = Files.newOutputStream(file)) {
            OpenSSHKeyPairResourceWriter.INSTANCE.writePrivateKey(key, "test", null, out);
        }
        return file;
    }

    @Override
    public void close() throws Exception {
        server.stop(true);
    }

    private static final class MuxCommand implements Command {
        private final Mux.Acceptor acceptor;
        private InputStream in;
        private OutputStream out;
        private ExitCallback exit;
        private Mux mux;

        MuxCommand(Mux.Acceptor acceptor) {
            this.acceptor = acceptor;
        }

        @Override public void setInputStream(InputStream in) { this.in = in; }
        @Override public void setOutputStream(OutputStream out) { this.out = out; }
        @Override public void setErrorStream(OutputStream err) { }
        @Override public void setExitCallback(ExitCallback callback) { this.exit = callback; }

        @Override
        public void start(ChannelSession channel, Environment env) {
            mux = Mux.start(Transport.of(in, out, "test ssh server", null), Mux.Role.SERVER,
                    MuxConfig.defaults("test-daemon/0"), acceptor);
            mux.terminated().whenComplete((v, e) -> exit.onExit(0));
        }

        @Override
        public void destroy(ChannelSession channel) {
            if (mux != null) mux.close();
        }
    }
}
