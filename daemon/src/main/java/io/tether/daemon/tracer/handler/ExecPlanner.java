package io.tether.daemon.tracer.handler;

import io.tether.daemon.guest.FileKind;
import io.tether.daemon.guest.GuestFileAccess;
import io.tether.daemon.guest.Resolved;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

/**
 * Decides what the kernel must really execute for a guest execve, because it would look up a
 * script's interpreter and an ELF's loader (PT_INTERP) on the host: "#!" lines are followed (up to
 * the kernel's 5 levels) with argv rewritten as binfmt_script does ([interpreter, optional arg,
 * script name, argv[1..]]); an ELF whose guest loader is not the same file on the host is started
 * through that loader ([loader, --argv0 ARGV0, program, argv[1..]]), which then opens the program
 * and its libraries through trapped, translated calls. An ELF of another machine, given a {@link Qemu},
 * is started through qemu-user instead ([qemu, options, -0, ARGV0, program, argv[1..]]). Used by
 * {@link ExecHandler} and for the first program of a traced tree.
 *
 * <p>Each file the kernel will load (the program, every interpreter, the ELF loader) is announced to
 * {@link GuestFileAccess#beforeExec} before its header is read, so a remote source of truth has its
 * contents in place (and can prefetch what the loader will need).
 *
 * @param <T> an argv element: a String, or a pointer already in the tracee
 */
public final class ExecPlanner {
    private static final int MAX_INTERPRETER_DEPTH = 5; // exec_binprm: "depth > 5" fails, so five scripts, then the ELF
    private static final int HEAD = 256;                 // BINPRM_BUF_SIZE
    /** Read at once: an ELF's program headers and PT_INTERP name lie in its first page (one read, not three). */
    private static final int FIRST_PAGE = 4096;
    private static final int PT_INTERP = 3;

    private ExecPlanner() {}

    /** Resolves interpreter names the way the kernel would: relative to the cwd, following links. */
    @FunctionalInterface
    public interface Resolver {
        Resolved resolve(String guestPath) throws ErrnoException;
    }

    /**
     * What to execute: the host file, argv if it had to change, and the guest path /proc/PID/exe must
     * show when the kernel runs a loader instead of the program (null otherwise). {@code emulated}: the
     * foreign guest program that {@code executable}, a qemu outside the guest, runs (null otherwise).
     */
    public record Plan<T>(Resolved executable, List<T> argv, boolean rewritten, String guestExe, Resolved emulated) {
        public Plan(Resolved executable, List<T> argv, boolean rewritten, String guestExe) {
            this(executable, argv, rewritten, guestExe, null);
        }
    }

    public static <T> Plan<T> plan(GuestFileAccess fs, Resolver resolver, String guestPath, Resolved program,
                                   List<T> argv, Function<String, T> lift) throws ErrnoException {
        return plan(fs, resolver, guestPath, program, argv, lift, null);
    }

    /** As {@link #plan(GuestFileAccess, Resolver, String, Resolved, List, Function)}; foreign ELF files run under {@code qemu} if not null. */
    public static <T> Plan<T> plan(GuestFileAccess fs, Resolver resolver, String guestPath, Resolved program,
                                   List<T> argv, Function<String, T> lift, Qemu qemu) throws ErrnoException {
        Resolved current = checkExecutable(program, guestPath);
        boolean rewritten = false;
        String guestExe = null;
        String scriptName = guestPath;
        for (int depth = 0; ; depth++) {
            String loading = current.hostPath();
            HookArgs.call("beforeExec", () -> fs.beforeExec(loading));
            byte[] page = fs.read(current.hostPath(), 0, FIRST_PAGE);
            byte[] head = page.length > HEAD ? Arrays.copyOf(page, HEAD) : page;
            if (head.length >= 2 && head[0] == '#' && head[1] == '!') {
                if (depth == MAX_INTERPRETER_DEPTH) throw new ErrnoException(Errno.ELOOP, "execve", guestPath);
                String[] line = shebang(head);
                List<T> next = new ArrayList<>();
                next.add(lift.apply(line[0]));
                if (line[1] != null) next.add(lift.apply(line[1]));
                next.add(lift.apply(scriptName));
                if (argv.size() > 1) next.addAll(argv.subList(1, argv.size()));
                argv = next;
                rewritten = true;
                scriptName = line[0];
                current = checkExecutable(resolver.resolve(line[0]), line[0]);
                continue;
            }
            if (qemu != null && qemu.runs(head)) {
                // qemu loads the program and its guest loader itself, through translated opens.
                T argv0 = argv.isEmpty() ? lift.apply(current.guestPath()) : argv.get(0);
                List<T> rest = argv.size() > 1 ? argv.subList(1, argv.size()) : List.of();
                return new Plan<>(qemu.executable(), qemu.argv(argv0, current.guestPath(), rest, lift), true,
                        current.guestPath(), current);
            }
            String loader = elfInterpreter(fs, current.hostPath(), page);
            if (loader != null) {
                Resolved loaderFile = checkExecutable(resolver.resolve(loader), loader);
                HookArgs.call("beforeExec", () -> fs.beforeExec(loaderFile.hostPath()));
                if (!loaderFile.hostPath().equals(loader)) {
                    List<T> next = new ArrayList<>();
                    next.add(lift.apply(loader));
                    if (loader.contains("/ld-linux")) { // glibc's loader knows --argv0 (2.33+)
                        next.add(lift.apply("--argv0"));
                        next.add(argv.isEmpty() ? lift.apply(current.guestPath()) : argv.get(0));
                    }
                    next.add(lift.apply(current.guestPath()));
                    if (argv.size() > 1) next.addAll(argv.subList(1, argv.size()));
                    argv = next;
                    rewritten = true;
                    guestExe = current.guestPath();
                    current = loaderFile;
                }
            }
            return new Plan<>(current, argv, rewritten, guestExe);
        }
    }

