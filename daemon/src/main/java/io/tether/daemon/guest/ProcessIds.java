package io.tether.daemon.guest;

/**
 * Whose view of {@code /proc/self} and {@code /proc/thread-self} a resolution uses: the tracee's, not
 * the daemon's. {@link #NONE} leaves them as the host kernel would see them from the daemon.
 */
public record ProcessIds(int pid, int tid) {
    public static final ProcessIds NONE = new ProcessIds(0, 0);

    public boolean known() {
        return pid > 0;
    }
}
