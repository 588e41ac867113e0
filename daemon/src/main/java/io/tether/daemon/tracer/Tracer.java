package io.tether.daemon.tracer;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import io.tether.daemon.guest.GuestView;
import io.tether.daemon.process.Reaper;
import io.tether.daemon.process.Spawner;
import io.tether.daemon.tracer.arch.Arch;
import io.tether.daemon.tracer.arch.Arches;
import io.tether.daemon.tracer.arch.Reg;
import io.tether.daemon.tracer.arch.Registers;
import io.tether.daemon.tracer.arch.Sys;
import io.tether.daemon.tracer.handler.Disposition;
import io.tether.daemon.tracer.handler.Handlers;
import io.tether.daemon.tracer.handler.SyscallHandler;
import io.tether.daemon.tracer.nativ.Ptrace;
import io.tether.daemon.tracer.nativ.PtraceNative;
import io.tether.daemon.tracer.seccomp.Bpf;
import io.tether.daemon.tracer.seccomp.SeccompProgram;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.posix.NativeWord;
import io.tether.posix.WaitStatus;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Traces one process tree so it sees a {@link GuestView} as its file system. One dedicated platform
 * thread makes every ptrace and waitpid call (the kernel only accepts ptrace requests from the
 * thread that attached). The root is handed over while it waits at the {@link Spawner}'s gate
 * ({@link #beforeExec}), so the first stop is its exec; at its first syscall after that the tracer
 * makes it install a seccomp filter that stops only on the syscalls of {@link Sys} and lets all
 * others run at native speed. Children, threads and execs are followed with PTRACE_O_TRACE*, and
 * PTRACE_O_EXITKILL kills the tree if the daemon dies.
 *
 * <p>Use one Tracer per traced tree: {@code new Spawner(runDir, tracer, tracer)} (it is the exec hook
 * and the reaper of the root), spawn once, then wait on {@link #rootExit()}.
 */
public final class Tracer implements Spawner.ExecHook, Reaper, AutoCloseable {
    /** ptrace stops handled so far: what the seccomp filter exists to keep low. */
    private volatile long stops;

    private static final Logger log = LoggerFactory.getLogger(Tracer.class);
    private static final AtomicInteger THREADS = new AtomicInteger();
    private static final int OPTIONS = Ptrace.O_TRACESYSGOOD | Ptrace.O_TRACESECCOMP | Ptrace.O_TRACEEXEC
            | Ptrace.O_TRACEFORK | Ptrace.O_TRACEVFORK | Ptrace.O_TRACECLONE | Ptrace.O_EXITKILL;
    private static final int SYSCALL_TRAP = Ptrace.SIGTRAP | 0x80;
    private static final int SYSCALL_INFO_ENTRY = 1;

    private final Arch arch;
    private final GuestView view;
    private final Handlers handlers;
    private final byte[] filter;
    /** The plan of a kernel-rooted run and its smaller filter, or null (path rewriting). */
    private final KernelRoot kernelRoot;
    private final byte[] kernelRootedFilter;
    /** The kernel-rooted filter behind an open gate (read-only opens and execs unstopped), or null when the run can have none. */
    private final byte[] gatedFilter;
    /** The mirror's gate on the rooted tree's first opens, up from the chroot to the tracer's end; or null. */
    private volatile io.tether.daemon.guest.OpenGate openGate;
    private final BlockingQueue<Seize> seizes = new LinkedBlockingQueue<>();
    private final CompletableFuture<WaitStatus> rootExit = new CompletableFuture<>();
    private final CompletableFuture<Void> finished = new CompletableFuture<>();
    private final Map<Integer, Tracee> tracees = new HashMap<>();
    private final Set<Sys> refusedOnce = EnumSet.noneOf(Sys.class);
    private final Thread thread;
    private volatile int rootPid = -1;
    private volatile String rootExe;
    private volatile boolean closed;
    private volatile boolean kernelRooted;
    /** The tracer thread's tid: what /proc/PID/status shows as TracerPid of its tracees (0 until it runs). */
    private volatile int tracerTid;

    // Owned by the tracer thread.
    private RegisterIo registerIo;
    private TraceeMemory memory;
    private SyscallContext ctx;
    private Registers regs;
    private boolean filterInstalled;
    private HostRuns hostRuns;
    /** PTRACE_GETEVENTMSG's answer, for every event (one buffer, not a malloc and free per fork). */
    private Memory word;

    private record Seize(int pid, CompletableFuture<Void> done) {}

    private Tracer(Arch arch, GuestView view, Handlers handlers, KernelRoot kernelRoot) {
        this.arch = arch;
        this.view = view;
        this.handlers = handlers;
        this.filter = SeccompProgram.forTrappedSyscalls(arch, Handlers.trappedOnDemand(view)).toBytes();
        this.kernelRoot = kernelRoot;
        this.kernelRootedFilter = kernelRoot == null ? null
                : SeccompProgram.forSyscalls(arch, Handlers.trappedWhenKernelRooted(handlers, view),
                        Handlers.directoryOpensPassWhenKernelRooted(handlers, view)).toBytes();
        this.gatedFilter = kernelRoot == null || !Handlers.directoryOpensPassWhenKernelRooted(handlers, view) ? null
                : SeccompProgram.forSyscalls(arch, Handlers.trappedBehindOpenGate(handlers, view),
                        SeccompProgram.OpensPass.READ_ONLY).toBytes();
        this.thread = new Thread(this::run, "tether-tracer-" + THREADS.incrementAndGet());
        thread.setDaemon(true);
    }

    /** A tracer for this machine's architecture with the standard handlers. */
    public static Tracer start(GuestView view) {
        Arch arch = Arches.host().orElseThrow(() -> new IllegalStateException("no tracer for " + System.getProperty("os.arch")));
        return start(arch, view, Handlers.standard(arch));
    }

    public static Tracer start(Arch arch, GuestView view, Handlers handlers) {
        return start(arch, view, handlers, null);
    }

    /** As {@link #start(Arch, GuestView, Handlers)}, kernel-rooted as {@code kernelRoot} plans if not null. */
    public static Tracer start(Arch arch, GuestView view, Handlers handlers, KernelRoot kernelRoot) {
        Tracer t = new Tracer(arch, view, handlers, kernelRoot);
        t.thread.start();
        return t;
    }

    /** Spawner hook: attaches the gated child from the tracer thread, before it executes anything. */
    @Override
    public void beforeExec(int pid) throws Exception {
        Seize s = new Seize(pid, new CompletableFuture<>());
        seizes.add(s);
        try {
            s.done.get(10, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof Exception ex ? ex : e;
        } catch (TimeoutException e) {
            throw new ErrnoException(Errno.ETIMEDOUT, "PTRACE_SEIZE", "pid " + pid);
        }
    }

    /** What /proc/self/exe of the root must show, from {@link GuestLaunch.Launch#guestExe()}; before spawning. */
    public void rootExe(String guestExe) {
        this.rootExe = guestExe;
    }

    /** Reaper of the root: its final status, reaped by the tracer thread. */
    @Override
    public CompletableFuture<WaitStatus> watch(int pid) {
        // A child killed at the gate before it was attached is an ordinary child: reap it the ordinary way.
        if (pid != rootPid) return new io.tether.daemon.process.ThreadReaper().watch(pid);
        return rootExit;
    }

    /** Whether the tree runs chrooted in the guest root (its chroot succeeded; see {@link KernelRoot}). */
    public boolean kernelRooted() {
        return kernelRooted;
    }

    /** How many ptrace stops this tracer has handled (each costs microseconds; untrapped calls cost none). */
    public long stops() {
        return stops;
    }

    public CompletableFuture<WaitStatus> rootExit() {
        return rootExit;
    }

    /** Completes when the last tracee is gone and the tracer thread has ended. */
    public CompletableFuture<Void> finished() {
        return finished;
    }

    /**
     * Sends {@code signo} to every traced process, wherever it moved (another process group or session):
     * the whole tree, which a group or session signal misses. Returns how many threads were signalled.
     */
    public int signalAll(int signo) {
        Integer[] tids;
        synchronized (tracees) {
            tids = tracees.keySet().toArray(new Integer[0]);
        }
        // kill(2) on any thread's id signals its whole process; a second one per process is merged (standard signals).
        int sent = 0;
        for (int tid : tids) {
            if (PtraceNative.kill(tid, signo) == 0) sent++;
        }
        return sent;
    }

    /** Kills every tracee (SIGKILL); the tracer thread reaps them and ends. */
    @Override
    public void close() {
        closed = true;
        Integer[] tids;
        synchronized (tracees) {
            tids = tracees.keySet().toArray(new Integer[0]);
        }
        for (int tid : tids) {
            if (tracedHere(tid)) PtraceNative.kill(tid, Ptrace.SIGKILL);
        }
        int root = rootPid;
        if (root > 0) PtraceNative.kill(root, Ptrace.SIGKILL);
        seizes.add(new Seize(-1, new CompletableFuture<>()));
    }

    /**
     * Whether {@code tid} is still traced by this tracer's thread. A rooted tree does not stop at exec events, so the
     * former tid of a thread that exec'd while not its process's leader is never reported gone and stays in the map;
     * the kernel may give that number to a process of someone else's long after.
     */
    private boolean tracedHere(int tid) {
        int mine = tracerTid;
        return mine != 0 && ProcStatus.field(tid, "TracerPid", 10, 0) == mine;
    }

    // ---- the tracer thread ----

    private void run() {
        try {
            tracerTid = io.tether.posix.LibC.gettid();
        } catch (ErrnoException e) {
            log.warn("gettid: {}", e.getMessage()); // close() then leaves the tracees to PTRACE_O_EXITKILL
        }
        registerIo = new RegisterIo(arch);
        memory = new TraceeMemory();
        // Other tracees' /proc/PID/exe: read on this thread, the only one that changes the map's entries.
        ctx = new SyscallContext(arch, view, memory, pid -> {
            Tracee leader = tracees.get(pid);
            return leader == null ? null : leader.guestExe;
        });
        regs = new Registers(arch);
        word = new Memory(8);
        hostRuns = new HostRuns(arch, registerIo, memory);
        ctx.hostRuns(hostRuns);
        try {
            Seize first = seizes.take();
            if (first.pid < 0) return;
            if (!seize(first)) return;
            loop();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Throwable t) {
            log.error("tracer failed", t);
            close();
        } finally {
            if (hostRuns != null) hostRuns.close();
            if (openGate != null) {
                // Opens still held are allowed as the gate goes: no tracee may be left to run on (a waitpid failure).
                boolean left;
                synchronized (tracees) {
                    left = !tracees.isEmpty();
                }
                if (left) close();
                openGate.close();
            }
            word.close();
            if (!rootExit.isDone()) rootExit.completeExceptionally(new IllegalStateException("tracer ended before the root exited"));
            log.debug("tracer of pid {} done: {} stops ({})", rootPid, stops, kernelRooted ? "kernel-rooted" : "rewriting paths");
            finished.complete(null);
        }
    }

    private boolean seize(Seize s) {
        if (PtraceNative.ptrace(Ptrace.SEIZE, s.pid, 0, OPTIONS) < 0) {
            s.done.completeExceptionally(new ErrnoException(PtraceNative.errno(), "PTRACE_SEIZE", "pid " + s.pid));
            return false;
        }
        rootPid = s.pid;
        Tracee root = track(s.pid);
        root.pendingExe = rootExe;
        root.inherited = true;
        s.done.complete(null);
        return true;
    }

    private void loop() {
        int[] status = new int[1];
        while (true) {
            int tid = PtraceNative.waitpid(-1, status, Ptrace.WALL | Ptrace.WNOTHREAD);
            if (tid < 0) {
                int errno = PtraceNative.errno();
                if (errno == Errno.EINTR) continue;
                if (errno != Errno.ECHILD) log.error("waitpid: {}", Errno.describe(errno));
                return;
            }
            try {
                onStatus(tid, status[0]);
            } catch (ErrnoException e) {
                if (e.errno() != Errno.ESRCH) log.warn("tid {}: {}", tid, e.getMessage());
            }
        }
    }

    private Tracee track(int tid) {
        synchronized (tracees) {
            return tracees.computeIfAbsent(tid, Tracee::new);
        }
    }

    private void forget(int tid) {
        synchronized (tracees) {
            tracees.remove(tid);
        }
    }

    private void onStatus(int tid, int status) throws ErrnoException {
        WaitStatus w = new WaitStatus(tid, status);
        if (w.exited() || w.signaled()) {
            Tracee gone = tracees.get(tid);
            if (gone != null && gone.hostRun != null) hostRuns.onGone(gone);
            forget(tid);
            if (tid == rootPid) rootExit.complete(w);
            return;
        }
        if (!w.stopped()) return;
        stops++;
        Tracee t = track(tid);
        int sig = w.stopSignal();
        int event = status >>> 16;
        if (sig == SYSCALL_TRAP) {
            onSyscallStop(t);
        } else if (event == Ptrace.EVENT_STOP) {
            if (!t.started) {
                t.started = true;
                if (!t.inherited) inheritFromParent(t); // its first stop came before the parent's event
                resume(t, 0);
            } else if (sig == Ptrace.SIGSTOP || sig == Ptrace.SIGTSTP || sig == Ptrace.SIGTTIN || sig == Ptrace.SIGTTOU) {
                // Group stop: stay stopped without swallowing the stop, so job control works.
                ptrace(Ptrace.LISTEN, t.tid, 0, 0);
            } else {
                resume(t, 0);
            }
        } else if (sig == Ptrace.SIGTRAP && event != 0) {
            t.started = true;
            onEvent(t, event);
        } else {
            t.started = true;
            if (t.hostRun != null && hostRuns.onSignalStop(t, sig)) return; // forwarded to its host process
            resume(t, sig); // signal-delivery stop: deliver it
        }
    }

    private void onEvent(Tracee t, int event) throws ErrnoException {
        switch (event) {
            case Ptrace.EVENT_SECCOMP:
                onSyscallEntry(t);
                return;
            case Ptrace.EVENT_FORK:
            case Ptrace.EVENT_VFORK:
            case Ptrace.EVENT_CLONE: {
                Tracee child = track((int) eventMessage(t));
                if (!child.inherited) {
                    child.guestExe = t.guestExe;
                    child.inherited = true;
                }
                if (event != Ptrace.EVENT_CLONE) child.tgid = child.tid; // a new process; clone may be a thread
                else if (kernelRooted) child.tgid = 0; // read when needed: the entry may be a former execer's (tracedHere)
                resume(t, 0);
                return;
            }
            case Ptrace.EVENT_EXEC:
                int former = (int) eventMessage(t);
                if (former != t.tid) { // exec from a non-leader thread: it became the leader
                    Tracee execer = tracees.get(former);
                    t.pendingExe = execer == null ? null : execer.pendingExe;
                    if (execer != null && execer.hostRun != null) hostRuns.moved(former, t);
                    forget(former);
                }
                t.guestExe = t.pendingExe;
                t.pendingExe = null;
                t.inherited = true;
                t.resetSyscallState();
                t.tgid = t.tid;
                // The root re-executed in the chroot (the last rooting call): its filter comes at its first syscall.
                if (t.injection != null && t.injection.reexecuting()) t.injection = null;
                if (!filterInstalled && t.injection == null) t.injection = new Injection();
                resume(t, 0);
                return;
            default:
                resume(t, 0);
        }
    }

    /** Takes what /proc/PID/exe shows from the thread's creator, found through /proc (Tgid, else PPid). */
    private void inheritFromParent(Tracee t) {
        if (kernelRooted) {
            // Nothing to take: no tracee of a rooted tree has a guestExe (the tgid is read when first needed).
            t.inherited = true;
            return;
        }
        try {
            int tgid = 0, ppid = 0;
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/" + t.tid + "/status"))) {
                if (line.startsWith("Tgid:")) tgid = Integer.parseInt(line.substring(5).trim());
                if (line.startsWith("PPid:")) ppid = Integer.parseInt(line.substring(5).trim());
            }
            t.tgid = tgid;
            Tracee parent = tracees.get(tgid != t.tid ? tgid : ppid);
            if (parent != null) t.guestExe = parent.guestExe;
        } catch (java.io.IOException | RuntimeException e) {
            // gone already: nothing to show
        }
        t.inherited = true;
    }

    /** A seccomp stop: translate the call, or refuse it, then let the tracee go on. */
    private void onSyscallEntry(Tracee t) throws ErrnoException {
        // A thread's exit stop comes before its next entry: one still awaited was the former leader's, whose tid an
        // exec from another thread of its process took over unreported (a rooted tree has no exec events).
        if (t.pendingExit != null) t.resetSyscallState();
        registerIo.read(t.tid, regs);
        Sys sys = arch.table().sysOrNull(regs.sysnr());
        SyscallHandler handler = sys == null ? null : handlers.get(sys);
        Disposition d;
        if (handler == null) {
            d = refuse(sys);
        } else {
            ctx.begin(t, sys, regs);
            try {
                d = handler.enter(ctx);
            } catch (ErrnoException e) {
                d = ctx.skip(-e.errno());
                if (log.isTraceEnabled()) log.trace("tid {} {}: {}", t.tid, sys.kernelName(), e.getMessage());
            } catch (RuntimeException e) {
                log.error("tid {} {}: handler failed", t.tid, sys.kernelName(), e);
                d = ctx.skip(-Errno.ENOSYS);
            }
        }
        if (d == Disposition.SKIP) {
            regs.set(Reg.SYSNR, -1);
            regs.set(Reg.RESULT, handler == null ? -Errno.ENOSYS : ctx.result());
        }
        if (log.isTraceEnabled()) {
            log.trace("tid {} {}({}, {}, {}) {}{}", t.tid, sys == null ? regs.original(Reg.SYSNR) : sys.kernelName(),
                    Long.toHexString(regs.original(Reg.ARG0)), Long.toHexString(regs.original(Reg.ARG1)),
                    Long.toHexString(regs.original(Reg.ARG2)), d, d == Disposition.SKIP ? " = " + regs.signed(Reg.RESULT) : "");
        }
        registerIo.writeIfModified(t.tid, regs);
        if (d == Disposition.RUN_AND_STOP_AT_EXIT) {
            t.pendingExit = handler;
            resume(t, 0);
        } else {
            resume(t, 0);
        }
    }

    private Disposition refuse(Sys sys) {
        String name = sys == null ? "syscall " + regs.sysnr() : sys.kernelName();
        if (sys == null || refusedOnce.add(sys)) log.warn("{} takes a path but has no translation: refused with ENOSYS", name);
        return Disposition.SKIP;
    }

    /** A syscall-entry or -exit stop (only ever requested with PTRACE_SYSCALL). */
    private void onSyscallStop(Tracee t) throws ErrnoException {
        if (t.hostRun != null && hostRuns.onSyscallStop(t)) return;
        if (t.injection != null) {
            injectStep(t);
            return;
        }
        SyscallHandler handler = t.pendingExit;
        if (handler != null) {
            registerIo.read(t.tid, regs);
            Sys sys = arch.table().sysOrNull((int) regs.get(Reg.SYSNR));
            ctx.begin(t, sys, regs);
            try {
                handler.exit(ctx);
            } catch (ErrnoException e) {
                regs.set(Reg.RESULT, -e.errno());
            }
            registerIo.writeIfModified(t.tid, regs);
            t.resetSyscallState();
        }
        resume(t, 0);
    }

    /**
     * Makes the first tracee set itself up (it must: namespaces, roots and seccomp filters apply to the
     * calling task): at its first syscall entry it issues the {@link Injection} calls instead, each
     * checked at its exit stop, then its own syscall runs again, filtered. Kernel-rooted: unshare, the
     * mounts, chroot and chdir come first ({@link #kernelRootCalls}); then prctl(PR_SET_NO_NEW_PRIVS)
     * and seccomp(SET_MODE_FILTER).
     */
    private void injectStep(Tracee t) throws ErrnoException {
        Injection inj = t.injection;
        if (inj.phase == Injection.Phase.AWAIT_FIRST_ENTRY && syscallStopOp(t) != SYSCALL_INFO_ENTRY) {
            // The exit stop of the execve that brought us here: the next stop is the first entry.
            ptrace(Ptrace.SYSCALL, t.tid, 0, 0);
            return;
        }
        registerIo.read(t.tid, regs);
        switch (inj.phase) {
            case AWAIT_FIRST_ENTRY:
                t.savedRegs = regs.snapshot();
                inj.plan(planInjection(t, kernelRoot != null && !ctx.kernelRooted()));
                issue(t, inj.advance(), false);
                inj.phase = Injection.Phase.AWAIT_EXIT;
                break;
            case AWAIT_ENTRY:
                inj.phase = Injection.Phase.AWAIT_EXIT;
                break;
            case AWAIT_EXIT: {
                Injection.Call done = inj.current();
                long rc = regs.signed(Reg.RESULT);
                if (rc != 0 && done.onFailure() == Injection.OnFailure.KILL) {
                    abandonInjection(t, done.describe(rc));
                    return;
                }
                if (rc != 0) {
                    // Nothing was rooted elsewhere yet: this run rewrites paths (a private namespace is harmless).
                    log.warn("kernel-rooted run not possible in pid {}: {}; rewriting paths", t.tid, done.describe(rc));
                    inj.plan(planInjection(t, false));
                } else if (done.sys() == Sys.CHROOT) {
                    ctx.kernelRooted(true);
                    kernelRooted = true;
                    view.fileAccess().kernelResolves();
                    log.debug("pid {} chrooted into {}", t.tid, kernelRoot.rootHostPath());
                    if (gatedFilter != null) openGate = view.fileAccess().openGate(t.tid, kernelRoot.rootHostPath(), bindsSeenAt());
                }
                Injection.Call next = inj.advance();
                if (next == null) {
                    rewindToOriginal(t);
                    filterInstalled = true;
                    t.injection = null;
                    log.debug("seccomp filter installed in pid {} ({})", t.tid, ctx.kernelRooted() ? "kernel-rooted" : "rewriting paths");
                    if (ctx.kernelRooted()) stopStoppingAtExecs(t);
                    resume(t, 0);
                    return;
                }
                issue(t, next, true);
                inj.phase = Injection.Phase.AWAIT_ENTRY;
                break;
            }
            default:
                throw new IllegalStateException(inj.phase.toString());
        }
        ptrace(Ptrace.SYSCALL, t.tid, 0, 0);
    }

    /**
     * A rooted and filtered tree's exec events carry nothing the tracer needs: /proc/PID/exe is the kernel's
     * answer in the chroot (no tracee has a guestExe), the filter goes with the exec, and the exec's hooks ran at
     * its seccomp stop. A seized tracee without PTRACE_O_TRACEEXEC does not stop at its execs at all, and the
     * children it forks from now on inherit its options: one stop less per exec of every process.
     */
    private void stopStoppingAtExecs(Tracee t) {
        if (PtraceNative.ptrace(Ptrace.SETOPTIONS, t.tid, 0, OPTIONS & ~Ptrace.O_TRACEEXEC) < 0) {
            log.debug("PTRACE_SETOPTIONS without exec events, pid {}: {}", t.tid, Errno.describe(PtraceNative.errno()));
        }
    }

    /** Loads {@code call} into the registers: at an entry stop directly, after an exit stop by rewinding. */
    private void issue(Tracee t, Injection.Call call, boolean rewind) throws ErrnoException {
        regs.set(rewind ? Reg.SYSNR_REEXEC : Reg.SYSNR, arch.table().number(call.sys()));
        for (int i = 0; i < 6; i++) regs.set(Reg.arg(i), i < call.args().length ? call.args()[i] : 0);
        if (rewind) regs.set(Reg.INSTRUCTION_POINTER, regs.get(Reg.INSTRUCTION_POINTER) - arch.syscallInsnLength(regs));
        registerIo.writeIfModified(t.tid, regs);
    }

    /**
     * Writes what the calls point to below the saved stack pointer and returns the calls: with
     * {@code rooting}, those that root the tracee in the guest ({@link #kernelRootCalls}); else the
     * filter's, kernel-rooted or rewriting as the tracee now is.
     */
    private java.util.List<Injection.Call> planInjection(Tracee t, boolean rooting) throws ErrnoException {
        Registers saved = new Registers(arch);
        saved.load(t.savedRegs);
        Injection.Blob blob = new Injection.Blob();
        java.util.List<Injection.Call> calls = new java.util.ArrayList<>();
        java.util.List<int[]> pieces = new java.util.ArrayList<>(); // per call: the blob piece of each argument, or -1
        if (rooting) {
            kernelRootCalls(blob, calls, pieces);
        } else {
            byte[] program = !ctx.kernelRooted() ? filter : openGate != null ? gatedFilter : kernelRootedFilter;
            int filterAt = blob.add(program);
            int fprogAt = blob.add(new byte[arch.wordSize() == 8 ? 16 : 8]);
            Injection.OnFailure kill = Injection.OnFailure.KILL;
            calls.add(new Injection.Call(Sys.PRCTL, new long[] {Bpf.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0}, kill,
                    "prctl(PR_SET_NO_NEW_PRIVS)"));
            pieces.add(new int[] {-1, -1, -1, -1, -1});
            calls.add(new Injection.Call(Sys.SECCOMP, new long[] {Bpf.SECCOMP_SET_MODE_FILTER, Bpf.SECCOMP_FILTER_FLAG_SPEC_ALLOW, 0},
                    kill, "seccomp(SET_MODE_FILTER)"));
            pieces.add(new int[] {-1, -1, fprogAt});
            long base = blob.base(saved.get(Reg.STACK_POINTER) - arch.redZone());
            ByteBuffer fprog = ByteBuffer.allocate(arch.wordSize() == 8 ? 16 : 8).order(ByteOrder.LITTLE_ENDIAN);
            fprog.putShort(0, (short) (program.length / Bpf.INSN_SIZE));
            if (arch.wordSize() == 8) fprog.putLong(8, blob.address(base, filterAt));
            else fprog.putInt(4, (int) blob.address(base, filterAt));
            blob.patch(fprogAt, fprog.array());
        }
        long base = blob.base(saved.get(Reg.STACK_POINTER) - arch.redZone());
        for (int c = 0; c < calls.size(); c++) {
            long[] args = calls.get(c).args();
            int[] at = pieces.get(c);
            for (int i = 0; i < at.length; i++) {
                if (at[i] >= 0) args[i] = blob.address(base, at[i]);
            }
        }
        memory.write(t.tid, base, blob.toBytes(base));
        return calls;
    }

    /**
     * unshare(CLONE_NEWNS); mount(NULL, "/", NULL, MS_REC|MS_PRIVATE) so our binds never reach the
     * daemon's namespace; a recursive bind per guest bind; chroot(root); chdir(guest cwd); then execve of
     * the guest program inside the chroot, so the root's /proc/self/exe, maps and loader are the guest's
     * as a child's are (it was spawned from outside). A failure before the chroot falls back to rewriting
     * (the tracee is still rooted where it was); one after it leaves a tracee that must not run.
     */
    private void kernelRootCalls(Injection.Blob blob, java.util.List<Injection.Call> calls, java.util.List<int[]> pieces) {
        Injection.OnFailure fallBack = Injection.OnFailure.FALL_BACK, kill = Injection.OnFailure.KILL;
        calls.add(new Injection.Call(Sys.UNSHARE, new long[] {KernelRoot.CLONE_NEWNS}, fallBack, "unshare(CLONE_NEWNS)"));
        pieces.add(new int[] {-1});
        calls.add(new Injection.Call(Sys.MOUNT, new long[] {0, 0, 0, KernelRoot.MS_REC | KernelRoot.MS_PRIVATE, 0}, fallBack,
                "mount(/, MS_REC|MS_PRIVATE)"));
        pieces.add(new int[] {-1, blob.addString("/"), -1, -1, -1});
        for (KernelRoot.Mount m : kernelRoot.mounts()) {
            calls.add(new Injection.Call(Sys.MOUNT, new long[] {0, 0, 0, KernelRoot.MS_BIND | KernelRoot.MS_REC, 0}, fallBack,
                    "mount(" + m.sourceHostPath() + ", " + m.targetHostPath() + ", MS_BIND|MS_REC)"));
            pieces.add(new int[] {blob.addString(m.sourceHostPath()), blob.addString(m.targetHostPath()), -1, -1, -1});
        }
        calls.add(new Injection.Call(Sys.CHROOT, new long[] {0}, fallBack, "chroot(" + kernelRoot.rootHostPath() + ")"));
        pieces.add(new int[] {blob.addString(kernelRoot.rootHostPath())});
        calls.add(new Injection.Call(Sys.CHDIR, new long[] {0}, kill, "chdir(" + kernelRoot.guestCwd() + ")"));
        pieces.add(new int[] {blob.addString(kernelRoot.guestCwd())});
        calls.add(new Injection.Call(Sys.EXECVE, new long[] {0, 0, 0}, kill, "execve(" + kernelRoot.guestProgram() + ") in the chroot"));
        pieces.add(new int[] {blob.addString(kernelRoot.guestProgram()), blob.addPointers(kernelRoot.argv(), arch.wordSize()),
                blob.addPointers(kernelRoot.env(), arch.wordSize())});
    }

    /** Each bind's mountpoint in the rooted tree (a host path below the root) -> its source. */
    private java.util.Map<String, String> bindsSeenAt() {
        java.util.Map<String, String> seen = new java.util.LinkedHashMap<>();
        for (KernelRoot.Mount m : kernelRoot.mounts()) seen.put(m.targetHostPath(), m.sourceHostPath());
        return seen;
    }

    /** Restores the registers of the first syscall and rewinds so it runs again, now filtered. */
    private void rewindToOriginal(Tracee t) throws ErrnoException {
        Registers saved = new Registers(arch);
        saved.load(t.savedRegs);
        regs.restore(t.savedRegs);
        regs.set(Reg.SYSNR_REEXEC, saved.get(Reg.SYSNR));
        regs.set(Reg.INSTRUCTION_POINTER, saved.get(Reg.INSTRUCTION_POINTER) - arch.syscallInsnLength(saved));
        registerIo.writeIfModified(t.tid, regs);
    }

    /** Without a filter nothing would be translated: the tracee must not run on. */
    private void abandonInjection(Tracee t, String why) {
        log.error("cannot set up pid {}: {}; killing it", t.tid, why);
        t.injection = null;
        PtraceNative.kill(t.tid, Ptrace.SIGKILL);
        ptrace(Ptrace.CONT, t.tid, 0, 0);
    }

    private void resume(Tracee t, int sig) {
        int request = t.injection != null || t.pendingExit != null ? Ptrace.SYSCALL : Ptrace.CONT;
        ptrace(request, t.tid, 0, sig);
    }

    /** PTRACE_GET_SYSCALL_INFO's op: whether a syscall stop is an entry or an exit (Linux 5.3). */
    private int syscallStopOp(Tracee t) throws ErrnoException {
        try (Memory m = new Memory(88)) {
            if (PtraceNative.ptrace(Ptrace.GET_SYSCALL_INFO, t.tid, 88, Pointer.nativeValue(m)) < 0) {
                throw new ErrnoException(PtraceNative.errno(), "PTRACE_GET_SYSCALL_INFO", "tid " + t.tid);
            }
            return m.getByte(0);
        }
    }

    private long eventMessage(Tracee t) throws ErrnoException {
        if (PtraceNative.ptrace(Ptrace.GETEVENTMSG, t.tid, 0, Pointer.nativeValue(word)) < 0) {
            throw new ErrnoException(PtraceNative.errno(), "PTRACE_GETEVENTMSG", "tid " + t.tid);
        }
        return NativeWord.get(word, 0); // an unsigned long
    }

    private static void ptrace(int request, int tid, long addr, long data) {
        if (PtraceNative.ptrace(request, tid, addr, data) < 0) {
            int errno = PtraceNative.errno();
            if (errno != Errno.ESRCH) log.warn("ptrace({}) tid {}: {}", request, tid, Errno.describe(errno));
        }
    }
}
