package io.tether.daemon.tracer.seccomp;

import io.tether.daemon.tracer.arch.Arch;
import io.tether.daemon.tracer.arch.Sys;
import io.tether.posix.Errno;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * A seccomp filter in classic BPF for one architecture: a foreign audit arch kills the process (a
 * tracee of another ABI would bypass translation), a foreign-ABI syscall number (x32) fails with
 * ENOSYS, the trapped syscalls return SECCOMP_RET_TRACE and everything else is allowed and runs at
 * native speed.
 *
 * <p>Socket calls: a filter sees the registers, never the memory they point to. So sendto, recvfrom,
 * accept/accept4 and getsockname/getpeername stop only when their address argument is non-NULL
 * (send() and recv() are sendto/recvfrom with NULL there, so ordinary network I/O never stops).
 * sendmsg and recvmsg (and sendmmsg, recvmmsg) keep msg_name inside struct msghdr, out of the filter's
 * reach: they stop on every call, and the handler leaves at once (one stop, no exit stop) unless msg_name is set on an
 * AF_UNIX socket. Arming their trap lazily, with a second filter injected at a process's first
 * socket(AF_UNIX), would save that stop for programs that never touch Unix sockets, but glibc
 * creates one in most processes (nscd probe, syslog) and injecting into a running multi-threaded
 * program that may take signals mid-injection is far more fragile than one stop per sendmsg.
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
        return forTrappedSyscalls(arch, Set.of());
    }

    /**
     * The filter trapping every {@link Sys#trapped()} syscall the architecture has, plus the
     * {@link Sys#trappedOnDemand()} ones this run needs. A syscall with {@link Sys#trapOnlyIfArgSet()}
     * stops only when that address argument is non-NULL: recv(), send() and accept(fd, NULL, NULL)
     * never stop, recvfrom(..., &from, &len) does.
     */
    public static SeccompProgram forTrappedSyscalls(Arch arch, Set<Sys> onDemand) {
        return oneArch(arch, unconditional(arch, onDemand), conditional(arch), Map.of(), OpensPass.NONE);
    }

    /**
     * The filter trapping exactly {@code trapped} (those with {@link Sys#trapOnlyIfArgSet()} only when
     * that argument is set), trapped-on-demand ones included as named: a kernel-rooted run's smaller set.
     */
    public static SeccompProgram forSyscalls(Arch arch, Set<Sys> trapped) {
        return forSyscalls(arch, trapped, false);
    }

    /**
     * As {@link #forSyscalls(Arch, Set)}; with {@code directoryOpensPass}, an open or openat that only looks into
     * a directory (O_DIRECTORY, read-only, no O_CREAT, not O_TMPFILE) runs without a stop: a walk's opendir per
     * directory (find, ls -R, os.walk) in a kernel-rooted run, whose trees are whole, so the kernel finds every
     * entry by itself. openat2 keeps its flags in memory, out of the filter's reach, and still stops.
     */
    public static SeccompProgram forSyscalls(Arch arch, Set<Sys> trapped, boolean directoryOpensPass) {
        return forSyscalls(arch, trapped, directoryOpensPass ? OpensPass.DIRECTORIES : OpensPass.NONE);
    }

    /** Which opens of a kernel-rooted run's trapped open and openat run without a stop. */
    public enum OpensPass {
        /** Every open stops. */
        NONE,
        /** Read-only opens of a directory (O_DIRECTORY; no O_CREAT, O_TMPFILE). */
        DIRECTORIES,
        /**
         * Every read-only open (no O_CREAT, O_TMPFILE, O_TRUNC; O_RDONLY): only when the kernel itself holds a
         * file's first open until its contents are here (the mirror's open gate). The gate marks the run's own
         * mounts, and a new mount namespace copies them unmarked, so the filter also refuses one: unshare and
         * clone with CLONE_NEWNS and setns with EPERM, clone3 (its flags in memory) with ENOSYS, on which libc
         * falls back to clone, as under container runtimes' default filters.
         */
        READ_ONLY
    }

    /** As {@link #forSyscalls(Arch, Set)}, with the opens {@code pass} names running unstopped. */
    public static SeccompProgram forSyscalls(Arch arch, Set<Sys> trapped, OpensPass pass) {
        List<Integer> unconditional = new ArrayList<>();
        Map<Integer, Integer> conditional = new TreeMap<>();
        Map<Integer, Integer> passingOpens = new TreeMap<>();
        arch.table().numbers().forEach((sys, nr) -> {
            if (!trapped.contains(sys)) return;
            Integer flagsArg = OPEN_FLAGS_ARG.get(sys);
            if (pass != OpensPass.NONE && flagsArg != null) passingOpens.put(nr, flagsArg);
            else if (sys.trapOnlyIfArgSet() >= 0) conditional.put(nr, sys.trapOnlyIfArgSet());
            else unconditional.add(nr);
        });
        return oneArch(arch, unconditional, conditional, passingOpens, pass);
    }

    /** Which argument holds the open flags (the same on every ABI); open's is an int, so its low half is all of it. */
    private static final Map<Sys, Integer> OPEN_FLAGS_ARG = Map.of(Sys.OPEN, 1, Sys.OPENAT, 2);
    /** O_CREAT, __O_TMPFILE (O_TMPFILE is it plus O_DIRECTORY) and O_ACCMODE: the same bits on all our ABIs. */
    private static final int O_CREAT = 0100, O_TRUNC = 01000, O_TMPFILE_BIT = 020000000, O_ACCMODE = 3;

    /**
     * One filter for tracees of several ABIs on one kernel (32-bit ARM programs on an aarch64
     * device): each audit arch gets its own trapped set; any other arch is killed.
     */
    public static SeccompProgram forTrappedSyscalls(List<Arch> arches) {
        return forTrappedSyscalls(arches, Set.of());
    }

    /** As {@link #forTrappedSyscalls(List)} with the on-demand syscalls of this run. */
    public static SeccompProgram forTrappedSyscalls(List<Arch> arches, Set<Sys> onDemand) {
        if (arches.size() == 1) return forTrappedSyscalls(arches.get(0), onDemand);
        List<List<Insn>> blocks = new ArrayList<>();
        for (Arch arch : arches) blocks.add(checks(arch, unconditional(arch, onDemand), conditional(arch), Map.of(), OpensPass.NONE));
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
        return finish(p);
    }

    private static List<Integer> unconditional(Arch arch, Set<Sys> onDemand) {
        List<Integer> numbers = new ArrayList<>();
        arch.table().numbers().forEach((sys, nr) -> {
            boolean wanted = sys.trapped() || (sys.trappedOnDemand() && onDemand.contains(sys));
            if (wanted && sys.trapOnlyIfArgSet() < 0) numbers.add(nr);
        });
        return numbers;
    }

    /** Raw number -> index of the address argument that must be non-NULL for a stop. */
    private static Map<Integer, Integer> conditional(Arch arch) {
        Map<Integer, Integer> numbers = new TreeMap<>();
        arch.table().numbers().forEach((sys, nr) -> {
            if (sys.trapped() && sys.trapOnlyIfArgSet() >= 0) numbers.put(nr, sys.trapOnlyIfArgSet());
        });
        return numbers;
    }

    /** A filter trapping exactly these raw syscall numbers. */
    public static SeccompProgram build(Arch arch, Collection<Integer> trappedNumbers) {
        return oneArch(arch, trappedNumbers, Map.of(), Map.of(), OpensPass.NONE);
    }

    /** One arch's filter: a foreign audit arch is killed, then these checks. */
    private static SeccompProgram oneArch(Arch arch, Collection<Integer> unconditional, Map<Integer, Integer> conditional,
            Map<Integer, Integer> passingOpens, OpensPass pass) {
        List<Insn> p = new ArrayList<>();
        p.add(new Insn(Bpf.LD_W_ABS, 0, 0, Bpf.DATA_ARCH));
        p.add(new Insn(Bpf.JMP_JEQ_K, 1, 0, arch.auditArch()));
        p.add(new Insn(Bpf.RET_K, 0, 0, Bpf.RET_KILL_PROCESS));
        p.addAll(checks(arch, unconditional, conditional, passingOpens, pass));
        return finish(p);
    }

    private static SeccompProgram finish(List<Insn> p) {
        if (p.size() > Bpf.MAX_INSNS) throw new IllegalArgumentException("filter too long: " + p.size());
        return new SeccompProgram(p);
    }

    /**
     * The per-arch part, entered with the arch already checked: load nr, let the opens {@code pass} names run and
     * trap the other opens of those syscalls, trap the conditional ones whose address argument is set, trap the set,
     * allow the rest.
     */
    private static List<Insn> checks(Arch arch, Collection<Integer> trappedNumbers, Map<Integer, Integer> ifArgSet,
            Map<Integer, Integer> passingOpens, OpensPass pass) {
        List<Integer> sorted = new ArrayList<>(new TreeSet<>(trappedNumbers));
        List<Insn> p = new ArrayList<>();
        p.add(new Insn(Bpf.LD_W_ABS, 0, 0, Bpf.DATA_NR));
        if (arch.foreignAbiBit() != 0) {
            p.add(new Insn(Bpf.JMP_JSET_K, 0, 1, arch.foreignAbiBit()));
            p.add(new Insn(Bpf.RET_K, 0, 0, Bpf.RET_ERRNO | Errno.ENOSYS));
        }
        if (pass == OpensPass.READ_ONLY) namespaceGuard(arch, p);
        // Per open some of whose calls pass, 6 instructions: its flags masked to the bits that matter, equal to the
        // passing value -> allow, anything else -> trace. Directories: O_DIRECTORY alone (a read-only open of an
        // existing directory); read-only: none of them.
        int mask = pass == OpensPass.READ_ONLY ? O_CREAT | O_TMPFILE_BIT | O_ACCMODE | O_TRUNC
                : arch.oDirectory() | O_CREAT | O_TMPFILE_BIT | O_ACCMODE;
        int passing = pass == OpensPass.READ_ONLY ? 0 : arch.oDirectory();
        for (Map.Entry<Integer, Integer> e : passingOpens.entrySet()) {
            p.add(new Insn(Bpf.JMP_JEQ_K, 0, 5, e.getKey()));  // another syscall: past this check
            p.add(new Insn(Bpf.LD_W_ABS, 0, 0, Bpf.DATA_ARGS + 8 * e.getValue()));
            p.add(new Insn(Bpf.ALU_AND_K, 0, 0, mask));
            p.add(new Insn(Bpf.JMP_JEQ_K, 0, 1, passing));
            p.add(new Insn(Bpf.RET_K, 0, 0, Bpf.RET_ALLOW));
            p.add(new Insn(Bpf.RET_K, 0, 0, Bpf.RET_TRACE));
        }
        // Per conditional syscall, 7 instructions; the accumulator keeps nr on the way past them.
        // seccomp_data.args are u64 in the arch's byte order (little-endian on all of ours): both halves.
        for (Map.Entry<Integer, Integer> e : ifArgSet.entrySet()) {
            int low = Bpf.DATA_ARGS + 8 * e.getValue();
            p.add(new Insn(Bpf.JMP_JEQ_K, 0, 6, e.getKey()));  // another syscall: past this check
            p.add(new Insn(Bpf.LD_W_ABS, 0, 0, low));
            p.add(new Insn(Bpf.JMP_JEQ_K, 0, 3, 0));           // low half set: trace
            p.add(new Insn(Bpf.LD_W_ABS, 0, 0, low + 4));
            p.add(new Insn(Bpf.JMP_JEQ_K, 0, 1, 0));           // high half set: trace
            p.add(new Insn(Bpf.RET_K, 0, 0, Bpf.RET_ALLOW));
            p.add(new Insn(Bpf.RET_K, 0, 0, Bpf.RET_TRACE));
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

    /** No new mount namespace (see {@link OpensPass#READ_ONLY}); the accumulator holds nr again after it. */
    private static void namespaceGuard(Arch arch, List<Insn> p) {
        for (Sys sys : new Sys[] {Sys.UNSHARE, Sys.CLONE}) {
            int nr = arch.table().number(sys);
            if (nr < 0) continue;
            p.add(new Insn(Bpf.JMP_JEQ_K, 0, 3, nr));              // another syscall: to the reload
            p.add(new Insn(Bpf.LD_W_ABS, 0, 0, Bpf.DATA_ARGS));     // flags, the first argument of both (low half)
            p.add(new Insn(Bpf.JMP_JSET_K, 0, 1, CLONE_NEWNS));
            p.add(new Insn(Bpf.RET_K, 0, 0, Bpf.RET_ERRNO | Errno.EPERM));
            p.add(new Insn(Bpf.LD_W_ABS, 0, 0, Bpf.DATA_NR));
        }
        int setns = arch.table().number(Sys.SETNS), clone3 = arch.table().number(Sys.CLONE3);
        if (setns >= 0) {
            p.add(new Insn(Bpf.JMP_JEQ_K, 0, 1, setns));
            p.add(new Insn(Bpf.RET_K, 0, 0, Bpf.RET_ERRNO | Errno.EPERM));
        }
        if (clone3 >= 0) {
            p.add(new Insn(Bpf.JMP_JEQ_K, 0, 1, clone3));
            p.add(new Insn(Bpf.RET_K, 0, 0, Bpf.RET_ERRNO | Errno.ENOSYS));
        }
    }

    private static final int CLONE_NEWNS = 0x00020000;

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
