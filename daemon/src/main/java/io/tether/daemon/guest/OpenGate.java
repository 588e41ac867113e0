package io.tether.daemon.guest;

/**
 * A kernel-rooted run's gate on first opens (see {@link GuestFileAccess#openGate}): while it is up, the kernel
 * holds each tracee's first open of a file until the file's contents are here, so read-only opens need not stop.
 * Closed once the run's last tracee is gone.
 */
public interface OpenGate extends AutoCloseable {
    @Override
    void close();
}
