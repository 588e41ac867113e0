package io.tether.daemon.tracer.handler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tether.daemon.guest.GuestView;
import io.tether.daemon.guest.ProcessIds;
import io.tether.daemon.guest.Resolved;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The -q rewrite as planned, on synthetic ELF headers: which programs go to qemu, and with what argv. */
class QemuTest {
    private static final int EM_386 = 3, EM_MIPS = 8, EM_X86_64 = 62, EM_AARCH64 = 183;
    private static final String QEMU = "/usr/bin/qemu-aarch64-static";

    @TempDir Path tmp;
    private Path root;
    private GuestView view;
    private final Qemu qemu = new Qemu(QEMU, List.of("-cpu", "max"), EM_X86_64);

    @BeforeEach
    void guest() throws IOException {
        root = Files.createDirectories(tmp.resolve("root"));
        Files.createDirectories(root.resolve("usr/bin"));
        Files.createDirectories(root.resolve("lib"));
        Files.createSymbolicLink(root.resolve("bin"), Path.of("usr/bin"));
        executable(root.resolve("usr/bin/arm"), elf(2, ByteOrder.LITTLE_ENDIAN, EM_AARCH64, "/lib/ld-linux-aarch64.so.1"));
        executable(root.resolve("lib/ld-linux-aarch64.so.1"), elf(2, ByteOrder.LITTLE_ENDIAN, EM_AARCH64, null));
        executable(root.resolve("usr/bin/native"), elf(2, ByteOrder.LITTLE_ENDIAN, EM_X86_64, null));
        executable(root.resolve("usr/bin/i386"), elf(1, ByteOrder.LITTLE_ENDIAN, EM_386, null));
        executable(root.resolve("usr/bin/mips"), elf(1, ByteOrder.BIG_ENDIAN, EM_MIPS, null));
        executable(root.resolve("usr/bin/script"), "#!/bin/arm -x\necho\n".getBytes(StandardCharsets.ISO_8859_1));
        view = GuestView.builder(root.toString()).defaultBinds(false).build();
    }

    private ExecPlanner.Plan<String> plan(String guestPath, List<String> argv, Qemu q) throws ErrnoException {
        Resolved program = view.resolve("/", guestPath, true, ProcessIds.NONE);
        return ExecPlanner.plan(view.fileAccess(), p -> view.resolve("/", p, true, ProcessIds.NONE), guestPath, program,
                argv, s -> s, q);
    }

    @Test
    void aForeignElfRunsUnderQemuWithItsArgv0AndCanonicalGuestPath() throws ErrnoException {
        ExecPlanner.Plan<String> p = plan("/bin/arm", List.of("arm", "-l", "x y"), qemu);
        assertEquals(QEMU, p.executable().hostPath(), "qemu is executed as a target path, never looked up in the guest");
        assertEquals(List.of(QEMU, "-L", "/", "-cpu", "max", "-0", "arm", "/usr/bin/arm", "-l", "x y"), p.argv());
        assertTrue(p.rewritten());
        assertEquals("/usr/bin/arm", p.guestExe(), "/proc/PID/exe shows the guest program, not qemu");
        assertEquals(root.resolve("usr/bin/arm").toString(), p.emulated().hostPath());
    }

    @Test
    void anEmptyArgvGivesQemuTheProgramAsArgv0() throws ErrnoException {
        assertEquals(List.of(QEMU, "-L", "/", "-cpu", "max", "-0", "/usr/bin/arm", "/usr/bin/arm"), plan("/bin/arm", List.of(), qemu).argv());
    }

    @Test
    void aScriptWhoseInterpreterIsForeignRunsTheInterpreterUnderQemu() throws ErrnoException {
        ExecPlanner.Plan<String> p = plan("/bin/script", List.of("script", "a"), qemu);
        assertEquals(QEMU, p.executable().hostPath());
        // binfmt_script's argv ([interpreter, arg, script, args]), then qemu's in front.
        assertEquals(List.of(QEMU, "-L", "/", "-cpu", "max", "-0", "/bin/arm", "/usr/bin/arm", "-x", "/bin/script", "a"), p.argv());
    }

    @Test
    void programsOfThisMachineStillRunNatively() throws ErrnoException {
        for (String native_ : List.of("/bin/native", "/bin/i386")) {
            ExecPlanner.Plan<String> p = plan(native_, List.of("x"), qemu);
            assertEquals(view.resolve("/", native_, true, ProcessIds.NONE).hostPath(), p.executable().hostPath(), native_);
            assertFalse(p.rewritten(), native_);
            assertNull(p.emulated(), native_);
        }
    }

    @Test
    void withoutQemuAForeignElfIsLeftToTheKernel() throws ErrnoException {
        ExecPlanner.Plan<String> p = plan("/bin/mips", List.of("mips"), null);
        assertEquals(root.resolve("usr/bin/mips").toString(), p.executable().hostPath());
        assertFalse(p.rewritten());
    }

