package io.tether.client.connect;

import io.tether.client.TetherException;
import io.tether.client.targets.Target;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.FdStream;
import io.tether.protocol.proto.StreamOpen;
import org.apache.sshd.common.config.keys.PublicKeyEntry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Host key strictness and failure messages against a real MINA SSH server on loopback. */
class SshConnectionTest {
    @TempDir
    Path dir;

    private TestSshServer server;
    private Path identity;
    private Path knownHosts;

    @BeforeEach
    void start() throws Exception {
        KeyPair client = TestSshServer.newKey();
        server = new TestSshServer(TestSshServer.newKey(), client, (stream, open) -> echo(stream));
        identity = TestSshServer.writePrivateKey(client, dir.resolve("id_test"));
        knownHosts = dir.resolve("known_hosts");
    }

    @AfterEach
    void stop() throws Exception {
        server.close();
    }

    /** Echoes the stream's bytes back, then ends. */
    private static void echo(MuxStream s) throws Exception {
        s.in().transferTo(s.out());
        s.closeWrite();
    }

    private Target target(boolean acceptNew, Path key) {
        return new Target("test", Target.Kind.SSH, "tester", "127.0.0.1", server.port(), key, knownHosts, acceptNew,
                null, Map.of(), Duration.ofSeconds(1));
    }

    private static MuxConfig config() {
        return MuxConfig.defaults("tether-test/0");
    }

    private String pattern() {
        return "[127.0.0.1]:" + server.port();
    }

    @Test
    void unknownHostIsRefusedWithAHintAboutTheFlag() throws Exception {
        TetherException e = assertThrows(TetherException.class, () -> SshConnection.open(target(false, identity), config()));
        assertTrue(e.getMessage().contains("is not in " + knownHosts), e.getMessage());
        assertTrue(e.getMessage().contains("--accept-new-host-key"), e.getMessage());
        assertFalse(Files.exists(knownHosts), "a refused key must not be written");
    }

    @Test
    void acceptNewHostKeyAddsItAndLaterConnectsNeedNoFlag() throws Exception {
        try (SshConnection c = SshConnection.open(target(true, identity), config())) {
            assertRoundTrip(c);
        }
        String file = Files.readString(knownHosts, StandardCharsets.UTF_8);
        assertTrue(file.startsWith(pattern() + " ssh-ed25519 "), file);
        try (SshConnection c = SshConnection.open(target(false, identity), config())) {
            assertRoundTrip(c);
        }
        assertEquals(file, Files.readString(knownHosts, StandardCharsets.UTF_8), "a known key is not added twice");
    }

    @Test
    void changedHostKeyIsRefusedEvenWithTheFlag() throws Exception {
        KeyPair other = TestSshServer.newKey();
        Files.writeString(knownHosts, "# comment\n" + pattern() + " " + PublicKeyEntry.toString(other.getPublic()) + "\n");
        String before = Files.readString(knownHosts);
        TetherException e = assertThrows(TetherException.class, () -> SshConnection.open(target(true, identity), config()));
        assertTrue(e.getMessage().contains("HOST KEY CHANGED"), e.getMessage());
        assertTrue(e.getMessage().contains("ssh-keygen -R"), e.getMessage());
        assertEquals(before, Files.readString(knownHosts));
    }

    @Test
    void keyListedForAnotherPortDoesNotCount() throws Exception {
        Files.writeString(knownHosts, "127.0.0.1 " + PublicKeyEntry.toString(server.hostKey.getPublic()) + "\n");
        TetherException e = assertThrows(TetherException.class, () -> SshConnection.open(target(false, identity), config()));
        assertTrue(e.getMessage().contains("is not in"), e.getMessage());
    }

    @Test
    void wrongIdentityIsAnAuthenticationFailure() throws Exception {
        Files.writeString(knownHosts, pattern() + " " + PublicKeyEntry.toString(server.hostKey.getPublic()) + "\n");
        Path stranger = TestSshServer.writePrivateKey(TestSshServer.newKey(), dir.resolve("id_stranger"));
        TetherException e = assertThrows(TetherException.class, () -> SshConnection.open(target(false, stranger), config()));
        assertTrue(e.getMessage().contains("authentication as tester"), e.getMessage());
        assertTrue(e.getMessage().contains("authorized_keys"), e.getMessage());
    }

    @Test
    void missingIdentityFileIsAClearError() {
        TetherException e = assertThrows(TetherException.class,
                () -> SshConnection.open(target(false, dir.resolve("nope")), config()));
        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
    }

    @Test
    void refusedConnectionNamesTheCause() throws Exception {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            closedPort = s.getLocalPort();
        }
        Target t = new Target("test", Target.Kind.SSH, "tester", "127.0.0.1", closedPort, identity, knownHosts, false,
                null, Map.of(), Duration.ofSeconds(1));
        TetherException e = assertThrows(TetherException.class, () -> SshConnection.open(t, config()));
        assertTrue(e.getMessage().contains("connection refused"), e.getMessage());
        assertTrue(e.getMessage().contains("127.0.0.1:" + closedPort), e.getMessage());
    }

    private static void assertRoundTrip(Connection c) throws Exception {
        MuxStream s = c.mux().open(StreamOpen.newBuilder().setFd(FdStream.getDefaultInstance()).build());
        byte[] data = "hello over ssh".getBytes(StandardCharsets.UTF_8);
        s.out().write(data);
        s.closeWrite();
        assertArrayEquals(data, s.in().readAllBytes());
    }
}
