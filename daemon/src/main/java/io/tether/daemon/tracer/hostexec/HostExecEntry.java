package io.tether.daemon.tracer.hostexec;

import io.tether.daemon.guest.GuestPaths;
import io.tether.daemon.guest.GuestView;
import io.tether.daemon.guest.Resolved;
import io.tether.daemon.tracer.SyscallContext;
import io.tether.daemon.tracer.handler.Disposition;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The decision at an execve/execveat entry stop, once the program is resolved in the guest: run it on
 * the target as usual (null), on the host ({@link SyscallContext#runOnHost}), or refuse it with EACCES
 * (a program that matched but lies in the target's own /dev, /proc or /sys: nothing the host may run).
 */
public final class HostExecEntry {
    private static final Logger log = LoggerFactory.getLogger(HostExecEntry.class);
    private static final int MAX_STRINGS = 1 << 17;
    private static final int HEAD = 64;
    private static final int PAGE = 4096, MAX_ARG_STRLEN = 32 * PAGE;

    private HostExecEntry() {}

    /**
     * @param dirfd     the execveat dirfd, or AT_FDCWD
     * @param named     the path the tracee passed
     * @param program   that path resolved in the guest (final symlink followed)
     * @param argvAddr  the tracee's argv pointer
     * @param envpAddr  the tracee's envp pointer
     * @return null to run on the target, else what the tracer does with the syscall
     */
    public static Disposition enter(SyscallContext ctx, HostExec hostExec, int dirfd, String named, Resolved program,
                                    long argvAddr, long envpAddr) throws ErrnoException {
        if (!hostExec.enabled() || !program.exists() || named.isEmpty()) return null;
        GuestView view = ctx.view();
        Resolved link = ctx.resolve(dirfd, named, false);
        String absolute = named.startsWith("/") ? GuestPaths.normalizeAbsolute(named, "execve")
                : dirfd == SyscallContext.AT_FDCWD ? GuestPaths.normalizeAbsolute(ctx.guestCwd() + "/" + named, "execve")
                : link.guestPath();
        int machine = ElfMachine.of(view.fileAccess().read(program.hostPath(), 0, HEAD));
        HostExecPolicy.Route route = hostExec.policy().route(List.of(absolute, link.guestPath()), machine);
        if (!route.onHost()) return null;
        String mount = view.mountOf(link.guestPath());
        if (GuestView.DEFAULT_BINDS.contains(mount)) {
            log.warn("host exec of {} refused (EACCES): {} is the target's own {}, not a host file", absolute, route.why(), mount);
            throw new ErrnoException(Errno.EACCES, "host exec", absolute);
        }
        List<String> argv = readStrings(ctx, argvAddr);
        List<String> env = readStrings(ctx, envpAddr);
        log.info("host exec {} ({}): argv {}", absolute, route.why(), argv);
        try {
            return ctx.runOnHost(hostExec, new HostCommand(absolute, link.guestPath(), argv, env, ctx.guestCwd(), 022, java.util.Map.of()));
        } catch (ErrnoException e) {
            log.warn("host exec of {} failed ({}): {}", absolute, Errno.describe(e.errno()), e.getMessage());
            throw e;
        }
    }

    /** A NULL-terminated vector of C strings in the tracee (argv, envp), UTF-8; empty for a NULL vector. */
    static List<String> readStrings(SyscallContext ctx, long address) throws ErrnoException {
        List<String> out = new ArrayList<>();
        if (address == 0) return out;
        int word = ctx.arch().wordSize();
        for (long at = address; out.size() < MAX_STRINGS; at += word) {
            long p = ctx.readWord(at);
            if (p == 0) return out;
            out.add(readCString(ctx, p));
        }
        throw new ErrnoException(Errno.E2BIG, "execve", "argv");
    }

    /** One C string, read a page at a time (never past a page that may be unmapped), up to MAX_ARG_STRLEN. */
    private static String readCString(SyscallContext ctx, long address) throws ErrnoException {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        for (long at = address; bytes.size() <= MAX_ARG_STRLEN; ) {
            int chunk = (int) (PAGE - (at % PAGE));
            byte[] b = ctx.read(at, chunk);
            for (int i = 0; i < b.length; i++) {
                if (b[i] == 0) {
                    bytes.write(b, 0, i);
                    return bytes.toString(java.nio.charset.StandardCharsets.UTF_8);
                }
            }
            bytes.write(b, 0, b.length);
            at += chunk;
        }
        throw new ErrnoException(Errno.E2BIG, "execve", "argument longer than MAX_ARG_STRLEN");
    }
}