    private static Resolved checkExecutable(Resolved r, String guestPath) throws ErrnoException {
        if (!r.exists()) throw new ErrnoException(Errno.ENOENT, "execve", guestPath);
        if (r.kind() == FileKind.SYMLINK && !r.opaque()) throw new ErrnoException(Errno.ELOOP, "execve", guestPath);
        if (r.kind() == FileKind.DIRECTORY) throw new ErrnoException(Errno.EACCES, "execve", guestPath);
        return r;
    }

    /** Interpreter and optional argument of a "#!" line, split as binfmt_script does. */
    static String[] shebang(byte[] head) throws ErrnoException {
        int end = 2;
        while (end < head.length && head[end] != '\n') end++;
        String line = new String(head, 2, end - 2, StandardCharsets.ISO_8859_1);
        line = line.replaceAll("^[ \\t]+", "").replaceAll("[ \\t\\r]*$", "");
        if (line.isEmpty()) throw new ErrnoException(Errno.ENOEXEC, "execve", "empty #! line");
        int space = 0;
        while (space < line.length() && line.charAt(space) != ' ' && line.charAt(space) != '\t') space++;
        String interpreter = line.substring(0, space);
        String arg = line.substring(space).replaceAll("^[ \\t]+", "");
        return new String[] {interpreter, arg.isEmpty() ? null : arg};
    }

    /**
     * PT_INTERP of a little-endian ELF file, or null (not ELF, or static). {@code head}: the file's first bytes (52
     * at least to tell); what lies beyond them is read from the file.
     */
    static String elfInterpreter(GuestFileAccess fs, String hostPath, byte[] head) throws ErrnoException {
        if (head.length < 52 || head[0] != 0x7f || head[1] != 'E' || head[2] != 'L' || head[3] != 'F') return null;
        if (head[5] != 1) return null; // only little-endian targets are designed in
        boolean is64 = head[4] == 2;
        ByteBuffer h = ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN);
        long phoff = is64 ? h.getLong(0x20) : Integer.toUnsignedLong(h.getInt(0x1C));
        int phentsize = Short.toUnsignedInt(h.getShort(is64 ? 0x36 : 0x2A));
        int phnum = Short.toUnsignedInt(h.getShort(is64 ? 0x38 : 0x2C));
        if (phnum == 0 || phentsize < (is64 ? 56 : 32) || phnum > 4096) return null;
        ByteBuffer ph = ByteBuffer.wrap(slice(fs, hostPath, head, phoff, phnum * phentsize)).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < phnum && (i + 1) * phentsize <= ph.capacity(); i++) {
            int base = i * phentsize;
            if (ph.getInt(base) != PT_INTERP) continue;
            long offset = is64 ? ph.getLong(base + 8) : Integer.toUnsignedLong(ph.getInt(base + 4));
            long size = is64 ? ph.getLong(base + 32) : Integer.toUnsignedLong(ph.getInt(base + 16));
            if (size <= 1 || size > 4096) throw new ErrnoException(Errno.ENOEXEC, "execve", "bad PT_INTERP in " + hostPath);
            byte[] name = slice(fs, hostPath, head, offset, (int) size);
            int len = 0;
            while (len < name.length && name[len] != 0) len++;
            return new String(name, 0, len, StandardCharsets.ISO_8859_1);
        }
        return null;
    }

    /** {@code length} bytes at {@code offset}: from {@code head} when it holds them all, else read. */
    private static byte[] slice(GuestFileAccess fs, String hostPath, byte[] head, long offset, int length) throws ErrnoException {
        if (offset >= 0 && offset + length <= head.length) return Arrays.copyOfRange(head, (int) offset, (int) offset + length);
        return fs.read(hostPath, offset, length);
    }
}
