package io.tether.daemon.tracer;

import io.tether.daemon.tracer.handler.SyscallHandler;

/** State of one traced thread, freed when it exits. Only the tracer thread touches it. */
final class Tracee {
    final int tid;
    /** Thread group id, read from /proc on first need (0: not yet known). */
    int tgid;
    /** Whether its first stop was seen: an auto-attached child starts with a PTRACE_EVENT_STOP. */
    boolean started;
    /** The handler that asked for the exit stop of the syscall in progress, and its state. */
    SyscallHandler pendingExit;
    Object exitState;
    /** The syscalls being injected into it (the first tracee only), or null. */
    Injection injection;
    /** What /proc/PID/exe shows the guest when it is not the kernel's answer (started through a loader). */
    String guestExe;
    /** guestExe of the execve in progress, applied at its exec event. */
    String pendingExe;
    /** Whether guestExe was settled (from the parent, or by an exec); events can arrive in either order. */
    boolean inherited;
    byte[] savedRegs;
    /** Set while the program this tracee exec'd runs on the host (see {@link HostRuns}). */
    HostRuns.Run hostRun;

    Tracee(int tid) {
        this.tid = tid;
    }

    void resetSyscallState() {
        pendingExit = null;
        exitState = null;
    }
}
