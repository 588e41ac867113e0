package io.tether.daemon.tracer.seccomp;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Runs a classic BPF seccomp program from its kernel byte form, for the subset seccomp filters use. */
final class BpfInterpreter {
    private BpfInterpreter() {}

    static int run(byte[] program, int nr, int arch) {
        return run(program, nr, arch, new long[6]);
    }

    /** With the six syscall arguments of seccomp_data (u64 each). */
    static int run(byte[] program, int nr, int arch, long... args) {
        ByteBuffer data = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        data.putInt(0, nr).putInt(4, arch);
        for (int i = 0; i < args.length; i++) data.putLong(Bpf.DATA_ARGS + 8 * i, args[i]);
        ByteBuffer p = ByteBuffer.wrap(program).order(ByteOrder.LITTLE_ENDIAN);
        int count = program.length / Bpf.INSN_SIZE;
        int acc = 0;
        for (int pc = 0, steps = 0; steps < 10_000; steps++) {
            if (pc < 0 || pc >= count) throw new IllegalStateException("pc out of program: " + pc);
            int base = pc * Bpf.INSN_SIZE;
            int code = Short.toUnsignedInt(p.getShort(base));
            int jt = Byte.toUnsignedInt(p.get(base + 2));
            int jf = Byte.toUnsignedInt(p.get(base + 3));
            int k = p.getInt(base + 4);
            switch (code) {
                case Bpf.LD_W_ABS: acc = data.getInt(k); pc++; break;
                case Bpf.JMP_JA: pc += 1 + k; break;
                case Bpf.JMP_JEQ_K: pc += 1 + (acc == k ? jt : jf); break;
                case Bpf.JMP_JGE_K: pc += 1 + (Integer.compareUnsigned(acc, k) >= 0 ? jt : jf); break;
                case Bpf.JMP_JSET_K: pc += 1 + ((acc & k) != 0 ? jt : jf); break;
                case Bpf.ALU_AND_K: acc &= k; pc++; break;
                case Bpf.RET_K: return k;
                default: throw new IllegalStateException("unsupported opcode " + code);
            }
        }
        throw new IllegalStateException("program does not terminate");
    }
}
