package io.tether.daemon.tracer.arch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class ArchesTest {
    static List<Arch> arches() {
        return Arches.all();
    }

    private static Map<String, Integer> header(Arch arch) throws Exception {
        assumeTrue(KernelHeaders.available(arch),
                "kernel headers for " + arch + " not installed (" + KernelHeaders.includeDir(arch)
                        + "); apt-get install linux-libc-dev linux-libc-dev-arm64-cross linux-libc-dev-armhf-cross cpp");
        Map<String, Integer> numbers = KernelHeaders.syscallNumbers(arch);
        assertTrue(numbers.size() > 250, "suspiciously few syscalls parsed for " + arch + ": " + numbers.size());
        return numbers;
    }

    @ParameterizedTest
    @MethodSource("arches")
    void everyTableNumberMatchesTheKernelHeaders(Arch arch) throws Exception {
        Map<String, Integer> header = header(arch);
        int newestInHeader = Collections.max(header.values());
        List<String> wrong = new ArrayList<>();
        arch.table().numbers().forEach((sys, nr) -> {
            Integer expected = header.get(sys.kernelName());
            if (expected == null) {
                // Only syscalls newer than the installed headers may be absent from them.
                if (nr <= newestInHeader) wrong.add(sys.kernelName() + "=" + nr + " (not in header)");
            } else if (expected.intValue() != nr) {
                wrong.add(sys.kernelName() + "=" + nr + " (header: " + expected + ")");
            }
        });
        assertEquals(List.of(), wrong);
    }

    @ParameterizedTest
    @MethodSource("arches")
    void everyLogicalSyscallTheArchHasIsInItsTable(Arch arch) throws Exception {
        Map<String, Integer> header = header(arch);
        List<String> missing = new ArrayList<>();
        for (Sys sys : Sys.values()) {
            if (header.containsKey(sys.kernelName()) && arch.table().number(sys) < 0) missing.add(sys.kernelName());
        }
        assertEquals(List.of(), missing);
    }

    @ParameterizedTest
    @MethodSource("arches")
    void rawNumbersMapBackToTheirLogicalSyscall(Arch arch) {
        arch.table().numbers().forEach((sys, nr) -> assertEquals(sys, arch.table().sysOrNull(nr)));
        assertEquals(null, arch.table().sysOrNull(100_000));
    }

    @ParameterizedTest
    @MethodSource("arches")
    void registersKeepTheOriginalWhenModified(Arch arch) {
        Registers regs = new Registers(arch);
        byte[] raw = new byte[arch.regsetSize()];
        regs.load(raw);
        regs.set(Reg.ARG1, 0x1234);
        regs.set(Reg.RESULT, -2);
        assertEquals(0x1234, regs.get(Reg.ARG1));
        assertEquals(0, regs.original(Reg.ARG1));
        assertEquals(-2, regs.signed(Reg.RESULT));
        assertTrue(regs.modified());
        assertTrue(!regs.sysnrChanged());
        regs.set(Reg.SYSNR, -1);
        assertEquals(-1, regs.sysnr());
        assertTrue(regs.sysnrChanged());
    }

    @ParameterizedTest
    @MethodSource("arches")
    void openNofollowAndDirectoryMatchTheKernelHeaders(Arch arch) throws Exception {
        header(arch);
        assertEquals(KernelHeaders.macroValue(arch, "asm/fcntl.h", "O_NOFOLLOW"), arch.oNofollow());
        assertEquals(KernelHeaders.macroValue(arch, "asm/fcntl.h", "O_DIRECTORY"), arch.oDirectory());
    }

    @org.junit.jupiter.api.Test
    void armSyscallInstructionIsShorterInThumbMode() {
        Registers regs = new Registers(Arches.ARM_EABI);
        byte[] raw = new byte[Arches.ARM_EABI.regsetSize()];
        regs.load(raw);
        assertEquals(4, Arches.ARM_EABI.syscallInsnLength(regs));
        raw[16 * 4] = 0x20; // cpsr T bit
        regs.load(raw);
        assertEquals(2, Arches.ARM_EABI.syscallInsnLength(regs));
        assertEquals(2, Arches.X86_64.syscallInsnLength(new Registers(Arches.X86_64)));
    }

    @org.junit.jupiter.api.Test
    void hostArchIsKnownOnThisMachine() {
        assumeTrue(System.getProperty("os.arch").equals("amd64"), "not an x86_64 JVM");
        assertEquals(Arches.X86_64, Arches.host().orElseThrow());
    }
}
