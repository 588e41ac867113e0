package io.tether.daemon.tracer.handler;

import io.tether.daemon.guest.Resolved;
import io.tether.daemon.tracer.SyscallContext;
import io.tether.daemon.tracer.arch.Sys;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * execve and execveat: the program, its "#!" interpreters and its ELF loader are all found in the
 * guest ({@link ExecPlanner}); a rewritten argv is built below the stack and reuses the original
 * argument pointers. fexecve (execveat with AT_EMPTY_PATH) executes the fd's file the same way,
 * found through /proc/PID/fd; an fd on a file outside the guest runs untranslated. Given a
 * {@link Qemu}, programs of another machine run under it.
 */
public final class ExecHandler implements SyscallHandler {
    private static final int MAX_ARGS = 1 << 17;

    private final Qemu qemu;

    public ExecHandler() {
        this(null);
    }

    /** {@code qemu}: runs foreign ELF programs (null: they are the kernel's business, ENOEXEC). */
    public ExecHandler(Qemu qemu) {
        this.qemu = qemu;
    }

    @Override
    public Disposition enter(SyscallContext ctx) throws ErrnoException {
        boolean at = ctx.sys() == Sys.EXECVEAT;
        int dirfd = at ? ctx.intArg(0) : SyscallContext.AT_FDCWD;
        int pathArg = at ? 1 : 0;
        int argvArg = pathArg + 1;
        int flags = at ? ctx.intArg(4) : 0;
        String guestPath = ctx.readString(ctx.arg(pathArg));
        Resolved program;
        String scriptName = guestPath;
        if (guestPath.isEmpty()) {
            if (!at || (flags & PathArg.AT_EMPTY_PATH) == 0) throw new ErrnoException(Errno.ENOENT, "execve", "empty path");
            String fdGuest = ctx.guestPathOfFd(dirfd);
            if (fdGuest == null) {
                ctx.execPending(null);
                return Disposition.RUN; // a file outside the guest: the kernel's own business
            }
            program = ctx.resolve(SyscallContext.AT_FDCWD, fdGuest, true);
            scriptName = "/dev/fd/" + dirfd; // what binfmt_script passes for an fd
            if (ctx.closeOnExec(dirfd) && isScript(ctx, program)) {
                // The interpreter could not open /dev/fd/N after exec: the kernel refuses with ENOENT.
                throw new ErrnoException(Errno.ENOENT, "fexecve", scriptName);
            }
            if (!ctx.kernelRooted()) ctx.setArg(4, flags & ~PathArg.AT_EMPTY_PATH);
        } else {
            program = ctx.resolve(dirfd, guestPath, (flags & PathArg.AT_SYMLINK_NOFOLLOW) == 0);
        }
        List<Object> argv = readArgv(ctx, ctx.arg(argvArg));
        ExecPlanner.Plan<Object> plan = ExecPlanner.plan(ctx.view().fileAccess(),
                p -> ctx.resolve(SyscallContext.AT_FDCWD, p, true), scriptName, program, argv, s -> s, qemu);
        if (ctx.kernelRooted()) {
            // The kernel runs "#!" interpreters and the ELF loader itself in the chroot; the hooks ran above.
            ctx.execPending(null);
            return Disposition.RUN;
        }
        ctx.setArg(pathArg, ctx.pushString(plan.executable().hostPath()));
        if (plan.rewritten()) ctx.setArg(argvArg, pushArgv(ctx, plan.argv()));
        ctx.execPending(plan.guestExe());
        return Disposition.RUN;
    }

    private static boolean isScript(SyscallContext ctx, Resolved program) throws ErrnoException {
        if (!program.exists()) return false;
        byte[] head = ctx.view().fileAccess().read(program.hostPath(), 0, 2);
        return head.length == 2 && head[0] == '#' && head[1] == '!';
    }

    /** The argv pointers (Long) up to NULL; an empty list for a NULL argv. */
    private static List<Object> readArgv(SyscallContext ctx, long address) throws ErrnoException {
        List<Object> argv = new ArrayList<>();
        if (address == 0) return argv;
        int word = ctx.arch().wordSize();
        long at = address;
        while (argv.size() < MAX_ARGS) {
            int chunk = (int) Math.max(word, Math.min(4096 - (at % 4096), 512L * word));
            ByteBuffer b = ByteBuffer.wrap(ctx.read(at, chunk)).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i + word <= chunk; i += word) {
                long p = word == 8 ? b.getLong(i) : Integer.toUnsignedLong(b.getInt(i));
                if (p == 0) return argv;
                argv.add(p);
            }
            at += chunk;
        }
        throw new ErrnoException(Errno.E2BIG, "execve", "argv");
    }

    private static long pushArgv(SyscallContext ctx, List<Object> argv) throws ErrnoException {
        int word = ctx.arch().wordSize();
        long[] pointers = new long[argv.size()];
        for (int i = 0; i < argv.size(); i++) {
            Object a = argv.get(i);
            pointers[i] = a instanceof Long p ? p : ctx.pushString((String) a);
        }
        ByteBuffer array = ByteBuffer.allocate((pointers.length + 1) * word).order(ByteOrder.LITTLE_ENDIAN);
        for (long p : pointers) {
            if (word == 8) array.putLong(p);
            else array.putInt((int) p);
        }
        return ctx.push(array.array());
    }
}
