package io.tether.daemon.tracer.seccomp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tether.daemon.tracer.arch.Arch;
import io.tether.daemon.tracer.arch.Arches;
import io.tether.daemon.tracer.arch.Sys;
import io.tether.posix.Errno;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class SeccompProgramTest {
    static List<Arch> arches() {
        return Arches.all();
    }

    @ParameterizedTest
    @MethodSource("arches")
    void trapsExactlyTheTrappedSyscallsOfTheArch(Arch arch) {
        byte[] program = SeccompProgram.forTrappedSyscalls(arch).toBytes();
        int traced = 0;
        for (int nr = 0; nr < 1024; nr++) {
            Sys sys = arch.table().sysOrNull(nr);
            int expected = sys != null && sys.trapped() ? Bpf.RET_TRACE : Bpf.RET_ALLOW;
            assertEquals(expected, BpfInterpreter.run(program, nr, arch.auditArch()),
                    arch + " nr " + nr + " (" + sys + ")");
            if (expected == Bpf.RET_TRACE) traced++;
        }
        assertTrue(traced > 50, "too few trapped: " + traced);
    }

    @ParameterizedTest
    @MethodSource("arches")
    void injectedSyscallsAndHotPathRunUntraced(Arch arch) {
        byte[] program = SeccompProgram.forTrappedSyscalls(arch).toBytes();
        assertEquals(Bpf.RET_ALLOW, BpfInterpreter.run(program, arch.table().number(Sys.PRCTL), arch.auditArch()));
        assertEquals(Bpf.RET_ALLOW, BpfInterpreter.run(program, arch.table().number(Sys.SECCOMP), arch.auditArch()));
        assertEquals(Bpf.RET_TRACE, BpfInterpreter.run(program, arch.table().number(Sys.OPENAT), arch.auditArch()));
        assertEquals(Bpf.RET_TRACE, BpfInterpreter.run(program, arch.table().number(Sys.EXECVE), arch.auditArch()));
    }

    @ParameterizedTest
    @MethodSource("arches")
    void aForeignAuditArchKillsTheProcess(Arch arch) {
        byte[] program = SeccompProgram.forTrappedSyscalls(arch).toBytes();
        for (Arch other : Arches.all()) {
            if (other == arch) continue;
            assertEquals(Bpf.RET_KILL_PROCESS, BpfInterpreter.run(program, 0, other.auditArch()));
        }
        assertEquals(Bpf.RET_KILL_PROCESS, BpfInterpreter.run(program, 0, 0x40000003)); // i386
    }

    @Test
    void x32SyscallsFailWithEnosysInsteadOfBypassingTranslation() {
        byte[] program = SeccompProgram.forTrappedSyscalls(Arches.X86_64).toBytes();
        int x32Open = 0x40000000 | 2;
        assertEquals(Bpf.RET_ERRNO | Errno.ENOSYS, BpfInterpreter.run(program, x32Open, Arches.X86_64.auditArch()));
    }

    @Test
    void longListsStayWithinConditionalJumpRange() {
        List<Integer> many = new ArrayList<>();
        for (int nr = 0; nr < 1000; nr += 2) many.add(nr);
        byte[] program = SeccompProgram.build(Arches.AARCH64, many).toBytes();
        for (int nr = 0; nr < 1010; nr++) {
            int expected = nr < 1000 && nr % 2 == 0 ? Bpf.RET_TRACE : Bpf.RET_ALLOW;
            assertEquals(expected, BpfInterpreter.run(program, nr, Arches.AARCH64.auditArch()), "nr " + nr);
        }
    }

    @Test
    void oneFilterServesAarch64AndArmTraceesEachWithItsOwnNumbers() {
        byte[] program = SeccompProgram.forTrappedSyscalls(List.of(Arches.AARCH64, Arches.ARM_EABI)).toBytes();
        for (Arch arch : List.of(Arches.AARCH64, Arches.ARM_EABI)) {
            for (int nr = 0; nr < 1024; nr++) {
                Sys sys = arch.table().sysOrNull(nr);
                int expected = sys != null && sys.trapped() ? Bpf.RET_TRACE : Bpf.RET_ALLOW;
                assertEquals(expected, BpfInterpreter.run(program, nr, arch.auditArch()), arch + " nr " + nr);
            }
        }
        assertEquals(Bpf.RET_KILL_PROCESS, BpfInterpreter.run(program, 2, Arches.X86_64.auditArch()));
    }

    @Test
    void emptyTrapSetAllowsEverything() {
        byte[] program = SeccompProgram.build(Arches.X86_64, List.of()).toBytes();
        assertEquals(Bpf.RET_ALLOW, BpfInterpreter.run(program, 257, Arches.X86_64.auditArch()));
    }
}
