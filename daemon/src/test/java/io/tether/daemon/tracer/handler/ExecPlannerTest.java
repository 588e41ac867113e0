package io.tether.daemon.tracer.handler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tether.daemon.guest.FileKind;
import io.tether.daemon.guest.GuestFileAccess;
import io.tether.daemon.guest.GuestView;
import io.tether.daemon.guest.LocalFileAccess;
import io.tether.daemon.guest.ProcessIds;
import io.tether.daemon.guest.Resolved;
import io.tether.posix.ErrnoException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What an exec reads of the files it loads: an ELF's program headers and loader name come with its first page (one
 * read per file, every exec of a traced tree pays for each), and headers beyond that page are still found.
 */
class ExecPlannerTest {
    private static final int EM_X86_64 = 62;

    @TempDir Path tmp;
    private Path root;
    private final List<String> reads = Collections.synchronizedList(new ArrayList<>());
    private GuestView view;

    @BeforeEach
    void guest() throws IOException {
        root = Files.createDirectories(tmp.resolve("root"));
        Files.createDirectories(root.resolve("bin"));
        Files.createDirectories(root.resolve("lib"));
        GuestFileAccess counting = new GuestFileAccess() {
            @Override public FileKind kind(String hostPath) throws ErrnoException { return LocalFileAccess.INSTANCE.kind(hostPath); }
            @Override public String readlink(String hostPath) throws ErrnoException { return LocalFileAccess.INSTANCE.readlink(hostPath); }
            @Override public byte[] read(String hostPath, long offset, int length) throws ErrnoException {
                reads.add(Path.of(hostPath).getFileName() + "@" + offset);
                return LocalFileAccess.INSTANCE.read(hostPath, offset, length);
            }
            @Override public void createDirectories(String hostPath) throws ErrnoException { LocalFileAccess.INSTANCE.createDirectories(hostPath); }
        };
        view = GuestView.builder(root.toString()).defaultBinds(false).fileAccess(counting).build();
        executable(root.resolve("lib/ld.so"), elf(0, null));
    }

    private ExecPlanner.Plan<String> plan(String guestPath) throws ErrnoException {
        Resolved program = view.resolve("/", guestPath, true, ProcessIds.NONE);
        return ExecPlanner.plan(view.fileAccess(), p -> view.resolve("/", p, true, ProcessIds.NONE), guestPath, program,
                List.of("x"), s -> s, null);
    }

    @Test
    void aDynamicProgramIsReadOnceAndItsLoaderOnce() throws Exception {
        executable(root.resolve("bin/prog"), elf(0, "/lib/ld.so"));
        ExecPlanner.Plan<String> p = plan("/bin/prog");
        assertEquals(root.resolve("lib/ld.so").toString(), p.executable().hostPath(), "started through its guest loader");
        assertTrue(p.rewritten());
        assertEquals(List.of("prog@0"), reads, "the program's headers and PT_INTERP come with its first read");
    }

    @Test
    void programHeadersBeyondTheFirstPageAreReadWhereTheyAre() throws Exception {
        executable(root.resolve("bin/far"), elf(6000, "/lib/ld.so"));
        ExecPlanner.Plan<String> p = plan("/bin/far");
        assertEquals(root.resolve("lib/ld.so").toString(), p.executable().hostPath());
        assertEquals(List.of("far@0", "far@6000", "far@6056"), reads);
    }

    @Test
    void aLongFirstLineIsCutWhereTheKernelCutsIt() throws Exception {
        // binfmt_script sees 256 bytes: an interpreter argument running past them ends there, as in the kernel.
        String arg = "a".repeat(400);
        executable(root.resolve("bin/script"), ("#!/bin/prog " + arg + "\n").getBytes(StandardCharsets.ISO_8859_1));
        executable(root.resolve("bin/prog"), elf(0, "/lib/ld.so"));
        ExecPlanner.Plan<String> p = plan("/bin/script");
        // [loader, program, the #! argument, the script]
        assertEquals("/bin/prog", p.argv().get(1), p.argv().toString());
        assertEquals(256 - "#!/bin/prog ".length(), p.argv().get(2).length(), "the argument as the kernel's 256 bytes end it");
        assertEquals("/bin/script", p.argv().get(3));
    }

    private static void executable(Path file, byte[] bytes) throws IOException {
        Files.write(file, bytes);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    /** A little-endian x86-64 ELF with one program header at {@code phoff} (0: right after the ELF header). */
    private static byte[] elf(int phoff, String interp) {
        int ehsize = 64, phentsize = 56;
        long at = phoff == 0 ? ehsize : phoff;
        byte[] name = interp == null ? new byte[0] : (interp + "\0").getBytes(StandardCharsets.ISO_8859_1);
        ByteBuffer b = ByteBuffer.allocate((int) at + phentsize + name.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1});
        b.position(16);
        b.putShort((short) 2).putShort((short) EM_X86_64).putInt(1);
        b.putLong(0).putLong(at).putLong(0).putInt(0);
        b.putShort((short) ehsize).putShort((short) phentsize).putShort((short) 1).putShort((short) 0).putShort((short) 0).putShort((short) 0);
        b.position((int) at);
        b.putInt(interp == null ? 0 : 3).putInt(4).putLong(at + phentsize).putLong(0).putLong(0).putLong(name.length).putLong(name.length).putLong(1);
        b.put(name);
        return b.array();
    }
}
