package io.tether.daemon.guest;

import java.util.function.IntFunction;

/**
 * Whose view of {@code /proc/self} and {@code /proc/thread-self} a resolution uses: the tracee's, not
 * the daemon's. {@link #NONE} leaves them as the host kernel would see them from the daemon.
 * {@code guestExe}, when not null, is what {@code /proc/PID/exe} of this process must show: the
 * program, not the guest loader the tracer started it through. {@code exeOf}, when not null, gives the
 * same for other processes of the traced tree by pid (null for one the kernel reports rightly).
 */
public record ProcessIds(int pid, int tid, String guestExe, IntFunction<String> exeOf) {
    public static final ProcessIds NONE = new ProcessIds(0, 0, null);

    public ProcessIds(int pid, int tid) {
        this(pid, tid, null);
    }

    public ProcessIds(int pid, int tid, String guestExe) {
        this(pid, tid, guestExe, null);
    }

    /** What /proc/{@code otherPid}/exe must show, or null for the kernel's own answer. */
    public String guestExeOf(int otherPid) {
        if (otherPid == pid) return guestExe;
        return exeOf == null ? null : exeOf.apply(otherPid);
    }

    public boolean known() {
        return pid > 0;
    }
}
