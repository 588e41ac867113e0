package io.tether.daemon.tracer.hostexec;

/**
 * The machine an ELF file is built for (its header's e_machine), read from the first bytes of the
 * file: enough to tell a binary of the host's machine from one of the target's.
 */
public final class ElfMachine {
    /** e_machine values of the machines Tether knows (elf.h). */
    public static final int EM_386 = 3, EM_ARM = 40, EM_X86_64 = 62, EM_AARCH64 = 183, EM_RISCV = 243;
    /** No ELF file (too short, or no ELF magic). */
    public static final int NONE = -1;

    private static final int E_MACHINE = 18, EI_DATA = 5, ELFDATA2LSB = 1, ELFDATA2MSB = 2;

    private ElfMachine() {}

    /** e_machine of the ELF file whose first bytes are {@code head}, or {@link #NONE}. */
    public static int of(byte[] head) {
        if (head.length < E_MACHINE + 2 || head[0] != 0x7f || head[1] != 'E' || head[2] != 'L' || head[3] != 'F') {
            return NONE;
        }
        int lo = head[E_MACHINE] & 0xff, hi = head[E_MACHINE + 1] & 0xff;
        return switch (head[EI_DATA]) {
            case ELFDATA2LSB -> lo | hi << 8;
            case ELFDATA2MSB -> hi | lo << 8;
            default -> NONE;
        };
    }

    /** The e_machine of a machine name as os.arch or uname -m spell it, or {@link #NONE}. */
    public static int ofArchName(String name) {
        return switch (name) {
            case "x86_64", "amd64" -> EM_X86_64;
            case "aarch64", "arm64" -> EM_AARCH64;
            case "arm", "armv7l", "armhf", "armel" -> EM_ARM;
            case "i386", "i686", "x86" -> EM_386;
            case "riscv64" -> EM_RISCV;
            default -> NONE;
        };
    }
}
