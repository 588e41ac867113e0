import org.apache.sshd.client.SshClient;
import org.apache.sshd.client.channel.ChannelSubsystem;
import org.apache.sshd.client.session.ClientSession;
import org.apache.sshd.common.config.keys.FilePasswordProvider;
import org.apache.sshd.common.kex.KexProposalOption;
import org.apache.sshd.common.kex.KexFactoryManager;
import org.apache.sshd.common.keyprovider.FileKeyPairProvider;
import org.apache.sshd.core.CoreModuleProperties;
import org.apache.sshd.netty.NettyIoServiceFactoryFactory;
import org.apache.sshd.server.Environment;
import org.apache.sshd.server.ExitCallback;
import org.apache.sshd.server.SshServer;
import org.apache.sshd.server.channel.ChannelSession;
import org.apache.sshd.server.command.Command;
import org.apache.sshd.server.config.keys.AuthorizedKeysAuthenticator;
import org.apache.sshd.server.keyprovider.SimpleGeneratorHostKeyProvider;
import org.apache.sshd.server.subsystem.SubsystemFactory;

import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.List;

/**
 * The raw-SSH-channel baseline of bench/channel.sh: the same Apache MINA SSHD on both ends as
 * tether/tetherd (Netty IO, the same window/timeout settings), but the channel carries the bytes
 * directly, without the mux, its pumps or a remote process. The server's "echo" subsystem copies
 * the channel's input back to its output, so `head -c 1G /dev/zero | RawSshChannel client ... >/dev/null`
 * moves the bytes both ways, like `ssh HOST cat` and `tether run -- cat`.
 *
 *   java -cp CLASSES:client/target/lib/* RawSshChannel server HOST PORT HOSTKEY AUTHORIZED_KEYS
 *   java -cp CLASSES:client/target/lib/* RawSshChannel client HOST PORT USER KEYFILE
 *   java -cp CLASSES:client/target/lib/* RawSshChannel ping HOST PORT USER KEYFILE COUNT
 *
 * -Dciphers=a,b,c sets the cipher preference on the side it is given to (MINA's default if unset);
 * the client prints the negotiated cipher and its own rate on stderr. "ping" times 1-byte echoes
 * through the channel, one at a time after a warm-up, as `tether ping` times mux PINGs.
 */
