package io.tether.daemon;

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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

@Timeout(60)
class TetherdTest {
    @TempDir
    Path tmp;

    @Test
    void versionAndHelpExitZeroAndBadArgumentsExitTwo() {
        assertEquals(0, Tetherd.run("--version"));
        assertEquals(0, Tetherd.run("--help"));
        assertEquals(2, Tetherd.run());
        assertEquals(2, Tetherd.run("--listen", "127.0.0.1:2222", "--stdio"));
        assertEquals(2, Tetherd.run("--listen", "127.0.0.1:2222"));
        assertEquals(2, Tetherd.run("--listen", "127.0.0.1:notaport", "--host-key", "k", "--authorized-keys", "a"));
        assertEquals(2, Tetherd.run("--stdio", "--log-level", "loud"));
    }

    @Test
    void unreadableKeysFileAndPortInUseExitOne() throws Exception {
        assertEquals(1, Tetherd.run("--listen", "127.0.0.1:0", "--host-key", tmp.resolve("hk").toString(),
                "--authorized-keys", tmp.resolve("missing").toString()));
        Files.writeString(tmp.resolve("ak"), "");
        try (ServerSocket taken = new ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            assertEquals(1, Tetherd.run("--listen", "127.0.0.1:" + taken.getLocalPort(), "--host-key", tmp.resolve("hk").toString(),
                    "--authorized-keys", tmp.resolve("ak").toString(), "--cache-dir", tmp.resolve("cache").toString()));
        }
    }

    @Test
    void listenAddressesParse() {
        assertArrayEquals(new String[] {"127.0.0.1", "22"}, Tetherd.splitAddress("127.0.0.1:22"));
        assertArrayEquals(new String[] {"::1", "22"}, Tetherd.splitAddress("[::1]:22"));
        assertArrayEquals(new String[] {"0.0.0.0", "22"}, Tetherd.splitAddress(":22"));
    }

    /** The real main in a child JVM: stdout must carry nothing but the protocol. */
    @Test
    void stdioModeServesTheProtocolOnStdoutAndLogsOnStderr() throws Exception {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(List.of(java.toString(), "-cp", System.getProperty("java.class.path"),
                Tetherd.class.getName(), "--stdio", "--log-level", "debug", "--cache-dir", tmp.toString()))
                .redirectError(tmp.resolve("stderr").toFile()).start();
        try {
            Mux mux = Mux.start(Transport.of(p.getInputStream(), p.getOutputStream(), "child tetherd", null),
                    Mux.Role.CLIENT, MuxConfig.defaults("test/0"), null);
            assertTrue(mux.awaitReady().getAgent().startsWith("tetherd/"));
            MuxStream out = mux.open(StreamOpen.newBuilder().setFd(FdStream.getDefaultInstance()).build());
            MuxStream run = mux.open(StreamOpen.newBuilder().setRun(RunRequest.newBuilder().addArgv("echo").addArgv("via stdio")
                    .addEnv("PATH=/bin:/usr/bin")
                    .addFds(FdSpec.newBuilder().setTargetFd(1).setDirection(Direction.FROM_PROCESS).setStreamId(out.id()))).build());
            assertTrue(run.receive(SessionMessage.parser()).hasStarted());
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            out.in().transferTo(b);
            assertEquals("via stdio\n", b.toString(StandardCharsets.UTF_8));
            assertEquals(0, run.receive(SessionMessage.parser()).getExit().getCode());
            mux.close();
            assertTrue(p.waitFor(20, TimeUnit.SECONDS), "tetherd --stdio did not exit after the client left");
            assertEquals(0, p.exitValue());
            assertTrue(Files.readString(tmp.resolve("stderr")).contains("DEBUG"), "debug logs go to stderr");
        } finally {
            p.destroyForcibly();
        }
    }
}
