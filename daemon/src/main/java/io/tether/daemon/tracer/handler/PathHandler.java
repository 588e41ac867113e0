package io.tether.daemon.tracer.handler;

import io.tether.daemon.guest.FileKind;
import io.tether.daemon.guest.Resolved;
import io.tether.daemon.tracer.SyscallContext;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.util.ArrayList;
import java.util.List;

/**
 * The syscalls whose only translation is "each path argument becomes its host path": the stat,
 * access, directory-entry, attribute, xattr and watch families. Relative paths with a dirfd become
 * absolute host paths, so the dirfd no longer matters. With {@link #acrossMounts}, two paths in
 * different binds fail with EXDEV, as rename and link do across real mounts.
 */
public final class PathHandler implements SyscallHandler {
    private final List<PathArg> paths;
    private final boolean sameMountRequired;
    private final boolean removes;

    private PathHandler(List<PathArg> paths, boolean sameMountRequired, boolean removes) {
        this.paths = List.copyOf(paths);
        this.sameMountRequired = sameMountRequired;
        this.removes = removes;
    }

    public static PathHandler of(PathArg... paths) {
        return new PathHandler(List.of(paths), false, false);
    }

    /** Two paths that must lie in the same bind (rename, link). */
    public static PathHandler acrossMounts(PathArg from, PathArg to) {
        return new PathHandler(List.of(from, to), true, false);
    }

    /**
     * A syscall that removes or replaces what its paths name (unlink, rmdir, rename): when that is a
     * directory or symlink, cached knowledge of it is dropped at the syscall's exit stop.
     */
    public PathHandler removing() {
        return new PathHandler(paths, sameMountRequired, true);
    }

    @Override
    public Disposition enter(SyscallContext ctx) throws ErrnoException {
        List<Resolved> resolved = new ArrayList<>(paths.size());
        for (PathArg p : paths) {
            Resolved r = translate(ctx, p, !sameMountRequired && !removes);
            if (r != null) resolved.add(r);
        }
        if (sameMountRequired && resolved.size() == 2) {
            String a = ctx.view().mountOf(resolved.get(0).guestPath());
            String b = ctx.view().mountOf(resolved.get(1).guestPath());
            if (!a.equals(b)) throw new ErrnoException(Errno.EXDEV, ctx.sys().kernelName(), a + " -> " + b);
        }
        if (removes) {
            List<String> stale = new ArrayList<>();
            for (Resolved r : resolved) {
                if (r.kind() == FileKind.DIRECTORY || r.kind() == FileKind.SYMLINK) stale.add(r.hostPath());
            }
            if (!stale.isEmpty()) {
                ctx.exitState(stale);
                return Disposition.RUN_AND_STOP_AT_EXIT;
            }
        }
        return Disposition.RUN;
    }

    @Override
    @SuppressWarnings("unchecked")
    public void exit(SyscallContext ctx) {
        for (String hostPath : (List<String>) ctx.exitState()) {
            String p = hostPath.endsWith("/") && hostPath.length() > 1 ? hostPath.substring(0, hostPath.length() - 1) : hostPath;
            ctx.view().fileAccess().invalidate(p);
        }
    }

    /**
     * Rewrites one path argument in place; null when there was nothing to translate (or, with
     * {@code shortcut}, when the kernel resolves it alike untranslated).
     */
    static Resolved translate(SyscallContext ctx, PathArg p, boolean shortcut) throws ErrnoException {
        long address = ctx.arg(p.pathArg);
        if (address == 0) {
            if (p.nullable) return null;
            throw new ErrnoException(Errno.EFAULT, ctx.sys().kernelName(), "NULL path");
        }
        String guestPath = ctx.readString(address);
        if (guestPath.isEmpty()) {
            if (p.emptyPathAllowed(ctx)) return null;
            throw new ErrnoException(Errno.ENOENT, ctx.sys().kernelName(), "empty path");
        }
        boolean follow = p.follows(ctx);
        if (shortcut && ctx.kernelResolvesAlike(p.dirfd(ctx), guestPath, follow)) return null;
        Resolved r = ctx.resolve(p.dirfd(ctx), guestPath, follow);
        // With the host root as guest root most paths translate to themselves: nothing to write.
        if (!r.hostPath().equals(guestPath)) ctx.setArg(p.pathArg, ctx.pushString(r.hostPath()));
        return r;
    }
}