public final class RawSshChannel {
    private static final int CHUNK = 32 * 1024;

    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "server" -> server(args[1], Integer.parseInt(args[2]), Path.of(args[3]), Path.of(args[4]));
            case "client" -> System.exit(client(args[1], Integer.parseInt(args[2]), args[3], Path.of(args[4]), 0));
            case "ping" -> System.exit(client(args[1], Integer.parseInt(args[2]), args[3], Path.of(args[4]),
                    Integer.parseInt(args[5])));
            default -> throw new IllegalArgumentException("server|client");
        }
    }

    private static void ciphers(KexFactoryManager m) {
        String c = System.getProperty("ciphers");
        if (c != null && !c.isBlank()) m.setCipherFactoriesNameList(c);
    }

    static void server(String host, int port, Path hostKey, Path authorizedKeys) throws Exception {
        SshServer sshd = SshServer.setUpDefaultServer();
        sshd.setIoServiceFactoryFactory(new NettyIoServiceFactoryFactory());
        sshd.setHost(host);
        sshd.setPort(port);
        sshd.setKeyPairProvider(new SimpleGeneratorHostKeyProvider(hostKey));
        sshd.setPublickeyAuthenticator(new AuthorizedKeysAuthenticator(authorizedKeys));
        sshd.setPasswordAuthenticator(null);
        sshd.setKeyboardInteractiveAuthenticator(null);
        ciphers(sshd);
        sshd.setSubsystemFactories(List.of(new SubsystemFactory() {
            @Override public String getName() { return "echo"; }
            @Override public Command createSubsystem(ChannelSession channel) { return new Echo(); }
        }));
        CoreModuleProperties.WAIT_FOR_SPACE_TIMEOUT.set(sshd, Duration.ofDays(1));
        CoreModuleProperties.IDLE_TIMEOUT.set(sshd, Duration.ofHours(1));
        sshd.start();
        System.err.println("raw echo server on " + host + ":" + port);
        Thread.currentThread().join();
    }

    /** Copies the channel's input to its output until EOF, then ends the channel. */
    static final class Echo implements Command {
        private InputStream in;
        private OutputStream out;
        private ExitCallback exit;

        @Override public void setInputStream(InputStream in) { this.in = in; }
        @Override public void setOutputStream(OutputStream out) { this.out = out; }
        @Override public void setErrorStream(OutputStream err) { }
        @Override public void setExitCallback(ExitCallback callback) { this.exit = callback; }
        @Override public void destroy(ChannelSession channel) { }

        @Override
        public void start(ChannelSession channel, Environment env) {
            Thread t = new Thread(() -> {
                byte[] b = new byte[CHUNK];
                try {
                    for (int n; (n = in.read(b)) >= 0; ) {
                        out.write(b, 0, n);
                        out.flush();
                    }
                    out.close();
                    exit.onExit(0);
                } catch (IOException e) {
                    exit.onExit(1, String.valueOf(e.getMessage()));
                }
            }, "echo");
            t.setDaemon(true);
            t.start();
        }
    }

    static int client(String host, int port, String user, Path keyFile, int pings) throws Exception {
        SshClient client = SshClient.setUpDefaultClient();
        client.setServerKeyVerifier((session, address, key) -> true); // a benchmark on 127.x: no known_hosts
        ciphers(client);
        CoreModuleProperties.WAIT_FOR_SPACE_TIMEOUT.set(client, Duration.ofDays(365));
        CoreModuleProperties.IDLE_TIMEOUT.set(client, Duration.ZERO);
        client.start();
        try (ClientSession session = client.connect(user, host, port).verify(Duration.ofSeconds(15)).getSession()) {
            for (KeyPair kp : new FileKeyPairProvider(keyFile).loadKeys(session)) session.addPublicKeyIdentity(kp);
            session.auth().verify(Duration.ofSeconds(30));
            ChannelSubsystem channel = session.createSubsystemChannel("echo");
            channel.open().verify(Duration.ofSeconds(15));
            String cipher = session.getNegotiatedKexParameter(KexProposalOption.C2SENC);
            if (pings > 0) {
                ping(channel, pings, cipher);
                channel.close(true);
                return 0;
            }
            long t0 = System.nanoTime();
            OutputStream toRemote = channel.getInvertedIn();
            Thread writer = new Thread(() -> {
                byte[] b = new byte[CHUNK];
                try (InputStream stdin = new FileInputStream(FileDescriptor.in)) {
                    for (int n; (n = stdin.read(b)) >= 0; ) {
                        toRemote.write(b, 0, n);
                        toRemote.flush();
                    }
                    toRemote.close(); // EOF to the server
                } catch (IOException e) {
                    System.err.println("write: " + e);
                }
            }, "stdin");
            writer.start();
            long total = 0;
            byte[] b = new byte[CHUNK];
            InputStream fromRemote = channel.getInvertedOut();
            try (OutputStream stdout = new FileOutputStream(FileDescriptor.out)) {
                for (int n; (n = fromRemote.read(b)) >= 0; total += n) stdout.write(b, 0, n);
            }
            double s = (System.nanoTime() - t0) / 1e9;
            System.err.printf("raw channel (%s): %d bytes in %.2f s: %.1f MB/s%n", cipher, total, s, total / s / 1e6);
            channel.close(true);
        } finally {
            client.stop();
        }
        return 0;
    }

    private static void ping(ChannelSubsystem channel, int count, String cipher) throws IOException {
        OutputStream out = channel.getInvertedIn();
        InputStream in = channel.getInvertedOut();
        long[] rtt = new long[count];
        for (int i = -Math.min(200, count); i < count; i++) { // negative: warm-up
            long t = System.nanoTime();
            out.write('x');
            out.flush();
            if (in.read() < 0) throw new IOException("echo ended");
            if (i >= 0) rtt[i] = System.nanoTime() - t;
        }
        java.util.Arrays.sort(rtt);
        System.out.printf(java.util.Locale.ROOT,
                "raw channel 1-byte echo (%s): %d round trips, min %.1f us, median %.1f us, p99 %.1f us, max %.1f us%n",
                cipher, count, rtt[0] / 1e3, rtt[(count - 1) / 2] / 1e3, rtt[Math.min(count - 1, (int) Math.ceil(count * 0.99) - 1)] / 1e3,
                rtt[count - 1] / 1e3);
    }
}
