package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** A target named in the per-user targets file ($TETHER_CONFIG), with its identity, known_hosts and env. */
@Timeout(120)
class NamedTargetTest {
    @RegisterExtension
    static final TargetHostExtension TARGET = new TargetHostExtension();

    private static final Duration T = Duration.ofSeconds(60);

    private static Path config(String name) throws IOException {
        TargetHost host = TARGET.host();
        Path file = host.dir.resolve("named-targets.properties");
        Files.writeString(file, String.join("\n",
                "# written by NamedTargetTest",
                name + ".url = " + host.url(),
                name + ".identity = " + host.clientKey,
                name + ".known-hosts = " + host.knownHosts,
                name + ".env.E2E_BOARD = from config",
                name + ".env.E2E_BOTH = config",
                ""));
        return file;
    }

    private static Exec.Result tether(Path config, List<String> args, String... env) {
        TargetHost host = TARGET.host();
        List<String> argv = new ArrayList<>(List.of(TetherHome.tether().toString(), "run"));
        argv.addAll(args);
        ProcessBuilder pb = host.run().processBuilder(host.inHostNs(argv))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        pb.environment().put("TETHER_CONFIG", config.toString());
        for (int i = 0; i < env.length; i += 2) {
            pb.environment().put(env[i], env[i + 1]);
        }
        try (Exec.Running r = Exec.start(pb)) {
            return r.await(T);
        }
    }

    @Test
    void namedTargetUsesItsUrlIdentityKnownHostsAndEnv() throws IOException {
        Path config = config("board");
        Exec.Result r = tether(config, List.of("-t", "board", "-e", "E2E_BOTH=option", "--",
                "sh", "-c", "echo \"$E2E_BOARD|$E2E_BOTH\"; exit 6"));
        assertEquals(6, r.exit(), r::toString);
        assertEquals("from config|option\n", r.out());
    }

    @Test
    void tetherTargetVariableChoosesTheDefaultTarget() throws IOException {
        Path config = config("dflt");
        Exec.Result r = tether(config, List.of("--", "echo", "via TETHER_TARGET"), "TETHER_TARGET", "dflt");
        assertEquals(0, r.exit(), r::toString);
        assertEquals("via TETHER_TARGET\n", r.out());
    }

    @Test
    void unknownTargetNameIsTethersOwnFailure() throws IOException {
        Path config = config("board");
        Exec.Result r = tether(config, List.of("-t", "no-such-board", "--", "true"));
        assertEquals(255, r.exit(), r::toString);
        ExitStatusTest.assertTetherMessage(r.err());
    }
}
