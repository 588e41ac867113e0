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
        long[] pointers = {0x7ffd0000L, 0x7ffd1000L, 0x7ffd2000L, 0x7ffd3000L, 0x7ffd4000L, 0x7ffd5000L};
        for (int nr = 0; nr < 1024; nr++) {
            Sys sys = arch.table().sysOrNull(nr);
            int expected = sys != null && sys.trapped() ? Bpf.RET_TRACE : Bpf.RET_ALLOW;
            assertEquals(expected, BpfInterpreter.run(program, nr, arch.auditArch(), pointers),
                    arch + " nr " + nr + " (" + sys + ")");
            if (expected == Bpf.RET_TRACE) traced++;
        }
        assertTrue(traced > 50, "too few trapped: " + traced);
    }

    @ParameterizedTest
    @MethodSource("arches")
    void socketCallsStopOnlyWhenTheirAddressArgumentIsSet(Arch arch) {
        byte[] program = SeccompProgram.forTrappedSyscalls(arch).toBytes();
        int audit = arch.auditArch();
        for (Sys sys : new Sys[] {Sys.SENDTO, Sys.RECVFROM, Sys.ACCEPT, Sys.ACCEPT4, Sys.GETSOCKNAME, Sys.GETPEERNAME}) {
            int nr = arch.table().number(sys);
            if (nr < 0) continue;
            int a = sys.trapOnlyIfArgSet();
            long[] args = {3, 0x1000, 64, 0, 0, 0};
            args[a] = 0;
            assertEquals(Bpf.RET_ALLOW, BpfInterpreter.run(program, nr, audit, args), arch + " " + sys + " with NULL");
            args[a] = 0x7ffd0000L;
            assertEquals(Bpf.RET_TRACE, BpfInterpreter.run(program, nr, audit, args), arch + " " + sys + " low half");
            args[a] = 0x5500000000L;
            assertEquals(Bpf.RET_TRACE, BpfInterpreter.run(program, nr, audit, args), arch + " " + sys + " high half");
        }
        // msg_name is in memory: every sendmsg/recvmsg stops.
        assertEquals(Bpf.RET_TRACE, BpfInterpreter.run(program, arch.table().number(Sys.SENDMSG), audit));
        assertEquals(Bpf.RET_TRACE, BpfInterpreter.run(program, arch.table().number(Sys.RECVMSG), audit));
        assertEquals(Bpf.RET_TRACE, BpfInterpreter.run(program, arch.table().number(Sys.SENDMMSG), audit));
        assertEquals(Bpf.RET_TRACE, BpfInterpreter.run(program, arch.table().number(Sys.RECVMMSG), audit));
    }

    @ParameterizedTest
    @MethodSource("arches")
    void directoryListingsStopOnlyWhenTheRunAsksForThem(Arch arch) {
        int nr = arch.table().number(Sys.GETDENTS64);
        byte[] plain = SeccompProgram.forTrappedSyscalls(arch).toBytes();
        assertEquals(Bpf.RET_ALLOW, BpfInterpreter.run(plain, nr, arch.auditArch()));
        byte[] listing = SeccompProgram.forTrappedSyscalls(arch, java.util.Set.of(Sys.GETDENTS, Sys.GETDENTS64)).toBytes();
        assertEquals(Bpf.RET_TRACE, BpfInterpreter.run(listing, nr, arch.auditArch()));
        assertEquals(Bpf.RET_TRACE, BpfInterpreter.run(listing, arch.table().number(Sys.OPENAT), arch.auditArch()));
        assertEquals(Bpf.RET_ALLOW, BpfInterpreter.run(listing, arch.table().number(Sys.PRCTL), arch.auditArch()));
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
                assertEquals(expected, BpfInterpreter.run(program, nr, arch.auditArch(), 1, 1, 1, 1, 1, 1), arch + " nr " + nr);
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
