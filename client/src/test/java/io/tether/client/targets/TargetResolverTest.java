package io.tether.client.targets;

import io.tether.client.TetherException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TargetResolverTest {
    @TempDir
    Path dir;

    private TargetResolver resolver(String config) throws IOException {
        Path file = dir.resolve("targets.properties");
        if (config != null) Files.writeString(file, config);
        return new TargetResolver(file, "me", dir.resolve("home"));
    }

    @Test
    void defaultAndLocalAreTheInProcessDaemon() throws Exception {
        TargetResolver r = resolver(null);
        assertEquals(Target.Kind.LOCAL, r.resolve(null, TargetResolver.Overrides.none()).kind());
        assertEquals(Target.Kind.LOCAL, r.resolve("local", TargetResolver.Overrides.none()).kind());
    }

    @Test
    void sshUrlWithUserAndPort() throws Exception {
        Target t = resolver(null).resolve("ssh://root@127.77.0.2:2222", TargetResolver.Overrides.none());
        assertEquals(Target.Kind.SSH, t.kind());
        assertEquals("root", t.user());
        assertEquals("127.77.0.2", t.host());
        assertEquals(2222, t.port());
        assertEquals("ssh://root@127.77.0.2:2222", t.describe());
    }

    @Test
    void sshUrlDefaultsToCurrentUserAndPort22() throws Exception {
        Target t = resolver(null).resolve("ssh://devbox", TargetResolver.Overrides.none());
        assertEquals("me", t.user());
        assertEquals(22, t.port());
    }

    @Test
    void ipv6LiteralLosesItsBrackets() throws Exception {
        Target t = resolver(null).resolve("ssh://root@[::1]:2200", TargetResolver.Overrides.none());
        assertEquals("::1", t.host());
        assertEquals("ssh://root@[::1]:2200", t.describe());
    }

    @Test
    void badUrlsAreClearErrors() throws Exception {
        TargetResolver r = resolver(null);
        assertTrue(assertThrows(TetherException.class, () -> r.resolve("http://x", TargetResolver.Overrides.none()))
                .getMessage().contains("only ssh://"));
        assertTrue(assertThrows(TetherException.class, () -> r.resolve("ssh://host/path", TargetResolver.Overrides.none()))
                .getMessage().contains("path"));
        assertTrue(assertThrows(TetherException.class, () -> r.resolve("ssh://u:pw@host", TargetResolver.Overrides.none()))
                .getMessage().contains("passwords"));
        assertTrue(assertThrows(TetherException.class, () -> r.resolve("no such!", TargetResolver.Overrides.none()))
                .getMessage().contains("bad target"));
    }

    @Test
    void namedTargetFromConfigFile() throws Exception {
        TargetResolver r = resolver("""
                dev.url=ssh://root@10.0.0.2:2222
                dev.identity=~/.ssh/id_dev
                dev.known-hosts=kh
                dev.env.CROSS_COMPILE=arm-linux-
                dev.control-persist=30
                """);
        Target t = r.resolve("dev", TargetResolver.Overrides.none());
        assertEquals("dev", t.name());
        assertEquals(Target.Kind.SSH, t.kind());
        assertEquals("10.0.0.2", t.host());
        assertEquals(dir.resolve("home/.ssh/id_dev"), t.identity());
        assertEquals(dir.resolve("kh"), t.knownHosts(), "relative to the config file's directory");
        assertEquals(Map.of("CROSS_COMPILE", "arm-linux-"), t.env());
        assertEquals(Duration.ofSeconds(30), t.controlPersist());
    }

    @Test
    void hostExecGlobsAreCommaSeparatedAbsoluteGuestPaths() throws Exception {
        TargetResolver r = resolver("board.url=ssh://root@h\nboard.host-exec = /usr/bin/perl, /opt/x/* ,\nbad.url=ssh://h\nbad.host-exec=/a,b/*\n");
        assertEquals(List.of("/usr/bin/perl", "/opt/x/*"), r.resolve("board", TargetResolver.Overrides.none()).hostExec());
        assertEquals(List.of(), r.resolve("ssh://root@h", TargetResolver.Overrides.none()).hostExec());
        TetherException e = assertThrows(TetherException.class, () -> r.resolve("bad", TargetResolver.Overrides.none()));
        assertTrue(e.getMessage().contains("bad.host-exec: 'b/*' is not an absolute guest path glob"), e.getMessage());
    }

    @Test
    void commandLineOverridesConfigFile() throws Exception {
        TargetResolver r = resolver("dev.url=ssh://root@10.0.0.2\ndev.identity=/a/key\n");
        Target t = r.resolve("dev", new TargetResolver.Overrides(Path.of("/b/key"), Path.of("/b/kh"), true, null, 5));
        assertEquals(Path.of("/b/key"), t.identity());
        assertEquals(Path.of("/b/kh"), t.knownHosts());
        assertTrue(t.acceptNewHostKey());
        assertEquals(Duration.ofSeconds(5), t.controlPersist());
    }

    @Test
    void stdioCommandTargetNeedsNoUrl() throws Exception {
        TargetResolver r = resolver("box.stdio-command=ssh -T box /opt/tether/bin/tetherd --stdio\n");
        Target t = r.resolve("box", TargetResolver.Overrides.none());
        assertEquals(Target.Kind.STDIO, t.kind());
        assertEquals("ssh -T box /opt/tether/bin/tetherd --stdio", t.stdioCommand());
    }

    @Test
    void stdioCommandOptionWinsOverUrl() throws Exception {
        Target t = resolver(null).resolve("ssh://root@h", new TargetResolver.Overrides(null, null, false, "tetherd --stdio", null));
        assertEquals(Target.Kind.STDIO, t.kind());
        assertEquals("tetherd --stdio", t.stdioCommand());
    }

    @Test
    void unknownNameNamesTheFileAndTheFix() throws Exception {
        TetherException e = assertThrows(TetherException.class,
                () -> resolver("dev.url=ssh://h\n").resolve("prod", TargetResolver.Overrides.none()));
        assertTrue(e.getMessage().contains("unknown target 'prod'"), e.getMessage());
        assertTrue(e.getMessage().contains("prod.url="), e.getMessage());
    }

    @Test
    void missingConfigFileIsAClearError() throws Exception {
        TetherException e = assertThrows(TetherException.class,
                () -> resolver(null).resolve("dev", TargetResolver.Overrides.none()));
        assertTrue(e.getMessage().contains("no targets file"), e.getMessage());
    }

    @Test
    void targetWithoutUrlOrCommandIsAClearError() throws Exception {
        TetherException e = assertThrows(TetherException.class,
                () -> resolver("dev.identity=/k\n").resolve("dev", TargetResolver.Overrides.none()));
        assertTrue(e.getMessage().contains("neither dev.url nor dev.stdio-command"), e.getMessage());
    }

    @Test
    void badControlPersistIsAClearError() throws Exception {
        assertThrows(TetherException.class,
                () -> resolver("dev.url=ssh://h\ndev.control-persist=soon\n").resolve("dev", TargetResolver.Overrides.none()));
    }

    @Test
    void controlKeyDependsOnConnectionSettingsOnly() throws Exception {
        TargetResolver r = resolver(null);
        Target a = r.resolve("ssh://root@h:22", TargetResolver.Overrides.none());
        Target b = r.resolve("ssh://root@h", new TargetResolver.Overrides(null, null, true, null, 9));
        Target c = r.resolve("ssh://root@h:23", TargetResolver.Overrides.none());
        Target d = r.resolve("ssh://root@h:22", new TargetResolver.Overrides(Path.of("/other/key"), null, false, null, null));
        assertEquals(a.controlKey(), b.controlKey());
        assertNotEquals(a.controlKey(), c.controlKey());
        assertNotEquals(a.controlKey(), d.controlKey());
        assertNull(a.identity());
    }
}
