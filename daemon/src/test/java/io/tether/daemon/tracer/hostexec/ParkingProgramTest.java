package io.tether.daemon.tracer.hostexec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tether.daemon.tracer.arch.Arches;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ParkingProgramTest {
    @TempDir
    Path tmp;

    @Test
    void isAStaticElfOfTheArchAndNoneIsBuiltForOthers() {
        byte[] image = ParkingProgram.image(Arches.X86_64);
        assertEquals(ElfMachine.EM_X86_64, ElfMachine.of(image));
        assertNull(ParkingProgram.image(Arches.AARCH64));
        assertNull(ParkingProgram.install(tmp, Arches.AARCH64));
    }

    @Test
    void installsOnceAndReplacesADifferentFile() throws Exception {
        String path = ParkingProgram.install(tmp, Arches.X86_64);
        assertNotNull(path);
        Files.writeString(Path.of(path), "tampered");
        assertEquals(path, ParkingProgram.install(tmp, Arches.X86_64));
        assertArrayEquals(ParkingProgram.image(Arches.X86_64), Files.readAllBytes(Path.of(path)));
        assertTrue(Files.isExecutable(Path.of(path)));
    }

    @Test
    void waitsUntilASignalEndsIt() throws Exception {
        assumeTrue(Arches.host().orElse(null) == Arches.X86_64, "runs the x86_64 program");
        String path = ParkingProgram.install(tmp, Arches.X86_64);
        Process p = new ProcessBuilder(path).start(); // untraced: a plain child of the test JVM
        assertTrue(!p.waitFor(300, TimeUnit.MILLISECONDS), "the parking program must wait");
        p.destroy(); // SIGTERM, default action
        assertTrue(p.waitFor(5, TimeUnit.SECONDS));
        assertEquals(128 + 15, p.exitValue());
    }
}
