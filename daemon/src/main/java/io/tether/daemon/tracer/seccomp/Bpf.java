package io.tether.daemon.tracer.seccomp;

/** Classic BPF opcodes and seccomp constants (linux/filter.h, linux/bpf_common.h, linux/seccomp.h). */
public final class Bpf {
    private Bpf() {}

    public static final int LD_W_ABS = 0x00 | 0x00 | 0x20; // BPF_LD | BPF_W | BPF_ABS
    public static final int JMP_JA = 0x05 | 0x00;          // BPF_JMP | BPF_JA
    public static final int JMP_JEQ_K = 0x05 | 0x10;       // BPF_JMP | BPF_JEQ | BPF_K
    public static final int JMP_JGE_K = 0x05 | 0x30;       // BPF_JMP | BPF_JGE | BPF_K
    public static final int JMP_JSET_K = 0x05 | 0x40;      // BPF_JMP | BPF_JSET | BPF_K
    public static final int ALU_AND_K = 0x04 | 0x50;       // BPF_ALU | BPF_AND | BPF_K
    public static final int RET_K = 0x06;                  // BPF_RET | BPF_K

    public static final int RET_KILL_PROCESS = 0x80000000;
    public static final int RET_ERRNO = 0x00050000;
    public static final int RET_TRACE = 0x7ff00000;
    public static final int RET_ALLOW = 0x7fff0000;
    public static final int RET_ACTION_FULL = 0xffff0000;
    public static final int RET_DATA = 0x0000ffff;

    /** Offsets in struct seccomp_data. */
    public static final int DATA_NR = 0, DATA_ARCH = 4, DATA_ARGS = 16;

    /** Bytes per struct sock_filter (u16 code, u8 jt, u8 jf, u32 k). */
    public static final int INSN_SIZE = 8;
    /** BPF_MAXINSNS: the kernel refuses longer programs. */
    public static final int MAX_INSNS = 4096;

    public static final int SECCOMP_SET_MODE_FILTER = 1;
    /**
     * Leaves the task's speculation state as it was (Linux 4.17): without it, x86 kernels whose SSB or
     * spectre_v2_user mitigation is in "seccomp" mode (the default before 5.16) force SSBD and STIBP
     * on every filtered task, slowing all of its code, not just its syscalls. Our filter translates, it
     * does not sandbox: the tracee keeps the speculation state it would have natively.
     */
    public static final int SECCOMP_FILTER_FLAG_SPEC_ALLOW = 1 << 2;
    public static final int PR_SET_NO_NEW_PRIVS = 38;
}
