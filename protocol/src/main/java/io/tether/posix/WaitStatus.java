package io.tether.posix;

/** What waitpid reported for {@code pid}: the raw status word decoded as the W* macros do. */
public record WaitStatus(int pid, int status) {
    public boolean exited() { return (status & 0x7f) == 0; }

    public int exitCode() { return (status >> 8) & 0xff; }

    public boolean signaled() { return (status & 0x7f) != 0 && (status & 0x7f) != 0x7f; }

    public int termSignal() { return status & 0x7f; }

    public boolean coreDumped() { return signaled() && (status & 0x80) != 0; }

    public boolean stopped() { return (status & 0xff) == 0x7f; }

    public int stopSignal() { return (status >> 8) & 0xff; }

    @Override
    public String toString() {
        if (exited()) return "pid " + pid + " exited " + exitCode();
        if (signaled()) return "pid " + pid + " killed by SIG" + Signals.name(termSignal()) + (coreDumped() ? " (core dumped)" : "");
        return "pid " + pid + " status 0x" + Integer.toHexString(status);
    }
}
