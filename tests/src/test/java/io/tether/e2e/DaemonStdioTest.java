package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.Unpooled;
import io.tether.protocol.frame.Frame;
import io.tether.protocol.frame.FrameCodec;
import io.tether.protocol.frame.FrameType;
import io.tether.protocol.frame.Limits;
import io.tether.protocol.frame.ProtocolException;
import io.tether.protocol.proto.GoAway;
import io.tether.protocol.proto.Hello;
import io.tether.protocol.proto.ResetCode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * `bin/tetherd --stdio` fed bad input by hand: it must answer clearly and exit, never hang.
 * Also the client's --stdio-command transport against it. Needs no root.
 */
@Timeout(120)
class DaemonStdioTest {
    private static final Duration EXIT = Duration.ofSeconds(20);

    @BeforeAll
    static void build() {
        TetherHome.ensureBuilt();
    }

    private static Exec.Running daemon() {
        return Exec.start(new ProcessBuilder(TetherHome.tetherd().toString(), "--stdio"));
    }

    private static byte[] frame(FrameType type, int flags, int stream, byte[] payload) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        FrameCodec.encode(Frame.of(type, flags, stream, payload), out, new byte[0]);
        return out.toByteArray();
    }

    private static byte[] hello(int major) throws IOException {
        return frame(FrameType.HELLO, 0, 0, Hello.newBuilder().setMajor(major).setMinor(0)
                .addFeatures("run").setAgent("tether-e2e/0").setArch("x86_64")
                .setStreamWindow(1 << 20).setConnectionWindow(8 << 20).build().toByteArray());
    }

    /** Decodes what the daemon wrote; a trailing cut frame is ignored. */
    private static List<Frame> frames(byte[] stdout) {
        List<Frame> frames = new ArrayList<>();
        try (FrameCodec codec = new FrameCodec()) {
            frames.addAll(codec.feed(Unpooled.wrappedBuffer(stdout)));
        } catch (ProtocolException e) {
            throw new AssertionError("the daemon wrote a malformed frame", e);
        }
        return frames;
    }

    private static void write(Exec.Running p, byte[] bytes) {
        try {
            OutputStream in = p.stdin();
            in.write(bytes);
            in.flush();
        } catch (IOException e) {
            // the daemon may already have hung up on us: that is an allowed reaction
        }
    }

    @Test
    void peerOfAnotherMajorVersionGetsAVersionGoAwayAndTheDaemonExits() throws IOException {
        try (Exec.Running d = daemon()) {
            write(d, hello(Limits.MAJOR + 98));
            Exec.Result r = d.await(EXIT);
            List<Frame> frames = frames(r.stdout());
            Frame goAway = frames.stream().filter(f -> f.type() == FrameType.GOAWAY).findFirst().orElse(null);
            assertNotNull(goAway, () -> "a GOAWAY among " + frames + "; " + r);
            GoAway g = GoAway.parseFrom(goAway.takeBytes());
            assertEquals(ResetCode.RESET_VERSION_VALUE, g.getCode(), g::toString);
            assertFalse(g.getReason().isBlank(), "a reason in the GOAWAY");
            assertFalse(r.err().isBlank(), "a message on stderr");
            frames.forEach(Frame::release);
        }
    }

    @Test
    void oversizedFrameEndsTheConnectionWithoutHanging() throws IOException {
        try (Exec.Running d = daemon()) {
            write(d, hello(Limits.MAJOR));
            byte[] huge = ByteBuffer.allocate(10).putInt(Integer.MAX_VALUE).put((byte) FrameType.DATA.code)
                    .put((byte) 0).putInt(1).array();
            write(d, huge);
            Exec.Result r = d.await(EXIT);
            assertFalse(r.err().isBlank(), () -> "a message on stderr: " + r);
        }
    }

    @Test
    void randomGarbageEndsTheConnectionWithoutHanging() {
        byte[] garbage = new byte[200_000];
        new Random(7).nextBytes(garbage);
        try (Exec.Running d = daemon()) {
            write(d, garbage);
            Exec.Result r = d.await(EXIT);
            assertFalse(r.err().isBlank(), () -> "a message on stderr: " + r);
        }
    }

    @Test
    void unknownFrameTypesAreSkippedAndTheConnectionKeepsWorking() throws IOException {
        try (Exec.Running d = daemon()) {
            write(d, hello(Limits.MAJOR));
            byte[] unknown = frame(FrameType.PING, 0, 0, new byte[8]);
            unknown[4] = (byte) 200; // a frame type of some later version
            write(d, unknown);
            byte[] probe = {1, 2, 3, 4, 5, 6, 7, 8};
            write(d, frame(FrameType.PING, 0, 0, probe));
            Poll.until(Duration.ofSeconds(20), () -> pingAck(d, probe) || !d.alive(),
                    () -> "no PING ACK after an unknown frame; stderr: " + d.errSoFar());
            assertTrue(d.alive(), "the daemon survived an unknown frame type");
            d.closeStdin();
            d.await(EXIT);
        }
    }

    private static boolean pingAck(Exec.Running d, byte[] probe) {
        for (Frame f : frames(d.outSoFarBytes())) {
            boolean match = f.type() == FrameType.PING && f.has(Frame.FLAG_ACK);
            byte[] payload = f.takeBytes();
            if (match && java.util.Arrays.equals(payload, probe)) {
                return true;
            }
        }
        return false;
    }

    @Test
    void closedStdinEndsTheDaemon() {
        try (Exec.Running d = daemon()) {
            d.closeStdin();
            d.await(EXIT);
        }
    }

    @Test
    void clientRunsACommandThroughAStdioCommand() {
        String stdioCommand = Exec.quote(TetherHome.tetherd().toString()) + " --stdio";
        Exec.Result r = Exec.run(Duration.ofSeconds(60), TetherHome.tether().toString(), "run", "--control", "no",
                "--stdio-command", stdioCommand, "--", "sh", "-c", "echo via-stdio; exit 3");
        assertEquals(3, r.exit(), r::toString);
        assertEquals("via-stdio\n", r.out());
    }

    @Test
    void clientReportsADaemonThatDiesBeforeTheHelloAs255() {
        Exec.Result r = Exec.run(Duration.ofSeconds(60), TetherHome.tether().toString(), "run", "--control", "no",
                "--stdio-command", "exit 0", "--", "true");
        assertEquals(255, r.exit(), r::toString);
        ExitStatusTest.assertTetherMessage(r.err());
    }

    @Test
    void clientRefusesADaemonOfAnotherMajorVersionWithOneLine() throws IOException {
        java.nio.file.Path dir = TetherHome.workDir("major99");
        java.nio.file.Path hello = dir.resolve("hello99.bin");
        java.nio.file.Files.write(hello, hello(Limits.MAJOR + 98));
        // A fake daemon: says hello from major 99, then swallows whatever the client sends.
        Exec.Result r = Exec.run(Duration.ofSeconds(60), TetherHome.tether().toString(), "run", "--control", "no",
                "--stdio-command", "cat " + Exec.quote(hello.toString()) + "; cat >/dev/null", "--", "true");
        assertEquals(255, r.exit(), r::toString);
        ExitStatusTest.assertTetherMessage(r.err());
    }

    @Test
    void clientRefusesAnOversizedFrameFromTheDaemonWithOneLine() {
        Exec.Result r = Exec.run(Duration.ofSeconds(60), TetherHome.tether().toString(), "run", "--control", "no",
                "--stdio-command", "printf '\\377\\377\\377\\377\\377\\377\\377\\377\\377\\377'; cat >/dev/null",
                "--", "true");
        assertEquals(255, r.exit(), r::toString);
        ExitStatusTest.assertTetherMessage(r.err());
    }

    @Test
    void defaultLocalTargetRunsTheReadmeCommand() {
        Exec.Result r = Exec.run(Duration.ofSeconds(60), TetherHome.tether().toString(), "run", "--",
                "sh", "-c", "echo hello from $(uname -n)");
        assertEquals(0, r.exit(), r::toString);
        String hostname = Exec.run(Duration.ofSeconds(10), "uname", "-n").out().trim();
        assertEquals("hello from " + hostname + "\n", r.out());
    }
}
