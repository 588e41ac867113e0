package io.tether.daemon.tracer.handler;

import io.tether.daemon.guest.Change;
import io.tether.daemon.tracer.SyscallContext;
import io.tether.posix.ErrnoException;
import java.util.List;

/**
 * Builds the {@link Change} a mutating syscall is about to make, from its own arguments (read from the
 * registers and the tracee's memory) and the target paths of its path arguments. Used by
 * {@link PathHandler#changing} only when the guest's file access wants hooks.
 */
@FunctionalInterface
interface ChangeOf {
    /**
     * @param targetPaths one per path argument of the handler, in its order, never null
     * @return the change, or null when the call changes nothing (utimensat with both times UTIME_OMIT)
     */
    Change of(SyscallContext ctx, List<String> targetPaths) throws ErrnoException;
}
