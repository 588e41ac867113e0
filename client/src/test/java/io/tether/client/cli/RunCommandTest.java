package io.tether.client.cli;

import io.tether.client.Connector;
import io.tether.client.Tether;
import io.tether.client.TetherException;
import io.tether.client.session.RunSpec;
import io.tether.client.targets.Target;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RunCommandTest {
    private static RunCommand parse(String... args) {
        CommandLine cl = new CommandLine(new Tether());
        cl.setStopAtPositional(true);
        CommandLine.ParseResult r = cl.parseArgs(args);
        return (RunCommand) r.subcommand().commandSpec().userObject();
    }

    private static final Map<String, String> ENV = Map.of("PATH", "/bin", "SSH_TTY", "/dev/pts/1", "PWD", "/nonexistent-pwd");

    @Test
    void dashTIsTheTargetAndEverythingAfterCmdIsTheRemoteCommandLine() {
        RunCommand c = parse("run", "-t", "ssh://root@h:2222", "ls", "-la", "-t", "--", "x");
        assertEquals("ssh://root@h:2222", c.target);
        assertEquals(List.of("ls", "-la", "-t", "--", "x"), c.command);
    }

    @Test
    void doubleDashEndsOptions() {
        RunCommand c = parse("run", "-w", "/tmp", "--", "-weird-program", "arg");
        assertEquals("/tmp", c.workdir);
        assertEquals(List.of("-weird-program", "arg"), c.command);
    }

    @Test
    void stableInterfaceOfSection8Parses() {
        RunCommand c = parse("run", "-t", "ssh://u@127.0.0.1:2222", "-i", "/k", "--known-hosts", "/kh",
                "--accept-new-host-key", "-w", "/w", "-e", "A=1", "-e", "B=2", "--", "sh", "-c", "echo hi");
        assertEquals("/k", c.identity.toString());
        assertEquals("/kh", c.knownHosts.toString());
        assertTrue(c.acceptNewHostKey);
        assertEquals(List.of("A=1", "B=2"), c.env);
        assertEquals(List.of("sh", "-c", "echo hi"), c.command);
    }

    @Test
    void ttyFlagsMapToModes() throws Exception {
        Target local = Target.local();
        assertEquals(RunSpec.TtyMode.AUTO, parse("run", "true").runSpec(local, ENV, 022).tty());
        assertEquals(RunSpec.TtyMode.FORCE, parse("run", "--tty", "true").runSpec(local, ENV, 022).tty());
        assertEquals(RunSpec.TtyMode.NEVER, parse("run", "-T", "true").runSpec(local, ENV, 022).tty());
        assertEquals(RunSpec.TtyMode.NEVER, parse("run", "--no-tty", "true").runSpec(local, ENV, 022).tty());
        assertThrows(TetherException.class, () -> parse("run", "--tty", "-T", "true").runSpec(local, ENV, 022));
    }

    @Test
    void explicitWorkdirIsRequiredAndBecomesPwd() throws Exception {
        RunSpec s = parse("run", "-w", "/srv/build", "-e", "X=1", "make").runSpec(Target.local(), ENV, 027);
        assertEquals("/srv/build", s.cwd());
        assertTrue(s.cwdRequired());
        assertEquals(027, s.umask());
        assertTrue(s.env().contains("PWD=/srv/build"));
        assertTrue(s.env().contains("X=1"));
        assertTrue(s.env().contains("PATH=/bin"));
        assertFalse(s.env().stream().anyMatch(e -> e.startsWith("SSH_TTY=")));
    }

    @Test
    void defaultWorkdirIsOursAndNotRequired() throws Exception {
        RunSpec s = parse("run", "pwd").runSpec(Target.local(), ENV, 022);
        assertEquals(System.getProperty("user.dir"), s.cwd(), "a stale $PWD is ignored");
        assertFalse(s.cwdRequired());
    }

    @Test
    void targetEnvironmentIsAppliedBeforeDashE() throws Exception {
        Target t = new Target("dev", Target.Kind.LOCAL, null, null, 0, null, null, false, null,
                Map.of("CC", "arm-gcc", "ARCH", "arm"), Target.DEFAULT_CONTROL_PERSIST);
        RunSpec s = parse("run", "-e", "CC=clang", "make").runSpec(t, ENV, 022);
        assertTrue(s.env().contains("CC=clang"));
        assertTrue(s.env().contains("ARCH=arm"));
    }

    @Test
    void targetHostExecGlobsComeBeforeTheCommandLinesAndNeedRootfs() throws Exception {
        Target t = new Target("board", Target.Kind.LOCAL, null, null, 0, null, null, false, null, Map.of(),
                Target.DEFAULT_CONTROL_PERSIST, List.of("/usr/bin/perl", "/opt/x/*"));
        RunSpec s = parse("run", "-r", "/srv/rootfs", "--host-exec", "/opt/x/*", "--host-exec", "/host/bin/*", "make").runSpec(t, ENV, 022);
        assertEquals(List.of("/usr/bin/perl", "/opt/x/*", "/host/bin/*"), s.guest().hostExec());
        assertNull(parse("run", "make").runSpec(t, ENV, 022).guest(), "without -r the target's globs do nothing");
    }

    @Test
    void controlModeIsAutoOrNo() throws Exception {
        assertEquals(Connector.ControlMode.AUTO, parse("run", "true").controlMode());
        assertEquals(Connector.ControlMode.NO, parse("run", "--control", "no", "true").controlMode());
        assertThrows(TetherException.class, () -> parse("run", "--control", "maybe", "true").controlMode());
    }

    @Test
    void inheritedFdsComeFromTheLauncherProperty() throws Exception {
        assertEquals(List.of(3, 4, 7), RunCommand.inheritedFds("3,4,7"));
        assertEquals(List.of(), RunCommand.inheritedFds(""));
        assertEquals(List.of(), RunCommand.inheritedFds(null));
        assertThrows(TetherException.class, () -> RunCommand.inheritedFds("1"));
        assertThrows(TetherException.class, () -> RunCommand.inheritedFds("x"));
    }

    @Test
    void missingCommandIsAUsageErrorWithExit255() {
        assertEquals(255, Tether.execute(new String[] {"run"}));
        assertEquals(255, Tether.execute(new String[] {"run", "--no-such-option", "true"}));
    }

    @Test
    void unknownTargetFailsWith255BeforeConnecting() {
        assertEquals(255, Tether.execute(new String[] {"run", "-t", "ssh://", "true"}));
    }

    @Test
    void versionAndHelpExitZero() {
        assertEquals(0, Tether.execute(new String[] {"--version"}));
        assertEquals(0, Tether.execute(new String[] {"run", "--help"}));
    }

    @Test
    void fastParserAgreesWithPicocliOrDefersToIt() {
        String[][] cases = {
                {"run", "true"},
                {"run", "-t", "ssh://root@h:2222", "-i", "/k", "--known-hosts", "/kh", "--accept-new-host-key", "-w", "/w",
                        "-e", "A=1", "--env", "B=2", "--env=C=3", "--", "sh", "-c", "echo hi"},
                {"run", "--target=dev", "--identity=/k", "--known-hosts=/kh", "--workdir=/w", "--tty", "make", "-j8"},
                {"run", "-T", "--control", "no", "--control-persist", "30", "--log-level", "debug", "ls", "-la", "-t", "x"},
                {"run", "--no-tty", "--stdio-command", "ssh -T dev tetherd --stdio", "--control=auto", "--control-persist=0", "id"},
                {"run", "-", "arg"},
                {"run", "--", "--weird", "-t"},
                {"run", "-r", "/srv/arm64", "-q", "qemu-aarch64-static -cpu max", "--", "uname", "-m"},
                {"run", "--rootfs=/srv/arm64", "--qemu=qemu-aarch64-static", "uname"},
                {"run", "-r", "/srv/r", "-b", "/usr/bin:/host/bin", "--host-exec", "/host/bin/*", "--host-exec=/opt/**", "make"},
                {"run", "--argv0", "ls", "/bin/busybox", "-l"},
                {"run", "--argv0=-sh", "--", "/bin/sh"},
        };
        for (String[] args : cases) {
            RunCommand fast = FastRunParser.parse(args);
            assertTrue(fast != null, () -> "fast path for " + List.of(args));
            assertEquals(FastRunParser.fields(parse(args)), FastRunParser.fields(fast), () -> List.of(args).toString());
        }
        String[][] deferred = {
                {"run"}, {"run", "--"}, {"run", "--help"}, {"run", "-V"}, {"run", "-tdev", "true"}, {"run", "-t"},
                {"run", "-t", "a", "-t", "b", "true"}, {"run", "--target", "a", "-t", "b", "true"}, {"run", "--tty", "--tty", "x"},
                {"run", "--control-persist", "soon", "x"}, {"run", "--bogus", "x"}, {"run", "-e", "-x", "y"},
                {"run", "--tty=true", "x"}, {"--version"}, {"agent", "--control-dir", "/d"}, {},
        };
        for (String[] args : deferred) {
            assertNull(FastRunParser.parse(args), () -> "picocli must handle " + List.of(args));
        }
    }

    @Test
    void picocliRefusesRepeatedOptionsTheFastPathDefers() {
        assertThrows(CommandLine.ParameterException.class, () -> parse("run", "-t", "a", "--target", "b", "true"));
    }

    @Test
    void logLevelIsFoundBeforeTheCommandOnly() {
        assertEquals("debug", LogLevels.find(new String[] {"run", "--log-level", "debug", "x"}));
        assertEquals("info", LogLevels.find(new String[] {"run", "--log-level=info", "x"}));
        assertNull(LogLevels.find(new String[] {"run", "--", "prog", "--log-level", "debug"}));
    }
}
