package io.tether.daemon.ssh;

import io.tether.daemon.session.DaemonCore;
import io.tether.daemon.session.DaemonOptions;
import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.Direction;
import io.tether.protocol.proto.FdSpec;
import io.tether.protocol.proto.FdStream;
import io.tether.protocol.proto.RunRequest;
import io.tether.protocol.proto.SessionMessage;
import io.tether.protocol.proto.StreamOpen;
import io.tether.protocol.transport.Transport;
import org.apache.sshd.client.SshClient;
import org.apache.sshd.client.channel.ChannelSubsystem;
import org.apache.sshd.client.keyverifier.AcceptAllServerKeyVerifier;
import org.apache.sshd.client.session.ClientSession;
import org.apache.sshd.common.config.keys.writer.openssh.OpenSSHKeyPairResourceWriter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.BindException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

@Timeout(60)
class TetherSshServerTest {
    static final Duration WAIT = Duration.ofSeconds(10);

    @TempDir
    Path tmp;
    DaemonCore core;
    TetherSshServer server;
    SshClient client;
    KeyPair allowed;

    @BeforeEach
    void start() throws Exception {
        allowed = newKey();
        Path authorized = tmp.resolve("authorized_keys");
        try (var out = Files.newOutputStream(authorized)) {
            OpenSSHKeyPairResourceWriter.INSTANCE.writePublicKey(allowed.getPublic(), "test", out);
        }
        core = new DaemonCore(DaemonOptions.defaults().withRunDir(tmp.resolve("run")).withHome(tmp)
                .withKillGrace(Duration.ofMillis(300)));
        server = TetherSshServer.start(core, "127.0.0.1", 0, tmp.resolve("host_key"), authorized);
        client = SshClient.setUpDefaultClient();
        client.setServerKeyVerifier(AcceptAllServerKeyVerifier.INSTANCE);
        client.start();
    }

    @AfterEach
    void stop() throws Exception {
        client.stop();
        server.close();
        core.close();
    }

    static KeyPair newKey() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        return g.generateKeyPair();
    }

    ClientSession connect() throws IOException {
        return client.connect("someone", "127.0.0.1", server.address().getPort()).verify(WAIT).getSession();
    }

    @Test
    void authorizedKeyOpensATetherChannelThatRunsCommands() throws Exception {
        try (ClientSession session = connect()) {
            session.addPublicKeyIdentity(allowed);
            session.auth().verify(WAIT);
            ChannelSubsystem ch = session.createSubsystemChannel("tether");
            ch.open().verify(WAIT);
            Mux mux = Mux.start(Transport.of(ch.getInvertedOut(), ch.getInvertedIn(), "test", () -> ch.close(true)),
                    Mux.Role.CLIENT, MuxConfig.defaults("test/0"), null);
            assertTrue(mux.awaitReady().getAgent().startsWith("tetherd/"));
            MuxStream out = mux.open(StreamOpen.newBuilder().setFd(FdStream.getDefaultInstance()).build());
            MuxStream run = mux.open(StreamOpen.newBuilder().setRun(RunRequest.newBuilder()
                    .addArgv("echo").addArgv("over ssh").addEnv("PATH=/bin:/usr/bin")
                    .addFds(FdSpec.newBuilder().setTargetFd(1).setDirection(Direction.FROM_PROCESS).setStreamId(out.id()))).build());
            assertTrue(run.receive(SessionMessage.parser()).hasStarted());
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            out.in().transferTo(b);
            assertEquals("over ssh\n", b.toString(StandardCharsets.UTF_8));
            assertEquals(0, run.receive(SessionMessage.parser()).getExit().getCode());
            mux.close();
        }
    }

    @Test
    void closingTheChannelKillsItsProcesses() throws Exception {
        try (ClientSession session = connect()) {
            session.addPublicKeyIdentity(allowed);
            session.auth().verify(WAIT);
            ChannelSubsystem ch = session.createSubsystemChannel("tether");
            ch.open().verify(WAIT);
            Mux mux = Mux.start(Transport.of(ch.getInvertedOut(), ch.getInvertedIn(), "test", () -> { }),
                    Mux.Role.CLIENT, MuxConfig.defaults("test/0"), null);
            mux.awaitReady();
            MuxStream run = mux.open(StreamOpen.newBuilder().setRun(RunRequest.newBuilder()
                    .addArgv("sleep").addArgv("100").addEnv("PATH=/bin:/usr/bin")).build());
            int pid = run.receive(SessionMessage.parser()).getStarted().getPid();
            assertTrue(Files.exists(Path.of("/proc/" + pid)));
            ch.close(false).await(WAIT);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (Files.exists(Path.of("/proc/" + pid)) && System.nanoTime() < deadline) Thread.sleep(20);
            assertFalse(Files.exists(Path.of("/proc/" + pid)), "pid " + pid + " survived its channel");
        }
    }

    @Test
    void otherKeyIsRefused() throws Exception {
        try (ClientSession session = connect()) {
            session.addPublicKeyIdentity(newKey());
            assertThrows(Exception.class, () -> session.auth().verify(WAIT));
            assertFalse(session.isAuthenticated());
        }
    }

    @Test
    void passwordIsRefused() throws Exception {
        try (ClientSession session = connect()) {
            session.addPasswordIdentity("secret");
            assertThrows(Exception.class, () -> session.auth().verify(WAIT));
            assertFalse(session.isAuthenticated());
        }
    }

    @Test
    void hostKeyIsCreatedOnceAndKept() throws Exception {
        Path key = tmp.resolve("host_key");
        assertTrue(Files.exists(key));
        assertTrue(Files.readString(key).startsWith("-----BEGIN OPENSSH PRIVATE KEY-----"));
        String pub = Files.readString(tmp.resolve("host_key.pub"));
        try (TetherSshServer again = TetherSshServer.start(core, "127.0.0.1", 0, key, tmp.resolve("authorized_keys"))) {
            assertNotEquals(server.address().getPort(), again.address().getPort());
        }
        assertEquals(pub, Files.readString(tmp.resolve("host_key.pub")));
    }

    @Test
    void portInUseAndMissingKeysFileAreClearErrors() throws Exception {
        assertThrows(BindException.class, () -> TetherSshServer.start(core, "127.0.0.1", server.address().getPort(),
                tmp.resolve("host_key"), tmp.resolve("authorized_keys")).close());
        IOException e = assertThrows(IOException.class, () -> TetherSshServer.start(core, "127.0.0.1", 0,
                tmp.resolve("host_key"), tmp.resolve("nope")));
        assertTrue(e.getMessage().contains("nope"), e.getMessage());
    }
}
