package io.tether.daemon.tracer.handler;

import io.tether.daemon.tracer.SyscallContext;

/**
 * Where a syscall takes one path and how the kernel resolves it: the path argument, an optional
 * dirfd argument, whether a final symlink is followed (always, never, or by a flag bit), whether
 * AT_EMPTY_PATH with "" means "the dirfd itself", and whether NULL is allowed (utimensat).
 */
public final class PathArg {
    public static final int AT_SYMLINK_NOFOLLOW = 0x100, AT_SYMLINK_FOLLOW = 0x400, AT_EMPTY_PATH = 0x1000;

    final int pathArg;
    final int dirfdArg;
    final boolean follow;
    final int flagsArg;
    final int toggleMask;
    final int emptyPathMask;
    final boolean nullable;

    private PathArg(int pathArg, int dirfdArg, boolean follow, int flagsArg, int toggleMask, int emptyPathMask,
                    boolean nullable) {
        this.pathArg = pathArg;
        this.dirfdArg = dirfdArg;
        this.follow = follow;
        this.flagsArg = flagsArg;
        this.toggleMask = toggleMask;
        this.emptyPathMask = emptyPathMask;
        this.nullable = nullable;
    }

    /** A path in argument {@code index}, relative to the cwd, final symlink followed. */
    public static PathArg follow(int index) {
        return new PathArg(index, -1, true, -1, 0, 0, false);
    }

    /** A path in argument {@code index} whose final symlink is not followed (lstat, unlink, mkdir...). */
    public static PathArg nofollow(int index) {
        return new PathArg(index, -1, false, -1, 0, 0, false);
    }

    public PathArg dirfd(int index) {
        return new PathArg(pathArg, index, follow, flagsArg, toggleMask, emptyPathMask, nullable);
    }

    /** Followed unless {@code mask} is set in argument {@code flagsIndex} (AT_SYMLINK_NOFOLLOW...). */
    public PathArg nofollowIf(int flagsIndex, int mask) {
        return new PathArg(pathArg, dirfdArg, true, flagsIndex, mask, emptyPathMask, nullable);
    }

    /** Not followed unless {@code mask} is set in argument {@code flagsIndex} (AT_SYMLINK_FOLLOW). */
    public PathArg followIf(int flagsIndex, int mask) {
        return new PathArg(pathArg, dirfdArg, false, flagsIndex, mask, emptyPathMask, nullable);
    }

    /** "" with AT_EMPTY_PATH in the flags argument names the dirfd itself: nothing to translate. */
    public PathArg emptyPathIf(int mask) {
        return new PathArg(pathArg, dirfdArg, follow, flagsArg, toggleMask, mask, nullable);
    }

    /** A NULL path names the dirfd itself (utimensat, fanotify_mark). */
    public PathArg nullable() {
        return new PathArg(pathArg, dirfdArg, follow, flagsArg, toggleMask, emptyPathMask, true);
    }

    boolean follows(SyscallContext ctx) {
        if (flagsArg < 0 || toggleMask == 0) return follow;
        boolean set = (ctx.intArg(flagsArg) & toggleMask) != 0;
        return follow != set;
    }

    boolean emptyPathAllowed(SyscallContext ctx) {
        return emptyPathMask != 0 && flagsArg >= 0 && (ctx.intArg(flagsArg) & emptyPathMask) != 0;
    }

    int dirfd(SyscallContext ctx) {
        return dirfdArg < 0 ? SyscallContext.AT_FDCWD : ctx.intArg(dirfdArg);
    }
}
