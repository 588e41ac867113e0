package io.tether.daemon.tracer.arch;

import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;
import java.util.Objects;

/**
 * Everything the tracer needs to know about one architecture, as data: the seccomp audit arch, the
 * syscall table, where each logical {@link Reg} lives in the general-purpose register set
 * (PTRACE_GETREGSET NT_PRSTATUS), and how a syscall is re-executed or renumbered. The instances are in
 * {@link Arches}; nothing else in the tracer branches on the architecture.
 */
public final class Arch {
    /** How a tracer changes the number of the syscall a tracee is stopped in. */
    public enum SysnrWrite {
        /** Write {@link Reg#SYSNR} in the general registers (x86_64 orig_rax). */
        IN_REGISTERS,
        /** PTRACE_SETREGSET with NT_ARM_SYSTEM_CALL (aarch64). */
        ARM_SYSTEM_CALL_REGSET,
        /** PTRACE_SET_SYSCALL (32-bit ARM). */
        PTRACE_SET_SYSCALL
    }

    private final String name;
    private final int auditArch;
    private final int elfMachine;
    private final int wordSize;
    private final int regsetSize;
    private final Map<Reg, Integer> offsets;
    private final SysnrWrite sysnrWrite;
    private final int syscallInsnLength;
    private final int thumbFlagOffset;
    private final long thumbFlagMask;
    private final int thumbInsnLength;
    private final int redZone;
    private final int stackAlignment;
    private final int foreignAbiBit;
    private final SyscallTable table;
    private final int oNofollow;
    private final int oDirectory;

    private Arch(Builder b) {
        this.name = Objects.requireNonNull(b.name);
        this.auditArch = b.auditArch;
        this.elfMachine = b.elfMachine;
        this.wordSize = b.wordSize;
        this.regsetSize = b.regsetSize;
        for (Reg reg : Reg.values()) {
            if (!b.offsets.containsKey(reg)) throw new IllegalArgumentException(name + ": no offset for " + reg);
        }
        this.offsets = Collections.unmodifiableMap(new EnumMap<>(b.offsets));
        this.sysnrWrite = Objects.requireNonNull(b.sysnrWrite);
        this.syscallInsnLength = b.syscallInsnLength;
        this.thumbFlagOffset = b.thumbFlagOffset;
        this.thumbFlagMask = b.thumbFlagMask;
        this.thumbInsnLength = b.thumbInsnLength;
        this.redZone = b.redZone;
        this.stackAlignment = b.stackAlignment;
        this.foreignAbiBit = b.foreignAbiBit;
        this.table = Objects.requireNonNull(b.table);
        this.oNofollow = b.oNofollow;
        if (oNofollow == 0) throw new IllegalArgumentException(name + ": no O_NOFOLLOW");
        this.oDirectory = b.oDirectory;
        if (oDirectory == 0) throw new IllegalArgumentException(name + ": no O_DIRECTORY");
    }

    public static Builder builder(String name) {
        return new Builder(name);
    }

    public String name() { return name; }
    /** AUDIT_ARCH_* value seen by seccomp filters in seccomp_data.arch. */
    public int auditArch() { return auditArch; }
    /** ELF e_machine of executables for this architecture. */
    public int elfMachine() { return elfMachine; }
    /** Bytes in a register, a pointer and a long. */
    public int wordSize() { return wordSize; }
    /** Size of the NT_PRSTATUS register set. */
    public int regsetSize() { return regsetSize; }
    /** Byte offset of a logical register in the NT_PRSTATUS set. */
    public int offset(Reg reg) { return offsets.get(reg); }
    public SysnrWrite sysnrWrite() { return sysnrWrite; }
    /** Bytes below the stack pointer that signal handlers and leaf functions may use (x86_64: 128). */
    public int redZone() { return redZone; }
    public int stackAlignment() { return stackAlignment; }
    /**
     * A syscall-number bit that selects another ABI under the same audit arch (x86_64's x32 bit), so
     * the filter must refuse it; 0 if none.
     */
    public int foreignAbiBit() { return foreignAbiBit; }
    public SyscallTable table() { return table; }
    /** O_NOFOLLOW, which differs between architectures (asm/fcntl.h). */
    public int oNofollow() { return oNofollow; }
    /** O_DIRECTORY, which differs too (x86_64's is arm's O_DIRECT). */
    public int oDirectory() { return oDirectory; }

    /** Length of the syscall instruction just executed, given the stopped registers (thumb mode on arm). */
    public int syscallInsnLength(Registers regs) {
        if (thumbFlagOffset >= 0 && (regs.word(thumbFlagOffset) & thumbFlagMask) != 0) return thumbInsnLength;
        return syscallInsnLength;
    }

    @Override
    public String toString() {
        return name;
    }

    /** Builder for the data of one architecture. */
    public static final class Builder {
        private final String name;
        private int auditArch;
        private int elfMachine;
        private int wordSize;
        private int regsetSize;
        private final Map<Reg, Integer> offsets = new EnumMap<>(Reg.class);
        private SysnrWrite sysnrWrite;
        private int syscallInsnLength;
        private int thumbFlagOffset = -1;
        private long thumbFlagMask;
        private int thumbInsnLength;
        private int redZone;
        private int stackAlignment = 16;
        private int foreignAbiBit;
        private SyscallTable table;
        private int oNofollow;
        private int oDirectory;

        private Builder(String name) {
            this.name = name;
        }

        public Builder auditArch(int v) { auditArch = v; return this; }
        public Builder elfMachine(int v) { elfMachine = v; return this; }
        public Builder wordSize(int v) { wordSize = v; return this; }
        public Builder regsetSize(int v) { regsetSize = v; return this; }
        /** Register given by its index in the register set, in words. */
        public Builder reg(Reg reg, int wordIndex) { offsets.put(reg, wordIndex * wordSize); return this; }
        public Builder sysnrWrite(SysnrWrite v) { sysnrWrite = v; return this; }
        public Builder syscallInsnLength(int v) { syscallInsnLength = v; return this; }
        public Builder thumb(int flagWordIndex, long mask, int insnLength) {
            thumbFlagOffset = flagWordIndex * wordSize; thumbFlagMask = mask; thumbInsnLength = insnLength; return this;
        }
        public Builder redZone(int v) { redZone = v; return this; }
        public Builder stackAlignment(int v) { stackAlignment = v; return this; }
        public Builder foreignAbiBit(int v) { foreignAbiBit = v; return this; }
        public Builder table(SyscallTable v) { table = v; return this; }
        public Builder oNofollow(int v) { oNofollow = v; return this; }
        public Builder oDirectory(int v) { oDirectory = v; return this; }

        public Arch build() {
            if (wordSize != 4 && wordSize != 8) throw new IllegalArgumentException("word size " + wordSize);
            return new Arch(this);
        }
    }
}
