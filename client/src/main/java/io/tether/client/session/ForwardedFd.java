package io.tether.client.session;

import io.tether.posix.ErrnoException;
import io.tether.posix.Terminal;
import io.tether.protocol.proto.Direction;

/**
 * One local descriptor relayed to the remote process: our {@code localFd} is pumped to or
 * from the mux stream backing the process's {@code targetFd}.
 */
record ForwardedFd(int localFd, int targetFd, Direction direction) {

    /**
     * The direction the process may use {@code fd} in, from its access mode: a read-only
     * descriptor ({@code 4<input}) only feeds the process, a write-only one ({@code 3>log})
     * only receives, a read-write one ({@code 5<>file}, a socket) does both.
     */
    static Direction directionOf(int fd) throws ErrnoException {
        return switch (Terminal.statusFlags(fd) & Terminal.O_ACCMODE) {
            case Terminal.O_RDONLY -> Direction.TO_PROCESS;
            case Terminal.O_WRONLY -> Direction.FROM_PROCESS;
            default -> Direction.BOTH;
        };
    }

    boolean toProcess() {
        return direction == Direction.TO_PROCESS || direction == Direction.BOTH;
    }

    boolean fromProcess() {
        return direction == Direction.FROM_PROCESS || direction == Direction.BOTH;
    }
}
