package io.tether.client.binfmt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tether.client.TetherException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The registration line and the launcher against a stand-in binfmt_misc directory (the kernel's own is exercised by
 * BinfmtE2eTest in a user namespace of its own).
 */
class BinfmtRegistryTest {
    @TempDir Path tmp;

    @Test
    void installWritesAnExecutableLauncherAndRegistersItWithTheAarch64Magic() throws Exception {
        Path proc = Files.createDirectories(tmp.resolve("binfmt_misc"));
        Files.writeString(proc.resolve("register"), "");
        BinfmtRegistry r = new BinfmtRegistry(proc, tmp.resolve("handlers"));
        List<String> warnings = r.install(BinfmtArch.of("arm64"), List.of("/opt/tether/bin/tether", "run", "-t", "it's", "-r", "/srv/r"));
        assertEquals(List.of(), warnings);
        Path launcher = tmp.resolve("handlers/tether-aarch64");
        assertEquals(":tether-aarch64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:"
                + "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:" + launcher + ":FP",
                Files.readString(proc.resolve("register")));
        assertTrue(Files.isExecutable(launcher));
        String script = Files.readString(launcher);
        assertTrue(script.startsWith("#!/bin/sh\n"), script);
        assertTrue(script.endsWith("\nexec '/opt/tether/bin/tether' 'run' '-t' 'it'\\''s' '-r' '/srv/r' --argv0=\"$argv0\" -- \"$program\" \"$@\"\n"),
                script);
    }

    @Test
    void theLauncherPassesTheKernelsArgumentsThroughUnchanged() throws Exception {
        String script = BinfmtRegistry.script(BinfmtArch.of("aarch64"), List.of("printf", "[%s]"));
        Path launcher = tmp.resolve("launcher");
        Files.writeString(launcher, script);
        Process p = new ProcessBuilder("sh", launcher.toString(), "./conf test", "-my name", "", "a'b", "$HOME").redirectErrorStream(true).start();
        assertEquals("[--argv0=-my name][--][./conf test][][a'b][$HOME]", new String(p.getInputStream().readAllBytes()));
        assertEquals(0, p.waitFor());
        Process bare = new ProcessBuilder("sh", launcher.toString(), "/x/prog").redirectErrorStream(true).start();
        assertEquals("[--argv0=/x/prog][--][/x/prog]", new String(bare.getInputStream().readAllBytes()), "an empty argv: the path names it");
        assertEquals(0, bare.waitFor());
    }

    @Test
    void withoutBinfmtMiscInstallFailsAndRemoveOfNothingSaysSo() throws Exception {
        BinfmtRegistry r = new BinfmtRegistry(tmp.resolve("none"), tmp.resolve("handlers"));
        TetherException e = assertThrows(TetherException.class, () -> r.install(BinfmtArch.of("aarch64"), List.of("x")));
        assertTrue(e.getMessage().contains("mount -t binfmt_misc"), e.getMessage());
        assertFalse(r.remove(BinfmtArch.of("aarch64")));
        assertThrows(TetherException.class, () -> BinfmtArch.of("sparc"));
    }

    @Test
    void shownMagicIsTheKernelsSpelling() throws Exception {
        assertEquals("7f454c460201010000000000000000000200b700", BinfmtArch.of("aarch64").shownMagic());
    }
}
