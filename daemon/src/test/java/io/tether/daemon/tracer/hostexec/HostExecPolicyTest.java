package io.tether.daemon.tracer.hostexec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class HostExecPolicyTest {
    private static final int X86 = ElfMachine.EM_X86_64, ARM64 = ElfMachine.EM_AARCH64;

    @Test
    void offRoutesNothingToTheHost() {
        HostExecPolicy off = HostExecPolicy.off();
        assertFalse(off.enabled());
        assertFalse(off.route(List.of("/usr/bin/tr"), X86).onHost());
    }

    @Test
    void aStarStaysWithinOneComponentAndTwoStarsCrossThem() {
        HostExecPolicy p = HostExecPolicy.of(List.of("/host/bin/*", "/opt/tools/**"), X86, X86);
        assertTrue(p.route(List.of("/host/bin/tr"), ElfMachine.NONE).onHost());
        assertFalse(p.route(List.of("/host/bin/sub/tr"), ElfMachine.NONE).onHost());
        assertTrue(p.route(List.of("/opt/tools/a/b/gen"), ElfMachine.NONE).onHost());
        assertFalse(p.route(List.of("/usr/bin/tr"), ElfMachine.NONE).onHost());
        assertEquals("matches --host-exec /host/bin/*", p.route(List.of("/host/bin/tr"), X86).why());
    }

    @Test
    void anyOfTheNamesOfTheProgramMayMatch() {
        HostExecPolicy p = HostExecPolicy.of(List.of("/usr/local/bin/protoc"), X86, X86);
        assertTrue(p.route(List.of("/link/to/protoc", "/usr/local/bin/protoc"), ElfMachine.NONE).onHost());
    }

    @Test
    void anElfOfTheHostsMachineGoesToTheHostOnlyWhenTheTargetsDiffers() {
        HostExecPolicy foreignTarget = HostExecPolicy.of(List.of(), X86, ARM64);
        assertTrue(foreignTarget.route(List.of("/usr/bin/gen"), X86).onHost());
        assertFalse(foreignTarget.route(List.of("/usr/bin/app"), ARM64).onHost());
        assertFalse(foreignTarget.route(List.of("/usr/bin/script"), ElfMachine.NONE).onHost());
        HostExecPolicy sameMachine = HostExecPolicy.of(List.of(), X86, X86);
        assertFalse(sameMachine.route(List.of("/usr/bin/gen"), X86).onHost());
        HostExecPolicy unknownHost = HostExecPolicy.of(List.of(), ElfMachine.NONE, ARM64);
        assertFalse(unknownHost.route(List.of("/usr/bin/gen"), X86).onHost());
        HostExecPolicy underQemu = HostExecPolicy.of(List.of(), X86, ElfMachine.NONE); // -q: the run's machine is qemu's
        assertTrue(underQemu.route(List.of("/mnt/busybox"), X86).onHost());
        assertFalse(underQemu.route(List.of("/bin/sh"), ARM64).onHost());
    }

    @Test
    void relativeGlobsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> HostExecPolicy.of(List.of("bin/*"), X86, X86));
    }
}
