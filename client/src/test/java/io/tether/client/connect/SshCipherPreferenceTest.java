package io.tether.client.connect;

import io.tether.client.targets.Target;
import io.tether.protocol.mux.MuxConfig;
import org.apache.sshd.common.NamedFactory;
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.apache.sshd.common.cipher.Cipher;
import org.apache.sshd.server.SshServer;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** With C2, the client prefers AES (hardware intrinsics) over MINA's pure-Java chacha20, yet offers every default cipher. */
class SshCipherPreferenceTest {
    @TempDir
    Path dir;

    @Test
    void aesGcmThenAesCtrComeFirstAndNoDefaultCipherIsDropped() {
        List<NamedFactory<Cipher>> defaults = List.of(BuiltinCiphers.cc20p1305_openssh, BuiltinCiphers.aes128ctr,
                BuiltinCiphers.aes256ctr, BuiltinCiphers.aes128gcm, BuiltinCiphers.aes256gcm);
        List<String> names = SshConnection.preferAes(defaults).stream().map(NamedFactory::getName).toList();
        assertEquals(List.of("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes256-ctr",
                "chacha20-poly1305@openssh.com"), names);
    }

    @Test
    void c2IsReadFromTheJvmOptionsWhereTheLastOneWinsAndProgramArgumentsDoNotCount() {
        assertFalse(SshConnection.hasC2(List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xss512k", "-cp", "a:b",
                "io.tether.client.Tether", "run", "--", "cat")), "bin/tether's JVM client");
        assertTrue(SshConnection.hasC2(List.of("-XX:+UseSerialGC", "-Xss512k", "-Dtether.home=/t", "-cp", "a:b",
                "io.tether.client.Tether", "agent")), "the control agent");
        assertTrue(SshConnection.hasC2(List.of("-XX:TieredStopAtLevel=1", "-XX:TieredStopAtLevel=4", "-cp", "a", "M")));
        assertTrue(SshConnection.hasC2(List.of("-XX:TieredStopAtLevel=1", "-XX:-TieredCompilation", "M")), "C2 alone");
        assertFalse(SshConnection.hasC2(List.of("-Xint", "-cp", "a", "M")));
        assertTrue(SshConnection.hasC2(List.of("-cp", "-Xint", "M", "-Xint", "-XX:TieredStopAtLevel=1")),
                "a class path value and the program's own arguments are not options");
        assertFalse(SshConnection.hasC2(List.of("-XX:TieredStopAtLevel=3", "-jar", "x.jar", "-XX:TieredStopAtLevel=4")));
    }

    @Test
    void aMinaServerWithDefaultsNegotiatesAes128Gcm() throws Exception {
        Assumptions.assumeTrue(SshConnection.aesIsFast(), "this test JVM runs without C2: chacha20 stays first");
        TestSshServer server = new TestSshServer(TestSshServer.newKey(), TestSshServer.newKey(), (s, open) -> { });
        try (server) {
            assertTrue(server.server.getCipherFactoriesNames().get(0).startsWith("chacha20"),
                    "precondition: MINA's server default puts chacha20 first, so the client's order is what counts");
            Path key = TestSshServer.writePrivateKey(server.clientKey, dir.resolve("id"));
            Target t = new Target("test", Target.Kind.SSH, "tester", "127.0.0.1", server.port(), key, dir.resolve("known_hosts"),
                    true, null, Map.of(), Duration.ofSeconds(1));
            try (SshConnection c = SshConnection.open(t, MuxConfig.defaults("tether-test/0"))) {
                assertEquals("aes128-gcm@openssh.com", c.cipher());
            }
        }
    }

    @Test
    void anOpenSshStyleServerWithoutAesStillConnectsWithChacha20() throws Exception {
        TestSshServer server = new TestSshServer(TestSshServer.newKey(), TestSshServer.newKey(), (s, open) -> { });
        try (server) {
            SshServer sshd = server.server;
            sshd.setCipherFactories(List.of(BuiltinCiphers.cc20p1305_openssh));
            Path key = TestSshServer.writePrivateKey(server.clientKey, dir.resolve("id"));
            Target t = new Target("test", Target.Kind.SSH, "tester", "127.0.0.1", server.port(), key, dir.resolve("known_hosts"),
                    true, null, Map.of(), Duration.ofSeconds(1));
            try (SshConnection c = SshConnection.open(t, MuxConfig.defaults("tether-test/0"))) {
                assertEquals("chacha20-poly1305@openssh.com", c.cipher());
            }
        }
    }
}
