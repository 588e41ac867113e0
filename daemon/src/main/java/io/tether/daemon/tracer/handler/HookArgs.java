package io.tether.daemon.tracer.handler;

import io.tether.daemon.guest.LocalFileAccess;
import io.tether.daemon.guest.Resolved;
import io.tether.daemon.tracer.SyscallContext;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the {@link io.tether.daemon.guest.GuestFileAccess} hooks are told, worked out only when the
 * access wants hooks: the target path a resolved argument names, the file an fd names, the umask.
 */
final class HookArgs {
    private static final Logger log = LoggerFactory.getLogger(HookArgs.class);
    private static final String DELETED = " (deleted)";

    /** A call of one of the access's hooks. */
    @FunctionalInterface
    interface Hook {
        void run() throws ErrnoException;
    }

    /**
     * Runs a hook: its errno is the syscall's. A bug in it (an unchecked exception) fails the call with
     * EIO and is logged, rather than surfacing as the ENOSYS the tracer gives a failed handler.
     */
    static void call(String what, Hook hook) throws ErrnoException {
        try {
            hook.run();
        } catch (RuntimeException e) {
            log.error("{} failed", what, e);
            throw new ErrnoException(Errno.EIO, what, String.valueOf(e));
        }
    }

    private HookArgs() {}

    /**
     * The target path of a resolved argument without the decorations kept for the kernel (a trailing
     * slash, a final "/."). For a new or removed entry ({@code entry}) a final "." or ".." gives null:
     * the kernel refuses that itself (EEXIST, EINVAL, EISDIR, EBUSY), so there is nothing to announce.
     */
    static String targetPath(Resolved r, boolean entry) {
        String p = r.hostPath();
        if (p.endsWith("/.")) {
            if (entry) return null;
            p = p.substring(0, p.length() - 2);
        }
        while (p.length() > 1 && p.endsWith("/")) p = p.substring(0, p.length() - 1);
        return p.isEmpty() ? "/" : p;
    }

    /**
     * The target path of the file {@code fd} refers to (AT_FDCWD: the cwd), for calls naming the fd
     * itself (utimensat with a NULL path, AT_EMPTY_PATH). A file that is no path any more (deleted,
     * O_TMPFILE) or never was one (a pipe) is named by its /proc link, which lies outside every tree a
     * source of truth serves. EBADF for no such fd, as the kernel.
     */
    static String fdTargetPath(SyscallContext ctx, int fd) throws ErrnoException {
        String link = "/proc/" + ctx.tid() + (fd == SyscallContext.AT_FDCWD ? "/cwd" : "/fd/" + fd);
        String target;
        try {
            target = ctx.hostPathOf(LocalFileAccess.INSTANCE.readlink(link));
        } catch (ErrnoException e) {
            throw new ErrnoException(Errno.EBADF, ctx.sys().kernelName(), "fd " + fd);
        }
        return target.startsWith("/") && !target.endsWith(DELETED) ? target : link;
    }

    /**
     * Whether the target path is a Unix socket. A socket is the target's own: bind(2) makes it in the
     * mirror only (a host copy would connect nothing), so the host never has it to remove or rename.
     */
    static boolean isSocket(String targetPath) {
        try {
            int mode = (Integer) Files.getAttribute(Path.of(targetPath), "unix:mode", java.nio.file.LinkOption.NOFOLLOW_LINKS);
            return (mode & 0170000) == 0140000;
        } catch (IOException | RuntimeException e) {
            return false; // missing: the kernel's error, or the host's
        }
    }

    /** The stopped thread's umask (/proc/PID/status, Linux 4.7+); 022 if it cannot be read. */
    static int umask(SyscallContext ctx) {
        return io.tether.daemon.tracer.ProcStatus.field(ctx.tid(), "Umask", 8, 022);
    }

    /** Permission bits a creating call gets: {@code mode} less the umask, as the kernel applies it. */
    static int created(SyscallContext ctx, int mode) {
        return mode & 07777 & ~umask(ctx);
    }
}
