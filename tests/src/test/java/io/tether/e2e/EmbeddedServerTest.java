package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tether.protocol.frame.Frame;
import io.tether.protocol.frame.FrameCodec;
import io.tether.protocol.frame.FrameType;
import io.tether.protocol.proto.Hello;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The daemon's embedded SSH server seen by a stock OpenSSH client: only the tether subsystem is
 * served, only public keys are offered, and a peer that sends garbage or speaks another major
 * version is dropped without disturbing a session that is running meanwhile.
 */
@Timeout(120)
class EmbeddedServerTest {
    @RegisterExtension
    static final TargetHostExtension TARGET = new TargetHostExtension();

    private static final Duration T = Duration.ofSeconds(30);

    @BeforeAll
    static void needSsh() {
        assumeTrue(TargetHost.onPath("ssh"), "openssh-client is not installed");
    }

    /** ssh to the daemon's port from the client's namespace, with the fixture's key; stdin from {@code input}. */
    private static Exec.Result ssh(Path input, String... args) {
        TargetHost host = TARGET.host();
        List<String> argv = new ArrayList<>(List.of("ssh", "-T", "-p", Integer.toString(TargetHost.PORT),
                "-i", host.clientKey.toString(), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10"));
        argv.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(host.inHostNs(argv)).redirectInput(input.toFile());
        try (Exec.Running r = Exec.start(pb)) {
            return r.await(T);
        }
    }

    private static Path file(String name, byte[] content) throws IOException {
        Path p = TARGET.host().dir.resolve(name);
        Files.write(p, content);
        return p;
    }

    @Test
    void execAndShellRequestsAreRefused() throws IOException {
        Path marker = TARGET.host().dir.resolve("exec-ran");
        Exec.Result exec = ssh(file("empty", new byte[0]), "root@" + TARGET.host().targetAddr, "touch " + marker);
        assertNotEquals(0, exec.exit(), exec::toString);
        assertFalse(Files.exists(marker), "an exec request ran a command");
    }

    @Test
    void onlyPublicKeyAuthenticationIsOffered() throws IOException {
        Exec.Result r = ssh(file("empty", new byte[0]), "-v", "-o", "PreferredAuthentications=none",
                "-o", "IdentityFile=/dev/null", "root@" + TARGET.host().targetAddr, "-s", "tether");
        assertNotEquals(0, r.exit(), r::toString);
        String methods = r.err().lines().filter(l -> l.contains("Authentications that can continue"))
                .findFirst().orElseThrow(() -> new AssertionError("no auth methods listed: " + r));
        assertTrue(methods.contains("publickey"), methods);
        assertFalse(methods.contains("password"), methods);
        assertFalse(methods.contains("keyboard-interactive"), methods);
    }

    @Test
    void garbageAndAnotherMajorVersionAreDroppedWhileAnotherSessionRunsOn() throws IOException {
        TargetHost host = TARGET.host();
        Path release = host.dir.resolve("release-" + System.nanoTime());
        String script = "echo started; i=0; while [ ! -e '" + release + "' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; echo survived";
        try (Exec.Running session = host.run("sh", "-c", script).control("no").startNoInput()) {
            SignalForwardingTest.awaitOutput(session, "started\n");

            byte[] garbage = new byte[300_000];
            new Random(11).nextBytes(garbage);
            Exec.Result g = ssh(file("garbage", garbage), "root@" + host.targetAddr, "-s", "tether");
            assertTrue(session.alive(), "the session survived a garbage peer: " + g);

            ByteArrayOutputStream hello = new ByteArrayOutputStream();
            FrameCodec.encode(Frame.of(FrameType.HELLO, 0, 0, Hello.newBuilder().setMajor(99).setAgent("e2e/99")
                    .setStreamWindow(1 << 20).setConnectionWindow(8 << 20).build().toByteArray()), hello, new byte[0]);
            Exec.Result v = ssh(file("hello99", hello.toByteArray()), "root@" + host.targetAddr, "-s", "tether");
            assertTrue(session.alive(), "the session survived a peer of another major version: " + v);

            Files.createFile(release);
            Exec.Result r = session.await(T);
            assertEquals(0, r.exit(), r::toString);
            assertEquals("started\nsurvived\n", r.out());
        }
        Exec.Result after = host.run("echo", "still serving").control("no").exec(T);
        assertEquals(0, after.exit(), after::toString);
        assertEquals("still serving\n", after.out());
    }
}
