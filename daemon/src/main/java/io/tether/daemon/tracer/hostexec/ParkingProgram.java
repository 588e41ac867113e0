package io.tether.daemon.tracer.hostexec;

import io.tether.daemon.tracer.arch.Arch;
import io.tether.daemon.tracer.arch.Arches;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The program a tracee really executes while its exec runs on the host: a static ELF of a few dozen
 * bytes that waits in {@code ppoll(NULL, 0, NULL, &empty_mask, 8)} forever, every signal unblocked.
 * Executing it, rather than parking the tracee inside its old program, gives the exec's own
 * semantics on the target side: a vfork parent (posix_spawn, GNU make, Python's subprocess) is
 * released, close-on-exec fds are closed, caught signals reset, other threads end, the old
 * program's memory goes. Only built for x86_64; elsewhere the tracer parks in the old image.
 */
public final class ParkingProgram {
    private static final Logger log = LoggerFactory.getLogger(ParkingProgram.class);
    private static final long BASE = 0x400000;
    private static final int EHDR = 64, PHDR = 56;

    /**
     * x86_64: xor eax,eax; push rax (8 zero bytes at rsp: the empty signal set); then loop:
     * mov eax,271 (ppoll); xor edi,edi; xor esi,esi; xor edx,edx; mov r10,rsp; mov r8d,8; syscall; jmp loop.
     */
    private static final byte[] X86_64_CODE = {
        0x31, (byte) 0xc0, 0x50,
        (byte) 0xb8, 0x0f, 0x01, 0x00, 0x00,
        0x31, (byte) 0xff, 0x31, (byte) 0xf6, 0x31, (byte) 0xd2,
        0x49, (byte) 0x89, (byte) 0xe2,
        0x41, (byte) 0xb8, 0x08, 0x00, 0x00, 0x00,
        0x0f, 0x05,
        (byte) 0xeb, (byte) 0xe8,
    };

    private ParkingProgram() {}

    /** The ELF image for {@code arch}, or null where none is built. */
    static byte[] image(Arch arch) {
        if (arch != Arches.X86_64) return null;
        byte[] code = X86_64_CODE;
        int size = EHDR + PHDR + code.length;
        ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1, 0}).put(new byte[8]);
        b.putShort((short) 2).putShort((short) arch.elfMachine()).putInt(1); // ET_EXEC, e_machine, EV_CURRENT
        b.putLong(BASE + EHDR + PHDR).putLong(EHDR).putLong(0);             // e_entry, e_phoff, e_shoff
        b.putInt(0).putShort((short) EHDR).putShort((short) PHDR).putShort((short) 1) // e_flags, sizes, e_phnum
                .putShort((short) 0).putShort((short) 0).putShort((short) 0);
        b.putInt(1).putInt(5).putLong(0).putLong(BASE).putLong(BASE)          // PT_LOAD, R+X, offset, vaddr, paddr
                .putLong(size).putLong(size).putLong(0x1000);
        b.put(code);
        return b.array();
    }

    /**
     * Writes the program for {@code arch} into {@code dir} (the daemon's private run directory) unless
     * it is already there; returns its target path, or null where none is built or it cannot be written.
     */
    public static String install(Path dir, Arch arch) {
        byte[] image = image(arch);
        if (image == null) return null;
        Path file = dir.resolve("hostexec-park-" + arch.name());
        try {
            if (Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS) && Arrays.equals(Files.readAllBytes(file), image)
                    && Files.isExecutable(file)) {
                return file.toString();
            }
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, "hostexec-park", ".tmp",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
            Files.write(tmp, image);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return file.toString();
        } catch (IOException | RuntimeException e) {
            log.warn("cannot write the host exec parking program in {}: {}; parking in the old program", dir, e.toString());
            return null;
        }
    }
}
