package io.tether.client.connect;

import org.apache.sshd.client.config.hosts.KnownHostHashValue;
import org.apache.sshd.common.config.keys.PublicKeyEntry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.util.Base64;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The verdicts on known_hosts forms a real file holds, without a server. */
class StrictKnownHostsTest {
    @TempDir
    Path dir;

    @Test
    void hashedHostEntryMatches() throws Exception {
        KeyPair key = TestSshServer.newKey();
        byte[] salt = new byte[20];
        new java.security.SecureRandom().nextBytes(salt);
        byte[] hash = KnownHostHashValue.calculateHashValue("10.1.2.3", 2222, KnownHostHashValue.DEFAULT_DIGEST, salt);
        Path kh = dir.resolve("known_hosts");
        Files.writeString(kh, "|1|" + Base64.getEncoder().encodeToString(salt) + "|" + Base64.getEncoder().encodeToString(hash)
                + " " + PublicKeyEntry.toString(key.getPublic()) + "\n");
        StrictKnownHosts v = new StrictKnownHosts(kh, false, "10.1.2.3", 2222);
        assertEquals(StrictKnownHosts.Verdict.KNOWN, v.check(key.getPublic()));
    }

    @Test
    void revokedKeyIsRefusedEvenWithAcceptNew() throws Exception {
        KeyPair key = TestSshServer.newKey();
        Path kh = dir.resolve("known_hosts");
        Files.writeString(kh, "@revoked * " + PublicKeyEntry.toString(key.getPublic()) + "\n");
        StrictKnownHosts v = new StrictKnownHosts(kh, true, "devbox", 22);
        assertEquals(StrictKnownHosts.Verdict.REVOKED, v.check(key.getPublic()));
        assertTrue(v.refusal().contains("@revoked"), v.refusal());
    }

    @Test
    void plainHostOnPort22AndWildcardsMatch() throws Exception {
        KeyPair key = TestSshServer.newKey();
        Path kh = dir.resolve("known_hosts");
        Files.writeString(kh, "devbox,10.0.0.9 " + PublicKeyEntry.toString(key.getPublic()) + "\n"
                + "*.lab " + PublicKeyEntry.toString(key.getPublic()) + "\n");
        assertEquals(StrictKnownHosts.Verdict.KNOWN, new StrictKnownHosts(kh, false, "devbox", 22).check(key.getPublic()));
        assertEquals(StrictKnownHosts.Verdict.KNOWN, new StrictKnownHosts(kh, false, "10.0.0.9", 22).check(key.getPublic()));
        assertEquals(StrictKnownHosts.Verdict.KNOWN, new StrictKnownHosts(kh, false, "board7.lab", 22).check(key.getPublic()));
        assertEquals(StrictKnownHosts.Verdict.UNKNOWN, new StrictKnownHosts(kh, false, "other", 22).check(key.getPublic()));
    }

    @Test
    void acceptedKeyIsAppendedOnANewLineAndTheDirectoryIsCreated() throws Exception {
        KeyPair key = TestSshServer.newKey();
        Path kh = dir.resolve("sub/known_hosts");
        StrictKnownHosts v = new StrictKnownHosts(kh, true, "devbox", 2200);
        assertEquals(StrictKnownHosts.Verdict.ADDED, v.check(key.getPublic()));
        assertEquals(StrictKnownHosts.Verdict.KNOWN, new StrictKnownHosts(kh, false, "devbox", 2200).check(key.getPublic()));
        Files.writeString(kh, Files.readString(kh).trim()); // no trailing newline
        KeyPair other = TestSshServer.newKey();
        assertEquals(StrictKnownHosts.Verdict.ADDED, new StrictKnownHosts(kh, true, "otherbox", 22).check(other.getPublic()));
        assertEquals(2, Files.readAllLines(kh).size());
        assertTrue(Files.readAllLines(kh).get(1).startsWith("otherbox ssh-ed25519 "));
    }
}
