package io.tether.client.control;

import io.tether.client.targets.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ControlPathsTest {
    @TempDir
    Path dir;

    private static Target target() {
        return new Target("t", Target.Kind.SSH, "u", "h", 22, null, null, false, null, Map.of(), Target.DEFAULT_CONTROL_PERSIST);
    }

    @Test
    void socketLockAndLogAreNamedByTheTargetsKey() throws Exception {
        ControlPaths p = ControlPaths.of(dir.resolve("control"), target());
        p.prepare();
        assertEquals(dir.resolve("control/" + target().controlKey() + ".sock"), p.socket());
        assertEquals(p.socket().resolveSibling(target().controlKey() + ".lock"), p.lock());
        assertEquals(p.socket().resolveSibling(target().controlKey() + ".log"), p.log());
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(p.dir())));
    }

    @Test
    void tooDeepADirectoryFallsBackToAShortOne() throws Exception {
        Path deep = dir.resolve("x".repeat(60)).resolve("y".repeat(60));
        ControlPaths p = ControlPaths.of(deep, target());
        assertTrue(p.dir().toString().startsWith("/tmp/tether-"), p.dir().toString());
        assertTrue(p.socket().toString().length() < 108);
    }

    @Test
    void defaultDirPrefersXdgRuntimeDir() {
        assertEquals(dir.resolve("tether"), ControlPaths.defaultDir(Map.of("XDG_RUNTIME_DIR", dir.toString())));
        assertTrue(ControlPaths.defaultDir(Map.of()).endsWith(Path.of(".cache/tether/control")));
    }
}
