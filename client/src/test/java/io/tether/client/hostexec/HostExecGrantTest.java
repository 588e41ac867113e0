package io.tether.client.hostexec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tether.client.files.FileExport;
import io.tether.daemon.tracer.hostexec.ElfMachine;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The client's own check of what the daemon asks it to run: exports, globs, the ELF route, plain paths. */
class HostExecGrantTest {
    @TempDir
    Path dir;
    Path rootfs, tools, outside;
    List<FileExport> exports;

    @BeforeEach
    void trees() throws Exception {
        rootfs = Files.createDirectories(dir.resolve("rootfs"));
        tools = Files.createDirectories(dir.resolve("tools"));
        outside = Files.createDirectories(dir.resolve("outside"));
        Files.createDirectories(rootfs.resolve("tmp"));
        Files.writeString(tools.resolve("gen"), "#!/bin/sh\n");
        Files.writeString(rootfs.resolve("tmp/script"), "#!/bin/sh\n");
        Files.writeString(outside.resolve("secret"), "#!/bin/sh\n");
        Files.createSymbolicLink(rootfs.resolve("escape"), outside);
        byte[] elf = new byte[64];
        elf[0] = 0x7f; elf[1] = 'E'; elf[2] = 'L'; elf[3] = 'F'; elf[5] = 1; elf[18] = (byte) ElfMachine.EM_X86_64;
        Files.write(rootfs.resolve("tmp/hostelf"), elf);
        exports = List.of(new FileExport(rootfs, "/", false), new FileExport(tools, "/host/bin", false));
    }

    @Test
    void aProgramMatchingAGlobRunsAtItsExportsHostPathInTheMappedCwd() throws Exception {
        HostExecGrant g = new HostExecGrant(exports, List.of("/host/bin/*"), ElfMachine.EM_X86_64, ElfMachine.EM_X86_64);
        HostExecGrant.Granted ok = g.check("/host/bin/gen", "/host/bin/gen", "/tmp");
        assertEquals(tools.resolve("gen"), ok.hostProgram());
        assertEquals(rootfs.resolve("tmp"), ok.hostCwd());
        assertTrue(ok.why().contains("/host/bin/*"), ok.why());
    }

    @Test
    void whatTheRunDidNotAllowIsRefusedWithEacces() {
        HostExecGrant g = new HostExecGrant(exports, List.of("/host/bin/*"), ElfMachine.EM_X86_64, ElfMachine.EM_X86_64);
        ErrnoException e = assertThrows(ErrnoException.class, () -> g.check("/tmp/script", "/tmp/script", "/"));
        assertEquals(Errno.EACCES, e.errno());
        // Same machine on both sides: an ELF of the host's machine is no reason either.
        assertEquals(Errno.EACCES, assertThrows(ErrnoException.class, () -> g.check("/tmp/hostelf", "/tmp/hostelf", "/")).errno());
    }

    @Test
    void anElfOfThisHostsMachineIsAllowedWhenTheTargetsDiffers() throws Exception {
        HostExecGrant g = new HostExecGrant(exports, List.of(), ElfMachine.EM_X86_64, ElfMachine.EM_AARCH64);
        assertTrue(g.check("/tmp/hostelf", "/tmp/hostelf", "/").why().contains("ELF"));
        assertEquals(Errno.EACCES, assertThrows(ErrnoException.class, () -> g.check("/tmp/script", "/tmp/script", "/")).errno());
    }

    @Test
    void aPathThatCouldLeaveItsExportIsNotMapped() {
        HostExecGrant g = new HostExecGrant(exports, List.of("/**"), ElfMachine.EM_X86_64, ElfMachine.EM_X86_64);
        assertNull(g.hostPathOf("/escape/secret"), "a symlinked directory");
        assertNull(g.hostPathOf("/tmp/../escape/secret"));
        assertNull(g.hostPathOf("relative"));
        assertEquals(Errno.EACCES, assertThrows(ErrnoException.class, () -> g.check("/escape/secret", "/escape/secret", "/")).errno());
        assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class, () -> g.check("/tmp/missing", "/tmp/missing", "/")).errno());
        assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class, () -> g.check("/tmp/script", "/tmp/script", "/nodir")).errno());
    }
}
