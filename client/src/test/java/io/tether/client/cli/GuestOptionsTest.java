package io.tether.client.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tether.client.Tether;
import io.tether.client.TetherException;
import io.tether.client.session.RunSpec;
import io.tether.client.targets.Target;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class GuestOptionsTest {
    @TempDir Path tmp;

    private static RunCommand parse(String... args) {
        CommandLine cl = new CommandLine(new Tether());
        cl.setStopAtPositional(true);
        return (RunCommand) cl.parseArgs(args).subcommand().commandSpec().userObject();
    }

    @Test
    void rootfsBindsAndNoDefaultBindsReachTheSpecAsAbsoluteTargetPaths() throws Exception {
        RunSpec s = parse("run", "-r", "/srv/rootfs", "-b", "/opt/sdk", "-b", "/home/me/src:/src", "--no-default-binds",
                "-w", "/src", "make").runSpec(Target.local(), Map.of("PATH", "/bin"), 022);
        assertEquals(new RunSpec.Guest("/srv/rootfs", List.of("/opt/sdk", "/home/me/src:/src"), true), s.guest());
        assertEquals("/src", s.cwd());
        assertTrue(s.cwdRequired());
        assertTrue(s.env().contains("PWD=/src"), s.env().toString());
    }

    @Test
    void withoutDashRThereIsNoGuestAndBindsAreRefused() throws Exception {
        assertNull(parse("run", "true").runSpec(Target.local(), Map.of(), 022).guest());
        assertThrows(TetherException.class, () -> parse("run", "-b", "/x", "true").runSpec(Target.local(), Map.of(), 022));
    }

    @Test
    void qemuIsSplitIntoTheProgramAndItsOptionsAndNeedsRootfs() throws Exception {
        RunSpec s = parse("run", "-r", "/srv/arm64", "-q", " qemu-aarch64-static  -cpu max ", "uname", "-m")
                .runSpec(Target.local(), Map.of(), 022);
        assertEquals(List.of("qemu-aarch64-static", "-cpu", "max"), s.guest().qemu());
        assertEquals(List.of(), parse("run", "-r", "/srv/arm64", "true").runSpec(Target.local(), Map.of(), 022).guest().qemu());
        assertEquals(List.of("/opt/qemu-aarch64"),
                parse("run", "-r", "/srv/arm64", "--qemu=/opt/qemu-aarch64", "true").runSpec(Target.local(), Map.of(), 022).guest().qemu());
        assertThrows(TetherException.class, () -> parse("run", "-q", "qemu-aarch64-static", "true").runSpec(Target.local(), Map.of(), 022));
        assertThrows(TetherException.class, () -> parse("run", "-r", "/srv/arm64", "-q", " ", "true").runSpec(Target.local(), Map.of(), 022));
    }

    @Test
    void guestCwdIsTheClientCwdsPlaceInTheRootfsElseRoot() throws Exception {
        assertEquals("/home/user", GuestOptions.guestCwd("/srv/rootfs", "/srv/rootfs/home/user"));
        assertEquals("/", GuestOptions.guestCwd("/srv/rootfs", "/srv/rootfs"));
        assertEquals("/", GuestOptions.guestCwd("/srv/rootfs/", "/srv/rootfs/."));
        assertEquals("/", GuestOptions.guestCwd("/srv/rootfs", "/srv/rootfs-other/x"));
        assertEquals("/", GuestOptions.guestCwd("/srv/rootfs", "/home/me"));
        // Through a symlink to the rootfs: compared once resolved.
        Path root = Files.createDirectories(tmp.resolve("rootfs/usr/src"));
        Path link = Files.createSymbolicLink(tmp.resolve("link"), tmp.resolve("rootfs"));
        assertEquals("/usr/src", GuestOptions.guestCwd(tmp.resolve("rootfs").toString(), link.resolve("usr/src").toString()));
        assertEquals("/usr/src", GuestOptions.guestCwd(link.toString(), root.toString()));
    }

    @Test
    void withoutDashWTheClientCwdIsMappedAndWithItTheGuestPathIsKept() throws Exception {
        Path inside = Files.createDirectories(tmp.resolve("rootfs/work"));
        GuestOptions g = parse("run", "-r", tmp.resolve("rootfs").toString(), "pwd").guest;
        assertEquals("/work", g.cwd(inside.toString(), false));
        assertEquals("/", g.cwd(tmp.toString(), false));
        assertEquals("/etc", g.cwd("/etc", true));
        assertEquals(tmp.toString(), parse("run", "pwd").guest.cwd(tmp.toString(), false), "no -r: unchanged");
    }

    @Test
    void fastParserAgreesWithPicocliOnGuestOptions() {
        String[][] cases = {
                {"run", "-r", "/srv/rootfs", "-b", "/a", "--bind", "/b:/c", "--bind=/d", "--no-default-binds", "sh"},
                {"run", "--rootfs=/r", "-w", "/tmp", "--", "ls"},
                {"run", "--map-cmd", "-r", "/r", "-b", "/src", "--", "./conftest", "-x"},
        };
        for (String[] args : cases) {
            RunCommand fast = FastRunParser.parse(args);
            assertNotNull(fast, () -> "fast path for " + List.of(args));
            assertEquals(FastRunParser.fields(parse(args)), FastRunParser.fields(fast), () -> List.of(args).toString());
        }
        assertNull(FastRunParser.parse(new String[] {"run", "-r", "/a", "-r", "/b", "x"}), "a repeated -r is picocli's to refuse");
    }

    @Test
    void hostExecGlobsReachTheSpecAndNeedRootfsAndAnAbsolutePath() throws Exception {
        RunSpec s = parse("run", "-r", "/srv/rootfs", "--host-exec", "/host/bin/*", "--host-exec", "/opt/**", "make")
                .runSpec(Target.local(), Map.of("PATH", "/bin"), 022);
        assertEquals(List.of("/host/bin/*", "/opt/**"), s.guest().hostExec());
        assertThrows(TetherException.class, () -> parse("run", "--host-exec", "/x", "true").runSpec(Target.local(), Map.of(), 022));
        assertThrows(TetherException.class,
                () -> parse("run", "-r", "/srv/rootfs", "--host-exec", "bin/*", "true").runSpec(Target.local(), Map.of(), 022));
    }

    @Test
    void aBindShowsTheClientCwdAtItsGuestPathTheLongestHostPrefixWinning() throws Exception {
        List<String[]> binds = List.<String[]>of(new String[] {"/home/me/src", null}, new String[] {"/home/me/src/sdk", "/opt/sdk"},
                new String[] {"/srv/rootfs/usr/src", "/mnt"});
        assertEquals("/home/me/src/prog", GuestOptions.guestPath("/srv/rootfs", binds, "/home/me/src/prog"));
        assertEquals("/home/me/src", GuestOptions.guestPath("/srv/rootfs", binds, "/home/me/src"));
        assertEquals("/opt/sdk/bin", GuestOptions.guestPath("/srv/rootfs", binds, "/home/me/src/sdk/bin"));
        assertEquals("/mnt/x", GuestOptions.guestPath("/srv/rootfs", binds, "/srv/rootfs/usr/src/x"), "a bind inside ROOTFS is more specific");
        assertEquals("/usr/lib", GuestOptions.guestPath("/srv/rootfs", binds, "/srv/rootfs/usr/lib"));
        assertNull(GuestOptions.guestPath("/srv/rootfs", binds, "/home/me/srcs"));
        assertNull(GuestOptions.guestPath("/srv/rootfs", binds, "/home/me"));
    }

    @Test
    void argv0IsWhatTheProgramSeesWhileMapCmdMapsTheProgramItself() throws Exception {
        Path rootfs = Files.createDirectories(tmp.resolve("rootfs/usr/bin"));
        String r = tmp.resolve("rootfs").toString();
        RunSpec plain = parse("run", "--argv0=-sh", "/bin/sh", "-c", "x").runSpec(Target.local(), Map.of(), 022, tmp.toString(), List.of());
        assertEquals(List.of("-sh", "-c", "x"), plain.argv());
        assertEquals("/bin/sh", plain.program());
        RunSpec mapped = parse("run", "--map-cmd", "--argv0", "ls", "-r", r, rootfs.resolve("busybox").toString(), "-l")
                .runSpec(Target.local(), Map.of(), 022, rootfs.toString(), List.of());
        assertEquals(List.of("ls", "-l"), mapped.argv(), "argv[0] is kept as the caller gave it");
        assertEquals("/usr/bin/busybox", mapped.program());
        RunSpec without = parse("run", "/bin/true").runSpec(Target.local(), Map.of(), 022, tmp.toString(), List.of());
        assertEquals(null, without.program());
        assertEquals("/bin/true", without.executable());
    }

    @Test
    void mapCmdTurnsTheHostProgramIntoItsGuestPathAndRefusesWhatTheGuestCannotSee() throws Exception {
        Path rootfs = Files.createDirectories(tmp.resolve("rootfs/usr/bin"));
        Path src = Files.createDirectories(tmp.resolve("src/prog"));
        String r = tmp.resolve("rootfs").toString();
        RunSpec inBind = parse("run", "--map-cmd", "-t", "local", "-r", r, "-b", tmp.resolve("src").toString(), "./conftest", "a")
                .runSpec(Target.local(), Map.of(), 022, src.toString(), List.of());
        assertEquals(List.of("./conftest", "a"), inBind.argv(), "relative: the guest cwd is the same directory");
        assertEquals(src.toString(), inBind.cwd(), "an identity bind keeps the path");
        RunSpec bare = parse("run", "--map-cmd", "-r", r, "-b", tmp.resolve("src").toString(), "conftest")
                .runSpec(Target.local(), Map.of(), 022, src.toString(), List.of());
        assertEquals(List.of("./conftest"), bare.argv(), "never a PATH search");
        RunSpec absolute = parse("run", "--map-cmd", "-r", r, rootfs.resolve("env").toString(), "-i")
                .runSpec(Target.local(), Map.of(), 022, rootfs.toString(), List.of());
        assertEquals(List.of("/usr/bin/env", "-i"), absolute.argv());
        assertEquals("/usr/bin", absolute.cwd());
        TetherException cwdOutside = assertThrows(TetherException.class, () -> parse("run", "--map-cmd", "-r", r, "./x")
                .runSpec(Target.local(), Map.of(), 022, tmp.toString(), List.of()));
        assertTrue(cwdOutside.getMessage().contains("working directory"), cwdOutside.getMessage());
        TetherException programOutside = assertThrows(TetherException.class, () -> parse("run", "--map-cmd", "-r", r, "/bin/x")
                .runSpec(Target.local(), Map.of(), 022, rootfs.toString(), List.of()));
        assertTrue(programOutside.getMessage().startsWith("/bin/x is not inside ROOTFS"), programOutside.getMessage());
        assertEquals("/", parse("run", "-r", r, "./x").runSpec(Target.local(), Map.of(), 022, tmp.toString(), List.of()).cwd(),
                "without --map-cmd a directory the guest cannot see is /, as before");
        assertThrows(TetherException.class, () -> parse("run", "--map-cmd", "./x").runSpec(Target.local(), Map.of(), 022));
    }
}
