package io.tether.daemon.guest;

/**
 * Whose view of {@code /proc/self} and {@code /proc/thread-self} a resolution uses: the tracee's, not
 * the daemon's. {@link #NONE} leaves them as the host kernel would see them from the daemon.
 * {@code guestExe}, when not null, is what {@code /proc/PID/exe} of this process must show: the
 * program, not the guest loader the tracer started it through.
 */
public record ProcessIds(int pid, int tid, String guestExe) {
    public static final ProcessIds NONE = new ProcessIds(0, 0, null);

    public ProcessIds(int pid, int tid) {
        this(pid, tid, null);
    }

    public boolean known() {
        return pid > 0;
    }
}