    @Test
    void foreignMeansAnyOtherMachineInEitherByteOrder() {
        assertTrue(qemu.runs(elf(1, ByteOrder.BIG_ENDIAN, EM_MIPS, null)));
        assertTrue(qemu.runs(elf(2, ByteOrder.LITTLE_ENDIAN, EM_AARCH64, null)));
        assertFalse(qemu.runs(elf(2, ByteOrder.LITTLE_ENDIAN, EM_X86_64, null)));
        assertFalse(qemu.runs(elf(1, ByteOrder.LITTLE_ENDIAN, EM_386, null)));
        assertFalse(qemu.runs("#!/bin/sh\n".getBytes(StandardCharsets.ISO_8859_1)));
        assertFalse(new Qemu(QEMU, List.of(), EM_AARCH64).runs(elf(2, ByteOrder.LITTLE_ENDIAN, EM_AARCH64, null)));
        assertTrue(new Qemu(QEMU, List.of(), EM_AARCH64).runs(elf(1, ByteOrder.LITTLE_ENDIAN, EM_386, null)));
    }

    @Test
    void locateSearchesThePathAndKeepsTheOptions() throws Exception {
        Path bin = Files.createDirectories(tmp.resolve("bin"));
        executable(bin.resolve("qemu-aarch64-static"), elf(2, ByteOrder.LITTLE_ENDIAN, EM_X86_64, null));
        Qemu q = Qemu.locate(List.of("qemu-aarch64-static", "-cpu", "max"), tmp.resolve("nowhere") + ":" + bin, EM_X86_64);
        assertEquals(bin.resolve("qemu-aarch64-static").toString(), q.hostPath());
        assertEquals(List.of("-cpu", "max"), q.options());
        assertEquals(q.hostPath(), Qemu.locate(List.of(q.hostPath()), "", EM_X86_64).hostPath());
    }

    @Test
    void locateRefusesWhatCannotRunOutsideTheGuest() throws Exception {
        Path bin = Files.createDirectories(tmp.resolve("bin"));
        executable(bin.resolve("dynamic"), elf(2, ByteOrder.LITTLE_ENDIAN, EM_X86_64, "/lib64/ld-linux-x86-64.so.2"));
        executable(bin.resolve("wrapper"), "#!/bin/sh\nexec qemu-aarch64-static \"$@\"\n".getBytes(StandardCharsets.ISO_8859_1));
        executable(bin.resolve("arm"), elf(2, ByteOrder.LITTLE_ENDIAN, EM_AARCH64, null));
        Files.write(bin.resolve("plain"), elf(2, ByteOrder.LITTLE_ENDIAN, EM_X86_64, null));
        String path = bin.toString();
        assertEquals(Errno.ENOEXEC, assertThrows(ErrnoException.class, () -> Qemu.locate(List.of("dynamic"), path, EM_X86_64)).errno());
        assertEquals(Errno.ENOEXEC, assertThrows(ErrnoException.class, () -> Qemu.locate(List.of("wrapper"), path, EM_X86_64)).errno());
        assertEquals(Errno.ENOEXEC, assertThrows(ErrnoException.class, () -> Qemu.locate(List.of("arm"), path, EM_X86_64)).errno());
        assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class, () -> Qemu.locate(List.of("plain"), path, EM_X86_64)).errno(),
                "not executable: not found on the PATH");
        assertEquals(Errno.EACCES, assertThrows(ErrnoException.class,
                () -> Qemu.locate(List.of(bin.resolve("plain").toString()), "", EM_X86_64)).errno());
        assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class, () -> Qemu.locate(List.of("qemu-none"), path, EM_X86_64)).errno());
        assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class, () -> Qemu.locate(List.of("rel/qemu"), path, EM_X86_64)).errno());
    }

    private static void executable(Path file, byte[] content) throws IOException {
        Files.write(file, content);
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    /** An ELF header with one program header: PT_INTERP naming {@code interp}, or PT_NULL for a static one. */
    static byte[] elf(int elfClass, ByteOrder order, int machine, String interp) {
        boolean is64 = elfClass == 2;
        int ehsize = is64 ? 64 : 52, phentsize = is64 ? 56 : 32;
        byte[] name = interp == null ? new byte[0] : (interp + "\0").getBytes(StandardCharsets.ISO_8859_1);
        ByteBuffer b = ByteBuffer.allocate(ehsize + phentsize + name.length).order(order);
        b.put(new byte[] {0x7f, 'E', 'L', 'F', (byte) elfClass, (byte) (order == ByteOrder.LITTLE_ENDIAN ? 1 : 2), 1});
        b.position(16);
        b.putShort((short) 2).putShort((short) machine).putInt(1);
        if (is64) {
            b.putLong(0).putLong(ehsize).putLong(0).putInt(0);
        } else {
            b.putInt(0).putInt(ehsize).putInt(0).putInt(0);
        }
        b.putShort((short) ehsize).putShort((short) phentsize).putShort((short) 1).putShort((short) 0).putShort((short) 0).putShort((short) 0);
        int type = interp == null ? 0 : 3;
        if (is64) {
            b.putInt(type).putInt(4).putLong(ehsize + phentsize).putLong(0).putLong(0).putLong(name.length).putLong(name.length).putLong(1);
        } else {
            b.putInt(type).putInt(ehsize + phentsize).putInt(0).putInt(0).putInt(name.length).putInt(name.length).putInt(4).putInt(1);
        }
        b.put(name);
        return b.array();
    }
}
