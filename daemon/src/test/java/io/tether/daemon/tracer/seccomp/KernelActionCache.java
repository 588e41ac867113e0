package io.tether.daemon.tracer.seccomp;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The kernel's seccomp action cache (Linux 5.11+, kernel/seccomp.c seccomp_is_const_allow), redone:
 * when a filter is attached the kernel runs it for every syscall number of the native and compat
 * arch with nothing known but arch and nr, and marks the numbers whose verdict is ALLOW on that
 * alone. A marked syscall skips the BPF run; any other runs the whole filter on every call. The
 * emulation gives up (not cacheable) at a load of anything but arch or nr, or at an instruction
 * outside its small set, exactly where the kernel's does.
 */
final class KernelActionCache {
    private KernelActionCache() {}

    private static final int JMP_JGT_K = 0x05 | 0x20;  // BPF_JMP | BPF_JGT | BPF_K
    private static final int ALU_AND_K = 0x04 | 0x50;  // BPF_ALU | BPF_AND | BPF_K

    /** Whether the kernel would put {@code nr} of {@code arch} in the filter's always-ALLOW bitmap. */
    static boolean alwaysAllows(byte[] program, int nr, int arch) {
        ByteBuffer p = ByteBuffer.wrap(program).order(ByteOrder.LITTLE_ENDIAN);
        int count = program.length / Bpf.INSN_SIZE;
        int acc = 0;
        // Forward jumps only, as the kernel's checker demands: pc grows, so this ends.
        for (int pc = 0; pc < count; pc++) {
            int base = pc * Bpf.INSN_SIZE;
            int code = Short.toUnsignedInt(p.getShort(base));
            int jt = Byte.toUnsignedInt(p.get(base + 2));
            int jf = Byte.toUnsignedInt(p.get(base + 3));
            int k = p.getInt(base + 4);
            switch (code) {
                case Bpf.LD_W_ABS:
                    if (k == Bpf.DATA_NR) acc = nr;
                    else if (k == Bpf.DATA_ARCH) acc = arch;
                    else return false;  // an argument or the instruction pointer: decided per call
                    break;
                case Bpf.RET_K: return k == Bpf.RET_ALLOW;
                case Bpf.JMP_JA: pc += k; break;
                case Bpf.JMP_JEQ_K: pc += acc == k ? jt : jf; break;
                case Bpf.JMP_JGE_K: pc += Integer.compareUnsigned(acc, k) >= 0 ? jt : jf; break;
                case JMP_JGT_K: pc += Integer.compareUnsigned(acc, k) > 0 ? jt : jf; break;
                case Bpf.JMP_JSET_K: pc += (acc & k) != 0 ? jt : jf; break;
                case ALU_AND_K: acc &= k; break;
                default: return false;
            }
        }
        return false;  // ran off the end: the kernel warns and does not cache
    }
}
