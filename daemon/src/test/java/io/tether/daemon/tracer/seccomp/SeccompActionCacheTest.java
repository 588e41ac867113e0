package io.tether.daemon.tracer.seccomp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tether.daemon.tracer.arch.Arch;
import io.tether.daemon.tracer.arch.Arches;
import io.tether.daemon.tracer.arch.Sys;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Untrapped syscalls run at native speed only if the kernel's action cache holds them: a verdict
 * that reads nothing but arch and nr. Checked per syscall number against the kernel's own emulation
 * ({@link KernelActionCache}), structurally, not by timing.
 */
class SeccompActionCacheTest {
    /** Numbers beyond every table here (x86_64 ends near 470), so new kernel syscalls are covered too. */
    private static final int NR_LIMIT = 1024;

    static List<Arch> arches() {
        return Arches.all();
    }

    private static Set<Sys> everyOnDemand() {
        Set<Sys> s = EnumSet.noneOf(Sys.class);
        for (Sys sys : Sys.values()) if (sys.trappedOnDemand()) s.add(sys);
        return s;
    }

    private static boolean mayStop(Sys sys, Set<Sys> onDemand) {
        return sys != null && (sys.trapped() || (sys.trappedOnDemand() && onDemand.contains(sys)));
    }

    @ParameterizedTest
    @MethodSource("arches")
    void everySyscallThatNeverStopsIsCachedAsAllowAndNoOtherIs(Arch arch) {
        for (Set<Sys> onDemand : List.of(Set.<Sys>of(), everyOnDemand())) {
            byte[] program = SeccompProgram.forTrappedSyscalls(arch, onDemand).toBytes();
            int cached = 0;
            for (int nr = 0; nr < NR_LIMIT; nr++) {
                Sys sys = arch.table().sysOrNull(nr);
                boolean expected = !mayStop(sys, onDemand);
                assertEquals(expected, KernelActionCache.alwaysAllows(program, nr, arch.auditArch()),
                        arch + " nr " + nr + " (" + sys + "), on demand " + onDemand);
                if (expected) cached++;
            }
            assertTrue(cached > NR_LIMIT / 2, "too few cached: " + cached);
        }
    }

    @Test
    void theHotUntrappedCallsAreCachedOnX86() {
        Arch arch = Arches.X86_64;
        byte[] program = SeccompProgram.forTrappedSyscalls(arch, everyOnDemand()).toBytes();
        for (Sys sys : new Sys[] {Sys.PRCTL, Sys.SECCOMP, Sys.PPOLL, Sys.RT_SIGPROCMASK, Sys.EXIT_GROUP}) {
            assertTrue(KernelActionCache.alwaysAllows(program, arch.table().number(sys), arch.auditArch()), sys.toString());
        }
        for (int nr : new int[] {0, 1, 3, 9, 39, 110, 202}) {  // read, write, close, mmap, getpid, getppid, futex
            assertTrue(KernelActionCache.alwaysAllows(program, nr, arch.auditArch()), "nr " + nr);
        }
        // A socket call with an address argument reads it: every call runs the filter.
        assertFalse(KernelActionCache.alwaysAllows(program, arch.table().number(Sys.RECVFROM), arch.auditArch()));
    }

    @Test
    void oneFilterForAarch64AndArmIsCachedForBothAbis() {
        // The kernel keeps a native and a compat bitmap: AUDIT_ARCH_AARCH64 and AUDIT_ARCH_ARM.
        List<Arch> both = List.of(Arches.AARCH64, Arches.ARM_EABI);
        byte[] program = SeccompProgram.forTrappedSyscalls(both).toBytes();
        for (Arch arch : both) {
            for (int nr = 0; nr < NR_LIMIT; nr++) {
                Sys sys = arch.table().sysOrNull(nr);
                assertEquals(!mayStop(sys, Set.of()), KernelActionCache.alwaysAllows(program, nr, arch.auditArch()),
                        arch + " nr " + nr + " (" + sys + ")");
            }
        }
    }

    @Test
    void aForeignArchIsNeverCachedAsAllow() {
        byte[] program = SeccompProgram.forTrappedSyscalls(Arches.X86_64).toBytes();
        assertFalse(KernelActionCache.alwaysAllows(program, 64, 0x40000003));  // i386 getppid: killed
    }

    @Test
    void theEmulationGivesUpAtAnArgumentLoadAsTheKernelDoes() {
        // The same filter behind one load of args[0]: still correct, but nothing is cacheable.
        byte[] filter = SeccompProgram.forTrappedSyscalls(Arches.X86_64).toBytes();
        byte[] argFirst = new byte[filter.length + Bpf.INSN_SIZE];
        argFirst[0] = (byte) Bpf.LD_W_ABS;
        argFirst[4] = (byte) Bpf.DATA_ARGS;
        System.arraycopy(filter, 0, argFirst, Bpf.INSN_SIZE, filter.length);
        assertEquals(Bpf.RET_ALLOW, BpfInterpreter.run(argFirst, 110, Arches.X86_64.auditArch()));
        assertFalse(KernelActionCache.alwaysAllows(argFirst, 110, Arches.X86_64.auditArch()));
    }
}
