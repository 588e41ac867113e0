package io.tether.daemon.tracer.arch;

/** Logical registers of a stopped tracee, named by role rather than by any architecture's name. */
public enum Reg {
    /** The number of the syscall being made, as the kernel reads it at a syscall stop. */
    SYSNR,
    /** Where the syscall instruction takes its number when it is executed again (rewound). */
    SYSNR_REEXEC,
    ARG0, ARG1, ARG2, ARG3, ARG4, ARG5,
    /** The syscall's return value; on aarch64 and arm the same register as ARG0. */
    RESULT,
    STACK_POINTER,
    INSTRUCTION_POINTER;

    private static final Reg[] ARGS = {ARG0, ARG1, ARG2, ARG3, ARG4, ARG5};

    public static Reg arg(int index) {
        return ARGS[index];
    }
}
