package io.tether.daemon.mirror;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ElfTest {
    @TempDir
    Path tmp;

    @Test
    void readsTheInterpreterNeededLibrariesAndRunpathOfAProgramGccBuilt() throws Exception {
        assumeTrue(System.getProperty("os.arch").equals("amd64"), "x86_64 only");
        Path c = Files.writeString(tmp.resolve("t.c"), "#include <math.h>\nint main(int c, char **v){return (int) sqrt(c);}\n");
        Path out = tmp.resolve("t");
        Process gcc;
        try {
            gcc = new ProcessBuilder("gcc", c.toString(), "-o", out.toString(), "-Wl,--no-as-needed", "-lm",
                    "-Wl,--enable-new-dtags,-rpath,/opt/lib:/opt/more").inheritIO().start();
        } catch (java.io.IOException e) {
            assumeTrue(false, "no gcc");
            return;
        }
        assumeTrue(gcc.waitFor(60, TimeUnit.SECONDS) && gcc.exitValue() == 0, "gcc failed");
        Elf.Info info = Elf.read(out.toString());
        assertEquals(62, info.machine());
        assertEquals("/lib64/ld-linux-x86-64.so.2", info.interp());
        assertEquals(List.of("libm.so.6", "libc.so.6"), info.needed());
        assertEquals(List.of("/opt/lib", "/opt/more"), info.runpath());
        assertEquals("x86_64-linux-gnu", Elf.triplet(info.machine()));
    }

    @Test
    void aScriptOrGarbageNeedsNothing() throws Exception {
        Path script = Files.writeString(tmp.resolve("s"), "#!/bin/sh\necho hi\n");
        assertNull(Elf.read(script.toString()).interp());
        Path garbage = Files.write(tmp.resolve("g"), new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0});
        assertEquals(List.of(), Elf.read(garbage.toString()).needed());
        Path truncated = tmp.resolve("truncated");
        byte[] head = Files.readAllBytes(Path.of("/bin/true"));
        Files.write(truncated, java.util.Arrays.copyOf(head, 200));
        assertEquals(List.of(), Elf.read(truncated.toString()).needed());
    }
}
