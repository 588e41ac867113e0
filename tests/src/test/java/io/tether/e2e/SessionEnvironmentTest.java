package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Working directory, environment policy (README "Environment policy") and umask of the remote process. */
@Timeout(120)
class SessionEnvironmentTest {
    @RegisterExtension
    static final TargetHostExtension TARGET = new TargetHostExtension();

    private static final Duration T = Duration.ofSeconds(60);

    @Test
    void dashWSetsTheRemoteWorkingDirectoryAndPwd() {
        Exec.Result r = TARGET.host().run("sh", "-c", "pwd; echo \"$PWD\"").option("-w", "/tmp").exec(T);
        assertEquals(0, r.exit(), r::toString);
        assertEquals("/tmp\n/tmp\n", r.out());
    }

    @Test
    void withoutDashWTheClientsWorkingDirectoryIsUsed() throws IOException {
        Path cwd = Files.createDirectories(TARGET.host().dir.resolve("client cwd"));
        Exec.Result r = TARGET.host().run("pwd").directory(cwd).exec(T);
        assertEquals(0, r.exit(), r::toString);
        assertEquals(cwd.toRealPath() + "\n", r.out());
    }

    @Test
    void dashESetsVariablesIncludingEmptyOnes() {
        Exec.Result r = TARGET.host().run("sh", "-c", "echo \"$E2E_FOO|${E2E_EMPTY-unset}|$E2E_EQ\"")
                .option("-e", "E2E_FOO=bar baz", "-e", "E2E_EMPTY=", "-e", "E2E_EQ=a=b").exec(T);
        assertEquals(0, r.exit(), r::toString);
        assertEquals("bar baz||a=b\n", r.out());
    }

    @Test
    void clientEnvironmentIsPassedAndDashEOverridesIt() {
        Exec.Result r = TARGET.host().run("sh", "-c", "echo \"$E2E_PASSED|$E2E_OVERRIDDEN\"")
                .clientEnv("E2E_PASSED", "from client")
                .clientEnv("E2E_OVERRIDDEN", "client")
                .option("-e", "E2E_OVERRIDDEN=option").exec(T);
        assertEquals(0, r.exit(), r::toString);
        assertEquals("from client|option\n", r.out());
    }

    @Test
    void hostSessionVariablesAreNotPassed() {
        Exec.Result r = TARGET.host().run("sh", "-c",
                        "for v in SSH_CLIENT SSH_AUTH_SOCK DISPLAY TMUX TETHER_E2E_SECRET XDG_RUNTIME_DIR JAVA_TOOL_OPTIONS; do"
                                + " printenv $v >/dev/null && echo \"leaked $v\"; done; echo checked")
                .clientEnv("SSH_CLIENT", "192.0.2.1 1 22")
                .clientEnv("SSH_AUTH_SOCK", "/tmp/nope")
                .clientEnv("DISPLAY", ":9")
                .clientEnv("TMUX", "/tmp/tmux,1,0")
                .clientEnv("TETHER_E2E_SECRET", "x")
                .exec(T);
        assertEquals(0, r.exit(), r::toString);
        assertEquals("checked\n", r.out());
    }

    @Test
    void valuesWithNewlinesAndEqualsSignsSurvive() {
        Exec.Result r = TARGET.host().run("printenv", "E2E_ML").clientEnv("E2E_ML", "line1\nline2=x\ttab").exec(T);
        assertEquals(0, r.exit(), r::toString);
        assertEquals("line1\nline2=x\ttab\n", r.out());
    }

    @Test
    void umaskOfTheClientApplies() {
        Exec.Result r = TARGET.host().run("sh", "-c", "umask").execInShell(T, "umask 027; {TETHER}");
        assertEquals(0, r.exit(), r::toString);
        assertEquals("0027", r.out().trim());
    }

    @Test
    void filesCreatedRemotelyHonourTheUmask() throws IOException {
        Path file = TARGET.host().dir.resolve("umask-file");
        Exec.Result r = TARGET.host().run("sh", "-c", "echo x > '" + file + "'").execInShell(T, "umask 077; {TETHER}");
        assertEquals(0, r.exit(), r::toString);
        assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
    }
}
