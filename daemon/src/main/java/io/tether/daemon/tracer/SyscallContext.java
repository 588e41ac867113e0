package io.tether.daemon.tracer;

import io.tether.daemon.guest.FileKind;
import io.tether.daemon.guest.GuestView;
import io.tether.daemon.guest.LocalFileAccess;
import io.tether.daemon.guest.ProcessIds;
import io.tether.daemon.guest.Resolved;
import io.tether.daemon.tracer.arch.Arch;
import io.tether.daemon.tracer.arch.Reg;
import io.tether.daemon.tracer.arch.Registers;
import io.tether.daemon.tracer.arch.Sys;
import io.tether.daemon.tracer.handler.Disposition;
import io.tether.daemon.tracer.nativ.PtraceNative;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Per-stop scratch state handed to a {@link io.tether.daemon.tracer.handler.SyscallHandler}: the
 * stopped thread, its registers (original and modified), its memory, and the guest view. One
 * instance per tracer, reused for every stop. Data the handler writes into the tracee (translated
 * paths, argument vectors) goes below the stack pointer and its red zone, where nothing live is.
 */
public final class SyscallContext {
    public static final int AT_FDCWD = -100;
    public static final int PATH_MAX = 4096;

    private final Arch arch;
    private final GuestView view;
    private final TraceeMemory memory;
    private final java.util.function.IntFunction<String> exeOf;
    private Tracee tracee;
    private Sys sys;
    private Registers regs;
    private long scratch;
    private long result;
    private HostRuns hostRuns;
    private boolean kernelRooted;

    SyscallContext(Arch arch, GuestView view, TraceeMemory memory) {
        this(arch, view, memory, null);
    }

    /** {@code exeOf}: what /proc/PID/exe of another tracee must show (see {@link ProcessIds#exeOf()}). */
    SyscallContext(Arch arch, GuestView view, TraceeMemory memory, java.util.function.IntFunction<String> exeOf) {
        this.arch = arch;
        this.view = view;
        this.memory = memory;
        this.exeOf = exeOf;
    }

    void hostRuns(HostRuns runs) {
        this.hostRuns = runs;
    }

    /**
     * At an execve entry stop: runs {@code command} on the host instead, through {@code hostExec}'s
     * executor; the tracee keeps its pid until the host process ends, then ends the same way
     * ({@link HostRuns}). Fails the execve with the executor's errno if the host process cannot start.
     */
    public Disposition runOnHost(io.tether.daemon.tracer.hostexec.HostExec hostExec,
                                 io.tether.daemon.tracer.hostexec.HostCommand command) throws ErrnoException {
        if (hostRuns == null) throw new ErrnoException(Errno.EACCES, "host exec", command.guestPath());
        return hostRuns.park(tracee, this, regs, hostExec, command);
    }

    /** From the chroot of a kernel-rooted run on (see {@link KernelRoot}): set once, for every tracee. */
    void kernelRooted(boolean on) {
        this.kernelRooted = on;
    }

    /** Whether the tracees run chrooted in the guest root: path arguments must then never be rewritten. */
    public boolean kernelRooted() {
        return kernelRooted;
    }

    /**
     * The daemon's host path of a path the kernel reported for a tracee (a /proc link's target). In a
     * kernel-rooted run those read as root + guest path even through a bind mount, which from the
     * daemon's namespace is the empty mountpoint: mapped to the guest path, then through the binds.
     */
    public String hostPathOf(String reported) {
        if (!kernelRooted || !reported.startsWith("/")) return reported;
        return view.toGuest(reported).map(view::toHost).orElse(reported);
    }

    private String readProcLink(String link) throws ErrnoException {
        return hostPathOf(LocalFileAccess.INSTANCE.readlink(link));
    }

    void begin(Tracee t, Sys s, Registers r) {
        this.tracee = t;
        this.sys = s;
        this.regs = r;
        this.result = 0;
        long sp = r.get(Reg.STACK_POINTER);
        this.scratch = alignDown(sp - arch.redZone(), 16);
    }

    public Sys sys() { return sys; }
    public Arch arch() { return arch; }
    public GuestView view() { return view; }
    public Registers regs() { return regs; }
    /** The stopped thread's id. */
    public int tid() { return tracee.tid; }

    /** Whose /proc/self this is: the tracee's thread group and thread. */
    public ProcessIds ids() {
        if (tracee.tgid == 0) tracee.tgid = readTgid(tracee.tid);
        return new ProcessIds(tracee.tgid, tracee.tid, tracee.guestExe, exeOf);
    }

