package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Strict known_hosts checking on the client, public-key-only authentication on the daemon. */
@Timeout(120)
class HostKeyAndAuthTest {
    @RegisterExtension
    static final TargetHostExtension TARGET = new TargetHostExtension();

    private static final Duration T = Duration.ofSeconds(60);

    /** A direct (--control no) run with its own known_hosts and identity. */
    private static Exec.Result run(Path knownHosts, Path identity, String... extra) {
        TargetHost host = TARGET.host();
        List<String> argv = new ArrayList<>(List.of(TetherHome.tether().toString(), "run", "--control", "no",
                "-t", host.url(), "-i", identity.toString(), "--known-hosts", knownHosts.toString()));
        argv.addAll(List.of(extra));
        argv.addAll(List.of("--", "echo", "in"));
        try (Exec.Running r = Exec.start(host.run().processBuilder(host.inHostNs(argv))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))))) {
            return r.await(T);
        }
    }

    @Test
    void unknownHostKeyIsRefusedUntilAcceptedThenRemembered() throws IOException {
        Path knownHosts = Files.createTempFile(TARGET.host().dir, "known_hosts", "");
        Exec.Result refused = run(knownHosts, TARGET.host().clientKey);
        assertEquals(255, refused.exit(), refused::toString);
        ExitStatusTest.assertTetherMessage(refused.err());
        assertEquals("", refused.out(), "nothing ran");
        assertEquals(0, Files.size(knownHosts), "nothing recorded without --accept-new-host-key");

        Exec.Result accepted = run(knownHosts, TARGET.host().clientKey, "--accept-new-host-key");
        assertEquals(0, accepted.exit(), accepted::toString);
        assertEquals("in\n", accepted.out());
        assertTrue(Files.readString(knownHosts).contains(TARGET.host().targetAddr), "the key was recorded for the host");

        Exec.Result strict = run(knownHosts, TARGET.host().clientKey);
        assertEquals(0, strict.exit(), strict::toString);
        assertEquals("in\n", strict.out());
    }

    @Test
    void missingKnownHostsFileIsRefusedToo() {
        Path knownHosts = TARGET.host().dir.resolve("no-such-known-hosts");
        Exec.Result refused = run(knownHosts, TARGET.host().clientKey);
        assertEquals(255, refused.exit(), refused::toString);
        ExitStatusTest.assertTetherMessage(refused.err());
    }

    @Test
    void changedHostKeyIsRefusedEvenWithAcceptNew() throws IOException {
        Path otherKey = TARGET.host().dir.resolve("impostor_key");
        TargetHost.generateKey(otherKey);
        String pub = Files.readString(Path.of(otherKey + ".pub")).trim();
        Path knownHosts = Files.createTempFile(TARGET.host().dir, "known_hosts_changed", "");
        Files.writeString(knownHosts, "[" + TARGET.host().targetAddr + "]:" + TargetHost.PORT + " " + pub + "\n");
        String before = Files.readString(knownHosts);

        for (String[] extra : new String[][] {{}, {"--accept-new-host-key"}}) {
            Exec.Result r = run(knownHosts, TARGET.host().clientKey, extra);
            assertEquals(255, r.exit(), r::toString);
            ExitStatusTest.assertTetherMessage(r.err());
            assertEquals("", r.out(), "nothing ran");
        }
        assertEquals(before, Files.readString(knownHosts), "known_hosts untouched");
    }

    @Test
    void clientKeyNotInAuthorizedKeysIsRefused() {
        Path stranger = TARGET.host().dir.resolve("stranger_key");
        if (!Files.exists(stranger)) {
            TargetHost.generateKey(stranger);
        }
        Exec.Result r = run(TARGET.host().knownHosts, stranger);
        assertEquals(255, r.exit(), r::toString);
        ExitStatusTest.assertTetherMessage(r.err());
        assertEquals("", r.out(), "nothing ran");
    }

    @Test
    void missingIdentityFileIsTethersOwnFailure() {
        Exec.Result r = run(TARGET.host().knownHosts, TARGET.host().dir.resolve("no-such-key"));
        assertEquals(255, r.exit(), r::toString);
        ExitStatusTest.assertTetherMessage(r.err());
    }

    @Test
    void warmAgentDoesNotBypassTheHostKeyCheckOfAnotherKnownHostsFile() throws IOException {
        // The fixture's agent holds a warm, verified connection; a run naming an empty
        // known_hosts must still be refused rather than ride on it.
        Exec.Result warm = TARGET.host().run("true").exec(T);
        assertEquals(0, warm.exit(), warm::toString);
        Path empty = Files.createTempFile(TARGET.host().dir, "known_hosts_empty", "");
        List<String> argv = List.of(TetherHome.tether().toString(), "run",
                "-t", TARGET.host().url(), "-i", TARGET.host().clientKey.toString(), "--known-hosts", empty.toString(),
                "--", "echo", "in");
        try (Exec.Running r = Exec.start(TARGET.host().run().processBuilder(TARGET.host().inHostNs(argv))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))))) {
            Exec.Result result = r.await(T);
            assertEquals(255, result.exit(), result::toString);
            assertEquals("", result.out(), "nothing ran");
        }
    }
}
