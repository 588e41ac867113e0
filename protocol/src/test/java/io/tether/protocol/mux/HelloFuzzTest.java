package io.tether.protocol.mux;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.tether.protocol.frame.Frame;
import io.tether.protocol.frame.FrameCodec;
import io.tether.protocol.frame.FrameType;
import io.tether.protocol.proto.ResetCode;
import io.tether.protocol.testing.LeakCheck;
import io.tether.protocol.testing.RawPeer;
import io.tether.protocol.transport.BytePipe;
import io.tether.protocol.transport.Transport;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Arbitrary bytes as the first bytes a mux receives, then the end of the connection: the mux
 * must end (cleanly or with an error), never crash a thread, hang or leak a buffer. A second
 * target puts a valid hello first, to reach the frames after the handshake.
 * `mvn test` replays the seeds in HelloFuzzTestInputs/; JAZZER_FUZZ=1 fuzzes (see protocol/FUZZING.md).
 */
@ExtendWith(LeakCheck.class)
class HelloFuzzTest {
    private static final MuxConfig CONFIG = MuxConfig.defaults("fuzz")
            .withWindows(64 * 1024, 128 * 1024)
            .withHelloTimeout(Duration.ofSeconds(20));

    @FuzzTest(maxDuration = "60s")
    void arbitraryFirstBytes(byte[] input) throws Exception {
        runAgainstMux(input);
    }

    @FuzzTest(maxDuration = "60s")
    void arbitraryFramesAfterAValidHello(byte[] input) throws Exception {
        ByteArrayOutputStream wire = new ByteArrayOutputStream();
        Frame hello = Frame.of(FrameType.HELLO, 0, 0, RawPeer.hello(io.tether.protocol.frame.Limits.MAJOR, 64 * 1024, 1 << 20).toByteArray());
        FrameCodec.encode(hello, wire, new byte[0]);
        hello.release();
        wire.write(input);
        runAgainstMux(wire.toByteArray());
    }

    private static void runAgainstMux(byte[] bytes) throws Exception {
        Transport[] t = BytePipe.duplex(64 * 1024);
        // The acceptor echoes a little and ends, so handler paths run too.
        Mux mux = Mux.start(t[0], Mux.Role.SERVER, CONFIG, (s, open) -> {
            s.sendBytes(new byte[] {1}, false);
            s.reset(ResetCode.RESET_CANCEL, "fuzz");
        });
        CompletableFuture<Void> drain = CompletableFuture.runAsync(() -> {
            byte[] sink = new byte[16 * 1024];
            InputStream in = t[1].input();
            try {
                while (in.read(sink) >= 0) { }
            } catch (IOException e) {
                // the mux closed its side
            }
        }, Mux.CALLBACKS); // a thread of its own: it blocks
        try {
            OutputStream out = t[1].output();
            try {
                out.write(bytes);
                out.close(); // end of the connection
            } catch (IOException e) {
                // the mux already gave up on us: fine
            }
            try {
                mux.terminated().get(20, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException e) {
                assertTrue(e.getCause() instanceof IOException, "failure is an IOException: " + e.getCause());
                String message = e.getCause().getMessage();
                assertTrue(message != null && !message.isBlank(), "a failure says why");
                // A reader or writer thread that died of an unexpected exception reports "internal error".
                assertFalse(message.startsWith("internal error"), message);
            } catch (TimeoutException e) {
                fail("mux hung on " + bytes.length + " input bytes");
            }
            assertTrue(mux.ready().isDone(), "ready settles once the connection ends");
            drain.get(20, TimeUnit.SECONDS);
        } finally {
            mux.close();
            t[1].close();
        }
    }
}
