package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A stock OpenSSH sshd in the target namespace hosts `tetherd --stdio` (a Subsystem line, and
 * an exec), and the client reaches it through --stdio-command. sshd has its own config, host
 * key, port and authorized_keys under the fixture's directory.
 */
@Timeout(120)
class OpenSshTest {
    @RegisterExtension
    static final TargetHostExtension TARGET = new TargetHostExtension();

    private static final int SSHD_PORT = 2022;
    private static final Path SSHD = Path.of("/usr/sbin/sshd");
    private static Process sshd;

    @BeforeAll
    static void startSshd() throws IOException, InterruptedException {
        assumeTrue(Files.isExecutable(SSHD), "openssh-server is not installed");
        assumeTrue(TargetHost.onPath("ssh") && TargetHost.onPath("unshare"), "ssh or unshare missing");
        TargetHost host = TARGET.host();
        Path hostKey = host.dir.resolve("sshd_host_key");
        TargetHost.generateKey(hostKey);
        Path config = host.dir.resolve("sshd_config");
        Files.writeString(config, String.join("\n",
                "ListenAddress " + host.targetAddr + ":" + SSHD_PORT,
                "HostKey " + hostKey,
                "PidFile " + host.dir.resolve("sshd.pid"),
                "AuthorizedKeysFile " + host.authorizedKeys,
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "UseDNS no",
                "MaxSessions 64",
                "Subsystem tether " + TetherHome.tetherd() + " --stdio",
                ""));
        Files.createDirectories(Path.of("/run/sshd")); // privilege separation directory
        // root's ~/.bashrc may print or be slow; the subsystem runs through root's shell, so sshd
        // gets a private mount namespace where ~/.bashrc is empty (as target-netns.sh does).
        Path emptyRc = host.dir.resolve("empty-bashrc");
        Files.writeString(emptyRc, "");
        String start = "if [ -f /root/.bashrc ]; then mount --bind " + Exec.quote(emptyRc.toString()) + " /root/.bashrc; fi; "
                + "exec " + SSHD + " -D -e -f " + Exec.quote(config.toString());
        sshd = new ProcessBuilder(host.inTargetNs(List.of("unshare", "-m", "--propagation", "slave", "sh", "-ec", start)))
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectErrorStream(true)
                .redirectOutput(host.dir.resolve("sshd.log").toFile())
                .start();
        host.addService(sshd.pid());
        Poll.until(Duration.ofSeconds(20), () -> !sshd.isAlive() || Exec.run(Duration.ofSeconds(10),
                        host.inTargetNs(List.of("ss", "-Hltn", "( sport = :" + SSHD_PORT + " )"))).out().contains(":" + SSHD_PORT),
                () -> "sshd never listened: " + log());
        if (!sshd.isAlive()) {
            throw new AssertionError("sshd exited: " + log());
        }
    }

    @AfterAll
    static void stopSshd() {
        if (sshd != null) {
            sshd.descendants().forEach(ProcessHandle::destroyForcibly);
            sshd.destroyForcibly();
        }
    }

    private static String log() {
        try {
            return Files.readString(TARGET.host().dir.resolve("sshd.log"), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(no sshd log)";
        }
    }

    /** The ssh command line that tether runs as its transport; REMOTE is "-s tether" or an exec. */
    private static String ssh(String remote) {
        TargetHost host = TARGET.host();
        return "ssh -T -p " + SSHD_PORT + " -i " + Exec.quote(host.clientKey.toString())
                + " -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
                + " -o LogLevel=ERROR root@" + host.targetAddr + " " + remote;
    }

    private static Exec.Result tether(String stdioCommand, String control, byte[] stdin, String... command) {
        TargetHost host = TARGET.host();
        List<String> argv = new ArrayList<>(List.of(TetherHome.tether().toString(), "run", "--control", control,
                "--stdio-command", stdioCommand, "--"));
        argv.addAll(List.of(command));
        try (Exec.Running r = Exec.start(host.run().processBuilder(host.inHostNs(argv)))) {
            TetherRun.writeAll(r.stdin(), stdin);
            r.closeStdin();
            return r.await(Duration.ofSeconds(60));
        }
    }

    @Test
    void echoHiThroughTheTetherSubsystemOfOpenSsh() {
        Exec.Result r = tether(ssh("-s tether"), "no", new byte[0], "echo", "hi");
        assertEquals(0, r.exit(), () -> r + "\n--- sshd ---\n" + log());
        assertEquals("hi\n", r.out());
    }

    @Test
    void stdinAndExitStatusThroughAnExecOfTetherdStdio() {
        Exec.Result r = tether(ssh(Exec.quote(TetherHome.tetherd().toString()) + " --stdio"), "no",
                "payload".getBytes(StandardCharsets.UTF_8), "sh", "-c", "cat; echo; exit 3");
        assertEquals(3, r.exit(), () -> r + "\n--- sshd ---\n" + log());
        assertEquals("payload\n", r.out());
    }

    @Test
    void warmAgentOverOpenSshServesRepeatedRuns() {
        for (int i = 0; i < 3; i++) {
            Exec.Result r = tether(ssh("-s tether"), "auto", new byte[0], "sh", "-c", "echo run " + i);
            assertEquals(0, r.exit(), () -> r + "\n--- sshd ---\n" + log());
            assertEquals("run " + i + "\n", r.out());
        }
    }

    @Test
    void installScriptPutsARuntimeOnTheDeviceThatServesRuns() throws IOException {
        TargetHost host = TARGET.host();
        Path prefix = host.dir.resolve("device-opt-tether");
        List<String> install = new ArrayList<>(List.of(TetherHome.root().resolve("deploy/install-tetherd.sh").toString(),
                "--prefix", prefix.toString(), "--no-systemd", "--key", host.clientKey + ".pub"));
        for (String opt : List.of("IdentityFile=" + host.clientKey, "IdentitiesOnly=yes", "BatchMode=yes",
                "StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR")) {
            install.add("--ssh-opt");
            install.add(opt);
        }
        install.add("root@" + host.targetAddr + ":" + SSHD_PORT);
        Exec.Result installed = Exec.run(Duration.ofSeconds(120), host.inHostNs(install));
        assertEquals(0, installed.exit(), () -> installed + "\n--- sshd ---\n" + log());
        assertTrue(Files.isRegularFile(prefix.resolve("daemon/target/tetherd.jar")), "jar installed");
        assertTrue(Files.readString(prefix.resolve("etc/authorized_keys")).contains(
                Files.readString(Path.of(host.clientKey + ".pub")).trim()), "key authorized");

        // The installed copy, not the repository's, serves a run.
        Exec.Result r = tether(ssh(Exec.quote(prefix.resolve("bin/tetherd").toString()) + " --stdio"), "no", new byte[0],
                "sh", "-c", "echo installed; exit 4");
        assertEquals(4, r.exit(), () -> r + "\n--- sshd ---\n" + log());
        assertEquals("installed\n", r.out());
    }
}
