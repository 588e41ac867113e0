package io.tether.daemon.tracer.handler;

import io.tether.daemon.guest.FileKind;
import io.tether.daemon.guest.GuestFileAccess;
import io.tether.daemon.guest.LocalFileAccess;
import io.tether.daemon.guest.Resolved;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * A qemu-user that runs the guest's programs of another architecture ({@code tether run -q}, PRoot's
 * {@code -q}). An exec of a foreign ELF becomes an exec of this program, a target file that is never
 * looked up in the guest, with argv {@code [qemu, -L, /, options..., -0, argv0, guest program, argv[1..]]}.
 * qemu then opens the guest program, its loader and libraries itself, with ordinary syscalls that the
 * tracer translates like any tracee's; a guest execve becomes qemu's host execve of a guest path,
 * which is trapped and rewritten the same way. qemu answers the guest's own /proc/self/exe (from the
 * guest program path it was given); the tracer shows the same path to other processes.
 *
 * <p>qemu must be statically linked: a dynamic one would load its host libraries through the
 * translated paths, from the guest. "-L /" keeps qemu from probing its default prefix
 * (/usr/gnemul/qemu-ARCH) for each path the guest names: guest paths are already right.
 */
public final class Qemu {
    private static final int EM_386 = 3, EM_X86_64 = 62;
    private static final String DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin";

    private final String hostPath;
    private final List<String> options;
    private final int hostMachine;

    /** {@code hostPath}: absolute target path of qemu; {@code hostMachine}: ELF e_machine of this machine. */
    public Qemu(String hostPath, List<String> options, int hostMachine) {
        if (!hostPath.startsWith("/")) throw new IllegalArgumentException("qemu path must be absolute: " + hostPath);
        this.hostPath = hostPath;
        this.options = List.copyOf(options);
        this.hostMachine = hostMachine;
    }

    /**
     * The qemu a {@code GuestSpec.qemu} names: its first word a path, or a name searched in
     * {@code searchPath} (the daemon's PATH); the rest are its options. The program must be a
     * statically linked ELF of this machine.
     *
     * @throws ErrnoException ENOENT (not found), EACCES (not executable), ENOEXEC (not static, or not for this machine)
     */
    public static Qemu locate(List<String> command, String searchPath, int hostMachine) throws ErrnoException {
        if (command.isEmpty() || command.get(0).isEmpty()) throw new ErrnoException(Errno.EINVAL, "qemu", "(no program)");
        String name = command.get(0);
        String found = name.contains("/") ? name : search(name, searchPath == null || searchPath.isEmpty() ? DEFAULT_PATH : searchPath);
        if (found == null || !found.startsWith("/")) throw new ErrnoException(Errno.ENOENT, "qemu", name);
        Path p = Path.of(found);
        if (!Files.isRegularFile(p)) throw new ErrnoException(Errno.ENOENT, "qemu", found);
        if (!Files.isExecutable(p)) throw new ErrnoException(Errno.EACCES, "qemu", found);
        String real;
        try {
            real = p.toRealPath().toString(); // what the kernel shows as the tracee's exe
        } catch (java.io.IOException e) {
            throw new ErrnoException(Errno.ENOENT, "qemu", found);
        }
        checkStaticNative(LocalFileAccess.INSTANCE, real, hostMachine);
        return new Qemu(real, command.subList(1, command.size()), hostMachine);
    }

    private static String search(String name, String searchPath) {
        for (String dir : searchPath.split(":")) {
            if (!dir.startsWith("/")) continue; // the daemon's cwd means nothing here
            Path candidate = Path.of(dir, name);
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) return candidate.toString();
        }
        return null;
    }

    private static void checkStaticNative(GuestFileAccess fs, String hostPath, int hostMachine) throws ErrnoException {
        byte[] head = fs.read(hostPath, 0, 256);
        int machine = elfMachine(head);
        if (machine < 0) throw new ErrnoException(Errno.ENOEXEC, "qemu", hostPath + " (not an ELF program; a wrapper script cannot run here)");
        if (!runsNatively(machine, hostMachine)) throw new ErrnoException(Errno.ENOEXEC, "qemu", hostPath + " (not a program for this machine)");
        if (ExecPlanner.elfInterpreter(fs, hostPath, head) != null) {
            throw new ErrnoException(Errno.ENOEXEC, "qemu", hostPath + " (dynamically linked: use a static qemu-user, e.g. qemu-aarch64-static)");
        }
    }

    /** The target path of the qemu program. */
    public String hostPath() {
        return hostPath;
    }

    /** Options given after the program. */
    public List<String> options() {
        return options;
    }

    /** What the kernel executes instead of a foreign program: qemu, outside the guest. */
    Resolved executable() {
        return new Resolved(hostPath, hostPath, FileKind.REGULAR, true);
    }

    /** Whether qemu must run an executable whose first bytes are {@code head}: an ELF of a foreign machine. */
    public boolean runs(byte[] head) {
        int machine = elfMachine(head);
        return machine >= 0 && !runsNatively(machine, hostMachine);
    }

    /**
     * qemu's argv for a guest program: {@code argv0} what the program must see as argv[0],
     * {@code guestProgram} the guest path qemu opens (and shows as /proc/self/exe), {@code rest} argv[1..].
     */
    public <T> List<T> argv(T argv0, String guestProgram, List<T> rest, Function<String, T> lift) {
        List<T> argv = new ArrayList<>();
        argv.add(lift.apply(hostPath));
        argv.add(lift.apply("-L"));
        argv.add(lift.apply("/"));
        for (String o : options) argv.add(lift.apply(o));
        argv.add(lift.apply("-0"));
        argv.add(argv0);
        argv.add(lift.apply(guestProgram));
        argv.addAll(rest);
        return argv;
    }

    /** This machine runs EM_386 programs natively too (x86_64's compat mode); other pairs go to qemu. */
    private static boolean runsNatively(int machine, int hostMachine) {
        return machine == hostMachine || (hostMachine == EM_X86_64 && machine == EM_386);
    }

    /** e_machine of an ELF header (either byte order), or -1 if {@code head} is no ELF header. */
    static int elfMachine(byte[] head) {
        if (head.length < 20 || head[0] != 0x7f || head[1] != 'E' || head[2] != 'L' || head[3] != 'F') return -1;
        ByteOrder order = head[5] == 2 ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN;
        return Short.toUnsignedInt(ByteBuffer.wrap(head).order(order).getShort(18));
    }

    @Override
    public String toString() {
        return options.isEmpty() ? hostPath : hostPath + " " + String.join(" ", options);
    }
}
