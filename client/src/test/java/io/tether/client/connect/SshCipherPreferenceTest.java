package io.tether.client.connect;

import io.tether.client.targets.Target;
import io.tether.protocol.mux.MuxConfig;
import org.apache.sshd.common.NamedFactory;
import org.apache.sshd.common.cipher.BuiltinCiphers;
import org.apache.sshd.common.cipher.Cipher;
import org.apache.sshd.server.SshServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The client prefers AES (hardware intrinsics) over MINA's pure-Java chacha20, yet offers every default cipher. */
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
    void aMinaServerWithDefaultsNegotiatesAes128Gcm() throws Exception {
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
