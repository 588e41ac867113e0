package io.tether.daemon.tracer.hostexec;

import io.tether.daemon.guest.Resolved;
import io.tether.daemon.tracer.SyscallContext;
import io.tether.daemon.tracer.arch.Sys;
import io.tether.daemon.tracer.handler.Disposition;
import io.tether.daemon.tracer.handler.Handlers;
import io.tether.daemon.tracer.handler.PathArg;
import io.tether.daemon.tracer.handler.SyscallHandler;
import io.tether.posix.ErrnoException;

/**
 * The execve/execveat handler of a tree with host execution: resolves the program in the guest, asks
 * {@link HostExecEntry} whether it runs on the host, and otherwise hands the call to the exec handler
 * it wraps (the standard {@link io.tether.daemon.tracer.handler.ExecHandler}), unchanged.
 */
public final class HostExecHandler implements SyscallHandler {
    private final HostExec hostExec;
    private final SyscallHandler onTarget;

    public HostExecHandler(HostExec hostExec, SyscallHandler onTarget) {
        this.hostExec = hostExec;
        this.onTarget = onTarget;
    }

    /** {@code handlers} with their exec handlers wrapped, if {@code hostExec} is enabled. */
    public static Handlers install(Handlers handlers, HostExec hostExec) {
        if (hostExec == null || !hostExec.enabled()) return handlers;
        for (Sys s : new Sys[] {Sys.EXECVE, Sys.EXECVEAT}) {
            SyscallHandler h = handlers.get(s);
            if (h != null && !(h instanceof HostExecHandler)) handlers = handlers.with(s, new HostExecHandler(hostExec, h));
        }
        return handlers;
    }

    public HostExec hostExec() {
        return hostExec;
    }

    @Override
    public Disposition enter(SyscallContext ctx) throws ErrnoException {
        boolean at = ctx.sys() == Sys.EXECVEAT;
        int dirfd = at ? ctx.intArg(0) : SyscallContext.AT_FDCWD;
        int pathArg = at ? 1 : 0;
        int flags = at ? ctx.intArg(4) : 0;
        String guestPath = ctx.readString(ctx.arg(pathArg));
        if (!guestPath.isEmpty() && (flags & PathArg.AT_EMPTY_PATH) == 0) { // fexecve runs on the target
            Resolved program;
            try {
                program = ctx.resolve(dirfd, guestPath, (flags & PathArg.AT_SYMLINK_NOFOLLOW) == 0);
            } catch (ErrnoException e) {
                return onTarget.enter(ctx); // whose errors are the exec's own
            }
            Disposition d = HostExecEntry.enter(ctx, hostExec, dirfd, guestPath, program, ctx.arg(pathArg + 1), ctx.arg(pathArg + 2));
            if (d != null) return d;
        }
        return onTarget.enter(ctx);
    }

    @Override
    public void exit(SyscallContext ctx) throws ErrnoException {
        onTarget.exit(ctx);
    }
}
