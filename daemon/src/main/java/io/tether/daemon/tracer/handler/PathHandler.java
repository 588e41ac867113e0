package io.tether.daemon.tracer.handler;

import io.tether.daemon.guest.Change;
import io.tether.daemon.guest.FileKind;
import io.tether.daemon.guest.GuestFileAccess;
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
 *
 * <p>A mutating syscall also names its {@link ChangeOf}: when the guest's file access wants hooks (a
 * remote source of truth), the {@link Change} is built from the call's arguments and given to
 * {@link GuestFileAccess#beforeChange} after translation and before the kernel runs the call; its
 * errno fails the call unrun. Local access costs nothing more: no change is built, nothing is read.
 */
public final class PathHandler implements SyscallHandler {
    private final List<PathArg> paths;
    private final boolean sameMountRequired;
    private final boolean removes;
    private final ChangeOf change;  // null: changes nothing a source of truth must know
    private final boolean entry;    // the change adds or removes a directory entry

    private PathHandler(List<PathArg> paths, boolean sameMountRequired, boolean removes, ChangeOf change, boolean entry) {
        this.paths = List.copyOf(paths);
        this.sameMountRequired = sameMountRequired;
        this.removes = removes;
        this.change = change;
        this.entry = entry;
    }

    public static PathHandler of(PathArg... paths) {
        return new PathHandler(List.of(paths), false, false, null, false);
    }

    /** Two paths that must lie in the same bind (rename, link). */
    public static PathHandler acrossMounts(PathArg from, PathArg to) {
        return new PathHandler(List.of(from, to), true, false, null, false);
    }

    /** A syscall changing the attributes of what its path names (chmod, chown, utimes, xattrs, truncate). */
    PathHandler changing(ChangeOf attributeChange) {
        return new PathHandler(paths, sameMountRequired, removes, attributeChange, false);
    }

    /** A syscall adding or removing directory entries (mkdir, unlink, rename, link, symlink...). */
    PathHandler changingEntries(ChangeOf entryChange) {
        return new PathHandler(paths, sameMountRequired, removes, entryChange, true);
    }

    /**
     * A syscall that removes or replaces what its paths name (unlink, rmdir, rename): when that is a
     * directory or symlink, cached knowledge of it is dropped at the syscall's exit stop.
     */
    public PathHandler removing() {
        return new PathHandler(paths, sameMountRequired, true, change, entry);
    }

    /** Whether the call changes something a source of truth must apply first (it names a {@link ChangeOf}). */
    public boolean changes() {
        return change != null;
    }

    @Override
    public Disposition enter(SyscallContext ctx) throws ErrnoException {
        GuestFileAccess fs = ctx.view().fileAccess();
        // With hooks the kernel must never resolve a name alone: the access sees every path first.
        boolean hooked = fs.wantsHooks();
        List<Resolved> resolved = new ArrayList<>(paths.size());
        Resolved[] byArg = new Resolved[paths.size()];
        for (int i = 0; i < paths.size(); i++) {
            // A lookup that changes nothing may be the kernel's even with hooks, where the access says its directory is whole.
            Resolved r = translate(ctx, paths.get(i), !sameMountRequired && !removes && (!hooked || change == null));
            byArg[i] = r;
            if (r != null) resolved.add(r);
        }
        if (sameMountRequired && resolved.size() == 2) {
            String a = ctx.view().mountOf(resolved.get(0).guestPath());
            String b = ctx.view().mountOf(resolved.get(1).guestPath());
            if (!a.equals(b)) throw new ErrnoException(Errno.EXDEV, ctx.sys().kernelName(), a + " -> " + b);
        }
        if (hooked && change != null) announce(ctx, fs, byArg);
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

    /** Gives the access the change about to be made; an argument naming no path names its fd (or the cwd). */
    private void announce(SyscallContext ctx, GuestFileAccess fs, Resolved[] byArg) throws ErrnoException {
        List<String> targets = new ArrayList<>(byArg.length);
        for (int i = 0; i < byArg.length; i++) {
            String t = byArg[i] == null ? HookArgs.fdTargetPath(ctx, paths.get(i).dirfd(ctx)) : HookArgs.targetPath(byArg[i], entry);
            if (t == null) return; // a final "." or "..": the kernel refuses the call itself
            targets.add(t);
        }
        Change c = change.of(ctx, targets);
        if (c != null) HookArgs.call("beforeChange", () -> fs.beforeChange(c));
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
        if (shortcut && ctx.kernelResolvesAlike(p.dirfd(ctx), guestPath, follow)
                && (!ctx.view().fileAccess().wantsHooks() || ctx.kernelMayLookUpIn(p.dirfd(ctx)))) {
            return null;
        }
        Resolved r = ctx.resolve(p.dirfd(ctx), guestPath, follow);
        // With the host root as guest root most paths translate to themselves: nothing to write.
        // Kernel-rooted, the tracee's own path resolves in the chroot as it did here: never rewritten.
        if (!ctx.kernelRooted() && !r.hostPath().equals(guestPath)) ctx.setArg(p.pathArg, ctx.pushString(r.hostPath()));
        return r;
    }
}
