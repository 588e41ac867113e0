package io.tether.client.cli;

import io.tether.client.TetherException;
import io.tether.client.session.RunSpec;
import io.tether.client.targets.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FrontDoorPlanTest {
    private static final Map<String, String> ENV = Map.of("PATH", "/fe/bin", "SSH_TTY", "/dev/pts/9", "TETHER_TARGET", "local",
            "FE_ONLY", "yes", "TETHER_CONFIG", "/nonexistent/targets.properties");

    private static FrontDoorPlan.Plan plan(String... args) throws TetherException {
        return FrontDoorPlan.plan(args, ENV, "/", 027, List.of(3, 7));
    }

    @Test
    void whatTheJvmClientShouldHandleIsNoPlan() throws TetherException {
        assertNull(plan("run", "--help"));
        assertNull(plan("run", "-t", "ssh://h", "--control", "no", "--", "true"));
        assertNull(plan("run", "-t", "ssh://h", "--log-level", "debug", "--", "true"));
        assertNull(plan("agent", "--control-dir", "/x"));
    }

    @Test
    void localTargetIsPlannedUnlessTheCallerSetsJvmOptions() throws TetherException {
        FrontDoorPlan.Plan p = plan("run", "--", "true");
        assertNotNull(p, "TETHER_TARGET=local from the front end's environment");
        assertEquals(Target.Kind.LOCAL, p.target().kind());
        assertNotNull(plan("run", "-t", "local", "-w", "/tmp", "-e", "A=1", "--tty", "--", "true"));
        for (String name : List.of("TETHER_JAVA_OPTS", "JAVA", "JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS")) {
            Map<String, String> env = new java.util.HashMap<>(ENV);
            env.put(name, "-Dtetherd.tracer.refuse=mkdir");
            assertNull(FrontDoorPlan.plan(new String[] {"run", "--", "true"}, env, "/", 022, List.of()), name);
        }
    }

    @Test
    void aLocalGuestRootTakesRelativePathsAndTheGuestCwdFromTheFrontEndsDirectory(@TempDir Path dir) throws Exception {
        Path root = Files.createDirectories(dir.resolve("rootfs/home/user"));
        Files.createDirectories(dir.resolve("extra"));
        FrontDoorPlan.Plan p = FrontDoorPlan.plan(new String[] {"run", "-r", "../..", "-b", "../../../extra:/mnt", "--no-default-binds",
                "--", "pwd"}, ENV, root.toString(), 022, List.of());
        assertNotNull(p);
        RunSpec.Guest g = p.spec().guest();
        assertEquals(dir.resolve("rootfs").toString(), g.root());
        assertEquals(List.of(dir.resolve("extra") + ":/mnt"), g.binds());
        assertTrue(g.noDefaultBinds());
        assertEquals("/home/user", p.spec().cwd());
    }

    @Test
    void aGuestRootOnAnSshTargetIsPlannedUnlessTheCallerSetsJvmOptions(@TempDir Path dir) throws Exception {
        Path root = Files.createDirectories(dir.resolve("rootfs/home/user"));
        FrontDoorPlan.Plan p = FrontDoorPlan.plan(new String[] {"run", "-t", "ssh://h", "-r", "../..", "-b", "../../../extra:/mnt",
                "--", "pwd"}, ENV, root.toString(), 022, List.of());
        assertNotNull(p, "the door serves the host's files itself");
        assertEquals(Target.Kind.SSH, p.target().kind());
        assertEquals(dir.resolve("rootfs").toString(), p.spec().guest().root());
        assertEquals(List.of(dir.resolve("extra") + ":/mnt"), p.spec().guest().binds());
        assertEquals("/home/user", p.spec().cwd());
        assertNull(FrontDoorPlan.plan(new String[] {"run", "-t", "ssh://h", "-r", "/srv/rootfs", "--host-exec", "/host/*", "--", "true"},
                ENV, "/", 022, List.of()), "host execs need a connection of their own");
        Map<String, String> env = new java.util.HashMap<>(ENV);
        env.put("JAVA_TOOL_OPTIONS", "-Dsun.jnu.encoding=ISO-8859-1");
        assertNull(FrontDoorPlan.plan(new String[] {"run", "-t", "ssh://h", "-r", "/srv/rootfs", "--", "true"}, env, "/", 022,
                List.of()), "its file server would run in another JVM");
        assertNotNull(FrontDoorPlan.plan(new String[] {"run", "-t", "ssh://h", "--", "true"}, env, "/", 022, List.of()));
    }

    @Test
    void theFrontEndsEnvironmentUmaskAndFdsMakeTheSpec() throws TetherException {
        FrontDoorPlan.Plan p = plan("run", "-t", "ssh://root@h:2222", "-e", "X=1", "--", "make", "-j8");
        assertNotNull(p);
        assertEquals(Target.Kind.SSH, p.target().kind());
        assertEquals(List.of("make", "-j8"), p.spec().argv());
        assertEquals(027, p.spec().umask());
        assertEquals(List.of(3, 7), p.spec().extraFds());
        List<String> env = p.spec().env();
        assertTrue(env.contains("PATH=/fe/bin") && env.contains("FE_ONLY=yes") && env.contains("X=1"), env.toString());
        assertTrue(env.contains("PWD=/"), env.toString());
        assertFalse(env.stream().anyMatch(e -> e.startsWith("SSH_") || e.startsWith("TETHER_")), env.toString());
        assertEquals("/", p.spec().cwd());
    }

    @Test
    void relativeKeyPathsAreTheFrontEndsNotTheDoors(@TempDir Path dir) throws Exception {
        Files.createDirectories(dir.resolve("keys"));
        FrontDoorPlan.Plan p = FrontDoorPlan.plan(new String[] {"run", "-t", "ssh://h", "-i", "keys/id", "--known-hosts", "kh",
                "--", "true"}, ENV, dir.toString(), 022, List.of());
        assertEquals(dir.resolve("keys/id"), p.target().identity());
        assertEquals(dir.resolve("kh"), p.target().knownHosts());
        assertEquals(dir.toString(), p.spec().cwd());
    }

    @Test
    void aBadTargetIsReportedAsTetherRunWould() {
        TetherException e = assertThrows(TetherException.class, () -> plan("run", "-t", "bad target!", "--", "true"));
        assertTrue(e.getMessage().startsWith("bad target 'bad target!'"), e.getMessage());
    }
}
