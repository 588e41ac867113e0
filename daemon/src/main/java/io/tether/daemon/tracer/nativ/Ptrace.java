package io.tether.daemon.tracer.nativ;

/** ptrace(2) requests, options, events and regset note types (linux/ptrace.h, linux/elf.h). */
public final class Ptrace {
    private Ptrace() {}

    public static final int CONT = 7, KILL = 8, SYSCALL = 24, SET_SYSCALL_ARM = 23;
    public static final int SETOPTIONS = 0x4200, GETEVENTMSG = 0x4201, GETSIGINFO = 0x4202,
            GETREGSET = 0x4204, SETREGSET = 0x4205, SEIZE = 0x4206, INTERRUPT = 0x4207, LISTEN = 0x4208,
            GET_SYSCALL_INFO = 0x420e;

    public static final int O_TRACESYSGOOD = 1, O_TRACEFORK = 2, O_TRACEVFORK = 4, O_TRACECLONE = 8,
            O_TRACEEXEC = 0x10, O_TRACEVFORKDONE = 0x20, O_TRACEEXIT = 0x40, O_TRACESECCOMP = 0x80,
            O_EXITKILL = 0x100000;

    public static final int EVENT_FORK = 1, EVENT_VFORK = 2, EVENT_CLONE = 3, EVENT_EXEC = 4,
            EVENT_VFORK_DONE = 5, EVENT_EXIT = 6, EVENT_SECCOMP = 7, EVENT_STOP = 128;

    public static final int NT_PRSTATUS = 1, NT_ARM_SYSTEM_CALL = 0x404;

    public static final int WNOHANG = 1, WNOTHREAD = 0x20000000, WALL = 0x40000000;

    public static final int SIGTRAP = 5, SIGKILL = 9, SIGSTOP = 19, SIGTSTP = 20, SIGTTIN = 21, SIGTTOU = 22;
}
