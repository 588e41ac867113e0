package io.tether.daemon.tracer.handler;

import io.tether.daemon.tracer.SyscallContext;
import io.tether.posix.ErrnoException;

/**
 * Syscalls a guest may not make because they would act outside it (mounts, chroot, swap, accounting,
 * handles that bypass paths): refused with a fixed errno, as an unprivileged process would see.
 */
public final class RefusedHandler implements SyscallHandler {
    private final int errno;

    public RefusedHandler(int errno) {
        this.errno = errno;
    }

    @Override
    public Disposition enter(SyscallContext ctx) throws ErrnoException {
        return ctx.skip(-errno);
    }
}