    public long arg(int index) { return regs.get(Reg.arg(index)); }
    /** An int argument (fd, flags, mode), sign-extended as the kernel reads it. */
    public int intArg(int index) { return (int) regs.get(Reg.arg(index)); }
    public void setArg(int index, long value) { regs.set(Reg.arg(index), value); }

    /** Records what /proc/PID/exe must show if the execve being made succeeds (null: the kernel's). */
    public void execPending(String guestExe) { tracee.pendingExe = guestExe; }

    public Object exitState() { return tracee.exitState; }
    public void exitState(Object state) { tracee.exitState = state; }

    /** Skips the syscall; the tracee sees {@code value}. */
    public Disposition skip(long value) {
        result = value;
        return Disposition.SKIP;
    }

    long result() { return result; }

    public String readString(long address) throws ErrnoException {
        return memory.readString(tracee.tid, address, PATH_MAX - 1);
    }

    public byte[] read(long address, int length) throws ErrnoException {
        return memory.read(tracee.tid, address, length);
    }

    public void write(long address, byte[] data) throws ErrnoException {
        memory.write(tracee.tid, address, data);
    }

    /** Reads a word-sized value (pointer) of the tracee's ABI. */
    public long readWord(long address) throws ErrnoException {
        byte[] b = read(address, arch.wordSize());
        long v = 0;
        for (int i = b.length - 1; i >= 0; i--) v = (v << 8) | (b[i] & 0xff);
        return v;
    }

    /** Copies bytes below the stack into the tracee; returns their address. */
    public long push(byte[] data) throws ErrnoException {
        scratch = alignDown(scratch - data.length, 16);
        memory.write(tracee.tid, scratch, data);
        return scratch;
    }

    /** Copies a NUL-terminated byte string (one char per byte) below the stack. */
    public long pushString(String s) throws ErrnoException {
        byte[] b = new byte[s.length() + 1];
        for (int i = 0; i < s.length(); i++) b[i] = (byte) s.charAt(i);
        return push(b);
    }

    /** The tracee's cwd as a guest path ("/" if it lies outside the guest). */
    public String guestCwd() throws ErrnoException {
        String host = LocalFileAccess.INSTANCE.readlink("/proc/" + tracee.tid + "/cwd");
        return view.toGuest(host).orElse("/");
    }

    /** The guest path of the directory an fd refers to; EBADF if no such fd, ENOTDIR if no directory. */
    public String guestDirOfFd(int fd) throws ErrnoException {
        String host;
        try {
            host = readProcLink("/proc/" + tracee.tid + "/fd/" + fd);
        } catch (ErrnoException e) {
            throw new ErrnoException(Errno.EBADF, "dirfd", Integer.toString(fd));
        }
        if (!host.startsWith("/")) throw new ErrnoException(Errno.ENOTDIR, "dirfd", host);
        if (LocalFileAccess.INSTANCE.kind(host) != FileKind.DIRECTORY) throw new ErrnoException(Errno.ENOTDIR, "dirfd", host);
        return view.toGuest(host).orElseThrow(() -> new ErrnoException(Errno.ENOENT, "dirfd outside the guest", host));
    }

    /**
     * Whether the kernel may resolve this path itself, untranslated, with the same result: a single
     * name relative to a directory the tracee already holds (a dirfd, or its cwd), that is no bind
     * point and no symlink to follow. Nothing can then leave the guest, and the common
     * fstatat(dirfd, "name") / openat(dirfd, "name") of tree walkers costs no lookups at all.
     */
    public boolean kernelResolvesAlike(int dirfd, String guestPath, boolean followFinal) {
        if (guestPath.isEmpty() || guestPath.startsWith("/") || guestPath.indexOf('/') >= 0 || guestPath.equals("..")) {
            return false;
        }
        if (view.mayBeBindPoint(guestPath)) return false;
        if (!followFinal || guestPath.equals(".")) return true;
        String viaProc = "/proc/" + tracee.tid + (dirfd == AT_FDCWD ? "/cwd/" : "/fd/" + dirfd + "/") + guestPath;
        try {
            return LocalFileAccess.INSTANCE.kind(viaProc) != FileKind.SYMLINK;
        } catch (ErrnoException e) {
            return true; // the kernel reports the same error itself (ENOENT, EBADF, ENOTDIR...)
        }
    }

    /**
     * Whether the file access answers lookups in the directory {@code dirfd} (or the cwd) names as the
     * kernel would there (see {@link io.tether.daemon.guest.GuestFileAccess#kernelMayLookUpIn}).
     */
    public boolean kernelMayLookUpIn(int dirfd) {
        try {
            return view.fileAccess().kernelMayLookUpIn(
                    readProcLink("/proc/" + tracee.tid + (dirfd == AT_FDCWD ? "/cwd" : "/fd/" + dirfd)));
        } catch (ErrnoException e) {
            return false; // no such fd: the full path reports it
        }
    }

