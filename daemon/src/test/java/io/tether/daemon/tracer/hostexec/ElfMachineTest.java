package io.tether.daemon.tracer.hostexec;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class ElfMachineTest {
    /** An ELF header as far as e_machine: class, data encoding and machine; the rest zero. */
    private static byte[] header(int elfClass, int data, int machine) {
        byte[] h = new byte[64];
        h[0] = 0x7f;
        h[1] = 'E';
        h[2] = 'L';
        h[3] = 'F';
        h[4] = (byte) elfClass;
        h[5] = (byte) data;
        h[6] = 1;
        if (data == 1) {
            h[18] = (byte) machine;
            h[19] = (byte) (machine >> 8);
        } else {
            h[18] = (byte) (machine >> 8);
            h[19] = (byte) machine;
        }
        return h;
    }

    @Test
    void readsTheMachineOfLittleAndBigEndianHeaders() {
        assertEquals(ElfMachine.EM_X86_64, ElfMachine.of(header(2, 1, 62)));
        assertEquals(ElfMachine.EM_AARCH64, ElfMachine.of(header(2, 1, 183)));
        assertEquals(ElfMachine.EM_ARM, ElfMachine.of(header(1, 1, 40)));
        assertEquals(ElfMachine.EM_RISCV, ElfMachine.of(header(2, 1, 243)));
        assertEquals(8, ElfMachine.of(header(1, 2, 8))); // big-endian MIPS
    }

    @Test
    void scriptsShortFilesAndBadEncodingsAreNoElf() {
        assertEquals(ElfMachine.NONE, ElfMachine.of("#!/bin/sh\necho hello world and more text\n".getBytes()));
        assertEquals(ElfMachine.NONE, ElfMachine.of(new byte[] {0x7f, 'E', 'L', 'F'}));
        assertEquals(ElfMachine.NONE, ElfMachine.of(header(2, 0, 62)));
    }

    @Test
    void aRealBinaryOfThisMachineReadsAsIt() throws Exception {
        Path sh = Path.of("/bin/sh").toRealPath();
        Assumptions.assumeTrue("amd64".equals(System.getProperty("os.arch")), "x86_64 host");
        byte[] head = java.util.Arrays.copyOf(Files.readAllBytes(sh), 64);
        assertEquals(ElfMachine.EM_X86_64, ElfMachine.of(head));
        assertEquals(ElfMachine.EM_X86_64, ElfMachine.ofArchName("amd64"));
        assertEquals(ElfMachine.EM_AARCH64, ElfMachine.ofArchName("aarch64"));
    }
}
