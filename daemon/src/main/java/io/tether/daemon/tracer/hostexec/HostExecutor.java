package io.tether.daemon.tracer.hostexec;

import io.tether.posix.ErrnoException;

/**
 * Starts the host side of a host exec. {@link LocalHostExecutor} runs it on the daemon's own
 * machine (target {@code local}, where the target is the host); the remote one (later) asks the
 * client over the channel.
 */
public interface HostExecutor extends AutoCloseable {
    /**
     * Starts {@code command}; returns once the program runs (its execve passed). Takes ownership of
     * {@link HostCommand#fds()}: they are closed when no longer needed, on failure too.
     *
     * @throws ErrnoException the errno the tracee's execve fails with (ENOENT, EACCES, ENOEXEC...)
     */
    HostProcess start(HostCommand command) throws ErrnoException;

    /** Kills nothing: processes still running are the tracer's to end; releases the executor's own resources. */
    @Override
    default void close() {
    }

    /** For a session that enables host exec but has no way to run anything on the host: refuses with EACCES. */
    static HostExecutor unavailable(String why) {
        return command -> {
            for (int fd : command.fds().values()) io.tether.posix.LibC.closeQuietly(fd);
            throw new ErrnoException(io.tether.posix.Errno.EACCES, "host exec " + command.guestPath(), why);
        };
    }
}