    /** Whether the tracee's fd is close-on-exec (from /proc/PID/fdinfo). */
    public boolean closeOnExec(int fd) throws ErrnoException {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + tracee.tid + "/fdinfo/" + fd))) {
                if (line.startsWith("flags:")) return (Integer.parseInt(line.substring(6).trim(), 8) & 02000000) != 0;
            }
            return false;
        } catch (IOException | NumberFormatException e) {
            throw new ErrnoException(Errno.EBADF, "fdinfo", Integer.toString(fd));
        }
    }

    /** What /proc/PID/fd/N of the tracee shows (a host path, or "socket:[N]" and the like); null if no such fd. */
    public String hostPathOfFd(int fd) {
        try {
            return readProcLink("/proc/" + tracee.tid + "/fd/" + fd);
        } catch (ErrnoException e) {
            return null;
        }
    }

    /** The file offset of the tracee's fd (fdinfo's pos: a directory's position for getdents). */
    public long filePosition(int fd) throws ErrnoException {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + tracee.tid + "/fdinfo/" + fd))) {
                if (line.startsWith("pos:")) return Long.parseLong(line.substring(4).trim());
            }
        } catch (IOException | NumberFormatException e) {
            // fall through
        }
        throw new ErrnoException(Errno.EBADF, "fdinfo", Integer.toString(fd));
    }

    /** {@link #socketDomain}: the fd is no socket (or no open fd): the kernel fails the call itself. */
    public static final int NOT_A_SOCKET = 0;
    /** {@link #socketDomain}: the domain could not be learnt (no pidfd_getfd before Linux 5.6). */
    public static final int UNKNOWN_DOMAIN = -1;
    private static final int ENOTSOCK = 88;

    /**
     * The address family of the tracee's socket fd (AF_UNIX = 1), so that only Unix sockets pay an
     * exit stop: the fd is duplicated with pidfd_getfd (Linux 5.6) and asked SO_DOMAIN. About five
     * plain syscalls, far cheaper than a stop.
     */
    public int socketDomain(int fd) {
        int pidfd = (int) PtraceNative.syscall(PtraceNative.SYS_PIDFD_OPEN, ids().pid(), 0, 0);
        if (pidfd < 0) return UNKNOWN_DOMAIN;
        try {
            int copy = (int) PtraceNative.syscall(PtraceNative.SYS_PIDFD_GETFD, pidfd, fd, 0);
            if (copy < 0) return PtraceNative.errno() == Errno.EBADF ? NOT_A_SOCKET : UNKNOWN_DOMAIN;
            try {
                int[] domain = new int[1];
                int[] length = {4};
                if (PtraceNative.getsockopt(copy, PtraceNative.SOL_SOCKET, PtraceNative.SO_DOMAIN, domain, length) != 0) {
                    return PtraceNative.errno() == ENOTSOCK ? NOT_A_SOCKET : UNKNOWN_DOMAIN;
                }
                return domain[0];
            } finally {
                PtraceNative.close(copy);
            }
        } finally {
            PtraceNative.close(pidfd);
        }
    }

    /** The guest path of the file an fd refers to, or null if it is no file inside the guest. */
    public String guestPathOfFd(int fd) throws ErrnoException {
        String host;
        try {
            host = LocalFileAccess.INSTANCE.readlink("/proc/" + tracee.tid + "/fd/" + fd);
        } catch (ErrnoException e) {
            throw new ErrnoException(Errno.EBADF, "fd", Integer.toString(fd));
        }
        return host.startsWith("/") ? view.toGuest(host).orElse(null) : null;
    }

    /** Resolves a guest path the tracee passed, relative to {@code dirfd} (or AT_FDCWD). */
    public Resolved resolve(int dirfd, String guestPath, boolean followFinal) throws ErrnoException {
        return resolve(dirfd, guestPath, followFinal, 0);
    }

    /** As {@link #resolve(int, String, boolean)} under openat2's RESOLVE_* flags (relative to the dirfd). */
    public Resolved resolve(int dirfd, String guestPath, boolean followFinal, int resolveFlags) throws ErrnoException {
        String base = "/";
        if (!guestPath.startsWith("/") || resolveFlags != 0) base = dirfd == AT_FDCWD ? guestCwd() : guestDirOfFd(dirfd);
        return view.resolve(base, guestPath, followFinal, ids(), resolveFlags);
    }

    private static long alignDown(long address, int alignment) {
        return address & -alignment;
    }

    private static int readTgid(int tid) {
        return ProcStatus.field(tid, "Tgid", 10, tid);
    }
}
