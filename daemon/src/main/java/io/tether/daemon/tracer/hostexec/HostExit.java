package io.tether.daemon.tracer.hostexec;

import io.tether.posix.WaitStatus;

/** How a host process ended: an exit code, or the signal that killed it (termSignal > 0). */
public record HostExit(int exitCode, int termSignal) {
    public static HostExit exited(int code) {
        return new HostExit(code & 0xff, 0);
    }

    public static HostExit killed(int signo) {
        return new HostExit(0, signo);
    }

    public static HostExit of(WaitStatus status) {
        return status.signaled() ? killed(status.termSignal()) : exited(status.exitCode());
    }

    public boolean signaled() {
        return termSignal > 0;
    }

    @Override
    public String toString() {
        return signaled() ? "killed by signal " + termSignal : "exited " + exitCode;
    }
}
