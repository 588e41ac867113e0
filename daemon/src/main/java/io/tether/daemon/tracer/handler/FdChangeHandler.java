package io.tether.daemon.tracer.handler;

import io.tether.daemon.guest.Change;
import io.tether.daemon.guest.GuestFileAccess;
import io.tether.daemon.guest.GuestView;
import io.tether.daemon.tracer.SyscallContext;
import io.tether.daemon.tracer.arch.Sys;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * fchmod, fchown (fchown32), fsetxattr and fremovexattr: attribute changes through an fd, which take no
 * path and need no translation. The filter stops on them only when the guest's file access wants hooks
 * ({@link #trappedFor}): the write-back of a file's contents at close would not carry its owner or
 * xattrs, nor a mode changed on a read-only fd, so the source of truth is told the change first, as for
 * chmod on a path. An fd on no file of the tree (a pipe, a deleted file) names its /proc link.
 */
final class FdChangeHandler implements SyscallHandler {
    /** The fd attribute calls, trapped on demand. */
    static final Set<Sys> SYSCALLS = Set.copyOf(EnumSet.of(Sys.FCHMOD, Sys.FCHOWN, Sys.FCHOWN32, Sys.FSETXATTR, Sys.FREMOVEXATTR));
    private static final int O_PATH = 010000000;

    private final ChangeOf change;

    FdChangeHandler(ChangeOf change) {
        this.change = change;
    }

    /** What a run over {@code view} must trap of {@link #SYSCALLS}: all of them with hooks, else none. */
    static Set<Sys> trappedFor(GuestView view) {
        return view.fileAccess().wantsHooks() ? SYSCALLS : Set.of();
    }

    @Override
    public Disposition enter(SyscallContext ctx) throws ErrnoException {
        GuestFileAccess fs = ctx.view().fileAccess();
        if (!fs.wantsHooks()) return Disposition.RUN;
        int fd = ctx.intArg(0);
        String target = HookArgs.fdTargetPath(ctx, fd);
        // The kernel refuses these on an O_PATH fd: the source of truth must not apply them either.
        if ((fdFlags(ctx, fd) & O_PATH) != 0) throw new ErrnoException(Errno.EBADF, ctx.sys().kernelName(), "O_PATH fd " + fd);
        Change c = change.of(ctx, List.of(target));
        if (c != null) HookArgs.call("beforeChange", () -> fs.beforeChange(c));
        return Disposition.RUN;
    }

    private static int fdFlags(SyscallContext ctx, int fd) throws ErrnoException {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + ctx.tid() + "/fdinfo/" + fd))) {
                if (line.startsWith("flags:")) return Integer.parseInt(line.substring(6).trim(), 8);
            }
        } catch (IOException | NumberFormatException e) {
            // gone: EBADF below
        }
        throw new ErrnoException(Errno.EBADF, ctx.sys().kernelName(), "fd " + fd);
    }
}
