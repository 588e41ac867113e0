package io.tether.daemon.tracer.handler;

import io.tether.daemon.tracer.SyscallContext;
import io.tether.posix.ErrnoException;

/**
 * Translates one family of syscalls. Handlers see logical syscalls ({@link SyscallContext#sys()})
 * and logical registers only, never raw numbers. An {@link ErrnoException} thrown at entry fails
 * the syscall with that errno without running it. Handlers are stateless and shared; per-call state
 * between entry and exit goes in {@link SyscallContext#exitState(Object)}.
 */
public interface SyscallHandler {
    Disposition enter(SyscallContext ctx) throws ErrnoException;

    /** At the exit stop, if {@link #enter} returned {@link Disposition#RUN_AND_STOP_AT_EXIT}. */
    default void exit(SyscallContext ctx) throws ErrnoException {
    }
}
