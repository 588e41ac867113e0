package io.tether.daemon.tracer.seccomp;

import io.tether.daemon.tracer.arch.Arch;
import io.tether.daemon.tracer.arch.Sys;
import io.tether.posix.Errno;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.TreeSet;

/**
 * A seccomp filter in classic BPF for one architecture: a foreign audit arch kills the process (a
 * tracee of another ABI would bypass translation), a foreign-ABI syscall number (x32) fails with
 * ENOSYS, the trapped syscalls return SECCOMP_RET_TRACE and everything else is allowed and runs at
 * native speed.
 */
public final class SeccompProgram {
    /** Checks between two shared RET_TRACE landing pads; conditional jumps reach at most 255 ahead. */
    private static final int CHECKS_PER_BLOCK = 200;

    private final List<Insn> insns;

    /** One struct sock_filter. */
    public record Insn(int code, int jt, int jf, int k) {
        public Insn {
            if (jt < 0 || jt > 255 || jf < 0 || jf > 255) throw new IllegalArgumentException("jump out of range");
        }
    }

    private SeccompProgram(List<Insn> insns) {
        this.insns = List.copyOf(insns);
    }

    /** The filter trapping every {@link Sys#trapped()} syscall the architecture has. */
    public static SeccompProgram forTrappedSyscalls(Arch arch) {
        return build(arch, trappedNumbers(arch));
    }

    /**
     * One filter for tracees of several ABIs on one kernel (32-bit ARM programs on an aarch64
     * device): each audit arch gets its own trapped set; any other arch is killed.
     */
    public static SeccompProgram forTrappedSyscalls(List<Arch> arches) {
        if (arches.size() == 1) return forTrappedSyscalls(arches.get(0));
        List<List<Insn>> blocks = new ArrayList<>();
        for (Arch arch : arches) blocks.add(checks(arch, trappedNumbers(arch)));
        List<Insn> p = new ArrayList<>();
        p.add(new Insn(Bpf.LD_W_ABS, 0, 0, Bpf.DATA_ARCH));
        // Dispatch: "jeq arch_i, next+0, skip 1; ja block_i" per arch, then kill.
        int dispatch = 2 * arches.size() + 1;
        int offset = 0;
        for (int i = 0; i < arches.size(); i++) {
            int here = p.size();
            int blockStart = 1 + dispatch + offset;
            p.add(new Insn(Bpf.JMP_JEQ_K, 0, 1, arches.get(i).auditArch()));
            p.add(new Insn(Bpf.JMP_JA, 0, 0, blockStart - (here + 2)));
            offset += blocks.get(i).size();
        }
        p.add(new Insn(Bpf.RET_K, 0, 0, Bpf.RET_KILL_PROCESS));
        for (List<Insn> block : blocks) p.addAll(block);
        if (p.size() > Bpf.MAX_INSNS) throw new IllegalArgumentException("filter too long: " + p.size());
        return new SeccompProgram(p);
    }

    private static List<Integer> trappedNumbers(Arch arch) {
        List<Integer> numbers = new ArrayList<>();
        arch.table().numbers().forEach((sys, nr) -> {
            if (sys.trapped()) numbers.add(nr);
        });
        return numbers;
    }

    /** A filter trapping exactly these raw syscall numbers. */
    public static SeccompProgram build(Arch arch, Collection<Integer> trappedNumbers) {
        List<Insn> p = new ArrayList<>();
        p.add(new Insn(Bpf.LD_W_ABS, 0, 0, Bpf.DATA_ARCH));
        p.add(new Insn(Bpf.JMP_JEQ_K, 1, 0, arch.auditArch()));
        p.add(new Insn(Bpf.RET_K, 0, 0, Bpf.RET_KILL_PROCESS));
        p.addAll(checks(arch, trappedNumbers));
        if (p.size() > Bpf.MAX_INSNS) throw new IllegalArgumentException("filter too long: " + p.size());
        return new SeccompProgram(p);
    }

    /** The per-arch part, entered with the arch already checked: load nr, trap the set, allow the rest. */
    private static List<Insn> checks(Arch arch, Collection<Integer> trappedNumbers) {
        List<Integer> sorted = new ArrayList<>(new TreeSet<>(trappedNumbers));
        List<Insn> p = new ArrayList<>();
        p.add(new Insn(Bpf.LD_W_ABS, 0, 0, Bpf.DATA_NR));
        if (arch.foreignAbiBit() != 0) {
            p.add(new Insn(Bpf.JMP_JSET_K, 0, 1, arch.foreignAbiBit()));
            p.add(new Insn(Bpf.RET_K, 0, 0, Bpf.RET_ERRNO | Errno.ENOSYS));
        }
        for (int from = 0; from < sorted.size(); from += CHECKS_PER_BLOCK) {
            List<Integer> block = sorted.subList(from, Math.min(sorted.size(), from + CHECKS_PER_BLOCK));
            for (int i = 0; i < block.size(); i++) {
                // Jump over the rest of the block's checks and the "ja" to the RET_TRACE pad.
                int toPad = block.size() - 1 - i + 1;
                p.add(new Insn(Bpf.JMP_JEQ_K, toPad, 0, block.get(i)));
            }
            p.add(new Insn(Bpf.JMP_JA, 0, 0, 1));
            p.add(new Insn(Bpf.RET_K, 0, 0, Bpf.RET_TRACE));
        }
        p.add(new Insn(Bpf.RET_K, 0, 0, Bpf.RET_ALLOW));
        return p;
    }

    public List<Insn> instructions() {
        return insns;
    }

    /** The program as the kernel reads it: an array of struct sock_filter in native (little-endian) order. */
    public byte[] toBytes() {
        ByteBuffer b = ByteBuffer.allocate(insns.size() * Bpf.INSN_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        for (Insn i : insns) {
            b.putShort((short) i.code()).put((byte) i.jt()).put((byte) i.jf()).putInt(i.k());
        }
        return b.array();
    }
}
