package io.tether.daemon.tracer;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import io.tether.daemon.tracer.arch.Arch;
import io.tether.daemon.tracer.arch.Reg;
import io.tether.daemon.tracer.arch.Registers;
import io.tether.daemon.tracer.arch.Sys;
import io.tether.daemon.tracer.handler.Disposition;
import io.tether.daemon.tracer.hostexec.HostCommand;
import io.tether.daemon.tracer.hostexec.HostExec;
import io.tether.daemon.tracer.hostexec.HostExit;
import io.tether.daemon.tracer.hostexec.HostProcess;
import io.tether.daemon.tracer.hostexec.TraceeFds;
import io.tether.daemon.tracer.nativ.Ptrace;
import io.tether.daemon.tracer.nativ.PtraceNative;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tracees whose exec runs on the host (issue 5). The tracee keeps its pid, so its parent waits on it as
 * on any child, while the program runs elsewhere:
 * <ol>
 * <li>At the execve entry stop its fds that survive exec are duplicated (pidfd_getfd) and handed with
 *     argv, env and cwd to the {@link io.tether.daemon.tracer.hostexec.HostExecutor}.</li>
 * <li>The execve becomes {@code ppoll(NULL, 0, NULL, &empty_mask)}: the tracee is PARKED in a syscall
 *     that blocks until a signal, with every signal unblocked. Parked in a syscall rather than held in
 *     a ptrace stop, because only a running tracee reports the signals sent to it: each one is a
 *     signal-delivery stop, where the tracer forwards it to the host process and suppresses it, and the
 *     kernel restarts the ppoll (ERESTARTNOHAND, no handler ran). SIGKILL cannot be caught: the tracee
 *     dies, and the host process is killed.</li>
 * <li>When the host process ends, the completion (on another thread) sends the tracee SIGSTOP, which
 *     cannot be blocked: at that signal-delivery stop the tracer suppresses it and resumes to the entry
 *     stop of the restarted ppoll, then turns that syscall into the ending: exit_group(code); or, for
 *     death by signal N, rt_sigaction(N, SIG_DFL), rt_sigprocmask(SIG_UNBLOCK, N), tgkill(self, N) and
 *     the delivery of N (prctl(PR_SET_DUMPABLE, 0) first for a core signal, so no core file is written
 *     for a process whose program ran elsewhere); SIGKILL directly.</li>
 * </ol>
 * Only the tracer thread calls in here, except the host exit completions (which only signal).
 */
final class HostRuns implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HostRuns.class);
    private static final int SIGCHLD = 17, SIG_UNBLOCK = 1, SIGSET_SIZE = 8, PR_SET_DUMPABLE = 4;
    private static final int SYSCALL_INFO_ENTRY = 1;
    /** Signals whose default action dumps core (signal(7)). */
    private static final long CORE_SIGNALS = bit(3) | bit(4) | bit(5) | bit(6) | bit(7) | bit(8) | bit(11) | bit(24) | bit(25) | bit(31);

    private enum Phase { EXECING, PARKED, AWAIT_ENTRY, AWAIT_EXIT, DYING }

    /** One tracee parked for its host process. */
    static final class Run {
        volatile int tid;
        final int tgid;
        final HostProcess process;
        final io.tether.daemon.guest.GuestView view;
        volatile HostExit exit;
        Phase phase = Phase.PARKED;
        List<long[]> steps; // {nr, arg0..arg3}
        int step;
        int deathSignal;

        Run(int tid, int tgid, HostProcess process, io.tether.daemon.guest.GuestView view) {
            this.tid = tid;
            this.tgid = tgid;
            this.process = process;
            this.view = view;
        }
    }

    private final Arch arch;
    private final RegisterIo registerIo;
    private final TraceeMemory memory;
    private final Registers regs;
    private final Map<Integer, Run> runs = new ConcurrentHashMap<>();

    HostRuns(Arch arch, RegisterIo registerIo, TraceeMemory memory) {
        this.arch = arch;
        this.registerIo = registerIo;
        this.memory = memory;
        this.regs = new Registers(arch);
    }

    /** At the execve entry stop: starts the host process and turns the execve into the parking ppoll. */
    Disposition park(Tracee t, SyscallContext ctx, Registers stopRegs, HostExec hostExec, HostCommand command)
            throws ErrnoException {
        int tgid = ctx.ids().pid();
        ctx.view().fileAccess().flush(); // the host program must see every write made so far on the target
        Map<Integer, Integer> fds = TraceeFds.inheritedFds(tgid);
        HostProcess process = hostExec.executor().start(command.withFds(fds, TraceeFds.umask(tgid)));
        Run run = new Run(t.tid, tgid, process, ctx.view());
        runs.put(t.tid, run);
        t.hostRun = run;
        log.debug("tid {} parked while {} runs", t.tid, process.describe());
        if (hostExec.parkingProgram() != null) {
            // The execve goes on, to the parking program: the exec's target-side effects all happen.
            boolean at = ctx.sys() == Sys.EXECVEAT;
            stopRegs.set(Reg.arg(at ? 1 : 0), ctx.pushString(hostExec.parkingProgram()));
            if (at) {
                stopRegs.set(Reg.ARG0, SyscallContext.AT_FDCWD);
                stopRegs.set(Reg.ARG4, 0);
            }
            ctx.execPending(command.guestPath());
            run.phase = Phase.EXECING;
        } else {
            long emptyMask = ctx.push(new byte[SIGSET_SIZE]);
            stopRegs.set(Reg.SYSNR, arch.table().number(Sys.PPOLL));
            setPpollArgs(stopRegs, emptyMask);
        }
        process.exit().whenComplete((exit, e) -> {
            try {
                run.view.fileAccess().hostChanged(); // here, not on the tracer thread: it may take a round trip
            } catch (ErrnoException | RuntimeException x) {
                log.warn("after host process {}: the guest tree could not be revalidated: {}", process.describe(), x.getMessage());
            }
            run.exit = exit != null ? exit : HostExit.killed(Ptrace.SIGKILL);
            // Wakes the tracer (blocked in waitpid) through a stop of this tracee; SIGSTOP cannot be blocked.
            TraceeFds.tgkill(arch.table().number(Sys.TGKILL), run.tgid, run.tid, Ptrace.SIGSTOP);
        });
        return run.phase == Phase.EXECING ? Disposition.RUN_AND_STOP_AT_EXIT : Disposition.RUN;
    }

    private static void setPpollArgs(Registers r, long emptyMask) {
        r.set(Reg.ARG0, 0);
        r.set(Reg.ARG1, 0);
        r.set(Reg.ARG2, 0);
        r.set(Reg.ARG3, emptyMask);
        r.set(Reg.ARG4, SIGSET_SIZE);
    }

    /** The exit stop of the parking execve, reached only when it failed: the tracee waits in its old program instead. */
    private void parkInOldImage(Tracee t, Run run) throws ErrnoException {
        log.warn("tid {}: cannot execute the parking program ({}); waiting in the old program",
                t.tid, Errno.describe((int) -regs.signed(Reg.RESULT)));
        long emptyMask = (regs.get(Reg.STACK_POINTER) - arch.redZone() - 64) & -16L;
        memory.write(t.tid, emptyMask, new byte[SIGSET_SIZE]);
        regs.set(Reg.SYSNR_REEXEC, arch.table().number(Sys.PPOLL));
        setPpollArgs(regs, emptyMask);
        regs.set(Reg.INSTRUCTION_POINTER, regs.get(Reg.INSTRUCTION_POINTER) - arch.syscallInsnLength(regs));
        registerIo.writeIfModified(t.tid, regs);
        t.resetSyscallState();
        run.phase = Phase.PARKED;
        ptrace(Ptrace.CONT, t.tid, 0);
    }

    /** An exec from a non-leader thread made it the leader: the run moves with it. */
    void moved(int formerTid, Tracee leader) {
        Run run = runs.remove(formerTid);
        if (run == null) return;
        run.tid = leader.tid;
        runs.put(leader.tid, run);
        leader.hostRun = run;
    }

    /** A signal-delivery stop of a tracee; true if it was one of ours and has been resumed. */
    boolean onSignalStop(Tracee t, int sig) throws ErrnoException {
        Run run = t.hostRun;
        if (run == null) return false;
        if (run.phase == Phase.DYING && sig == run.deathSignal) {
            ptrace(Ptrace.CONT, t.tid, sig); // the ending: delivered with its default action
            return true;
        }
        if (run.phase != Phase.PARKED && run.phase != Phase.EXECING) {
            ptrace(Ptrace.SYSCALL, t.tid, 0); // a straggler (the wake-up, a late signal) during the ending
            return true;
        }
        HostExit exit = run.exit;
        if (exit == null) {
            if (sig != SIGCHLD) { // the tracee's own children are no concern of the host process
                if (log.isDebugEnabled()) log.debug("tid {}: signal {} forwarded to {}", t.tid, sig, run.process.describe());
                run.process.signal(sig);
            }
            ptrace(Ptrace.CONT, t.tid, 0);
            return true;
        }
        beginEnding(t, run, exit);
        return true;
    }

    private void beginEnding(Tracee t, Run run, HostExit exit) throws ErrnoException {
        log.debug("tid {}: host process {} {}", t.tid, run.process.describe(), exit);
        forgetWhatTheHostMayHaveChanged(run.view);
        if (exit.signaled() && exit.termSignal() == Ptrace.SIGKILL) {
            PtraceNative.kill(run.tid, Ptrace.SIGKILL);
            run.phase = Phase.DYING;
            run.deathSignal = Ptrace.SIGKILL;
            ptrace(Ptrace.CONT, t.tid, 0);
            return;
        }
        List<long[]> steps = new ArrayList<>();
        if (!exit.signaled()) {
            steps.add(new long[] {arch.table().number(Sys.EXIT_GROUP), exit.exitCode(), 0, 0, 0});
        } else {
            int n = exit.termSignal();
            registerIo.read(t.tid, regs);
            // Below the stack (and red zone) of a thread that runs no code of its own until it is gone.
            long base = (regs.get(Reg.STACK_POINTER) - arch.redZone() - 256) & -16L;
            long sigaction = base, sigset = base + 64;
            memory.write(t.tid, sigaction, new byte[64]); // handler SIG_DFL, no flags, empty mask
            ByteBuffer set = ByteBuffer.allocate(SIGSET_SIZE).order(ByteOrder.LITTLE_ENDIAN).putLong(0, bit(n));
            memory.write(t.tid, sigset, set.array());
            if ((CORE_SIGNALS & bit(n)) != 0) steps.add(new long[] {arch.table().number(Sys.PRCTL), PR_SET_DUMPABLE, 0, 0, 0});
            steps.add(new long[] {arch.table().number(Sys.RT_SIGACTION), n, sigaction, 0, SIGSET_SIZE});
            steps.add(new long[] {arch.table().number(Sys.RT_SIGPROCMASK), SIG_UNBLOCK, sigset, 0, SIGSET_SIZE});
            steps.add(new long[] {arch.table().number(Sys.TGKILL), run.tgid, run.tid, n, 0});
            run.deathSignal = n;
        }
        run.steps = steps;
        run.step = 0;
        run.phase = Phase.AWAIT_ENTRY;
        ptrace(Ptrace.SYSCALL, t.tid, 0); // the parking ppoll restarts: its entry stop is where the ending begins
    }

    /** A syscall stop of a tracee (PTRACE_SYSCALL); true if it was one of ours and has been resumed. */
    boolean onSyscallStop(Tracee t) throws ErrnoException {
        Run run = t.hostRun;
        if (run == null || (run.phase != Phase.AWAIT_ENTRY && run.phase != Phase.AWAIT_EXIT && run.phase != Phase.EXECING)) {
            return false;
        }
        registerIo.read(t.tid, regs);
        boolean entry = syscallStopOp(t.tid) == SYSCALL_INFO_ENTRY;
        if (run.phase == Phase.EXECING) {
            if (entry) return false;
            parkInOldImage(t, run);
            return true;
        }
        long[] step = run.steps.get(run.step);
        if (entry) {
            // Replace whatever is being called by the step.
            regs.set(Reg.SYSNR, step[0]);
            for (int i = 0; i < 4; i++) regs.set(Reg.arg(i), step[i + 1]);
            registerIo.writeIfModified(t.tid, regs);
            run.phase = Phase.AWAIT_EXIT;
            ptrace(Ptrace.SYSCALL, t.tid, 0);
            return true;
        }
        if (run.phase == Phase.AWAIT_EXIT) {
            long rc = regs.signed(Reg.RESULT);
            if (rc < 0 && rc > -4096) log.debug("tid {}: ending step {} failed: {}", t.tid, step[0], Errno.describe((int) -rc));
            run.step++;
            if (run.step == run.steps.size()) { // after tgkill: the signal is pending and unblocked
                run.phase = Phase.DYING;
                ptrace(Ptrace.CONT, t.tid, 0);
                return true;
            }
            step = run.steps.get(run.step);
        }
        // An exit stop: execute the syscall instruction again, to stop at its entry with the next step.
        regs.set(Reg.SYSNR_REEXEC, step[0]);
        regs.set(Reg.INSTRUCTION_POINTER, regs.get(Reg.INSTRUCTION_POINTER) - arch.syscallInsnLength(regs));
        registerIo.writeIfModified(t.tid, regs);
        run.phase = Phase.AWAIT_ENTRY;
        ptrace(Ptrace.SYSCALL, t.tid, 0);
        return true;
    }

    /** The host program changed files behind the tracer's back: nothing cached about the guest tree holds. */
    private static void forgetWhatTheHostMayHaveChanged(io.tether.daemon.guest.GuestView view) {
        view.fileAccess().invalidate(view.rootHostPath());
        for (io.tether.daemon.guest.Bind bind : view.binds()) view.fileAccess().invalidate(bind.hostPath());
    }

    /** The tracee is gone (exited, or killed by SIGKILL while its program ran): so is its host process. */
    void onGone(Tracee t) {
        Run run = runs.remove(t.tid);
        if (run == null) return;
        if (run.exit == null) {
            log.debug("tid {} gone: killing {}", t.tid, run.process.describe());
            run.process.signal(Ptrace.SIGKILL);
        }
    }

    /** Kills every host process still running (the executors are their creators' to close). */
    @Override
    public void close() {
        for (Run run : runs.values()) {
            if (run.exit == null) run.process.signal(Ptrace.SIGKILL);
        }
    }

    private static int syscallStopOp(int tid) throws ErrnoException {
        try (Memory m = new Memory(88)) {
            if (PtraceNative.ptrace(Ptrace.GET_SYSCALL_INFO, tid, 88, Pointer.nativeValue(m)) < 0) {
                throw new ErrnoException(PtraceNative.errno(), "PTRACE_GET_SYSCALL_INFO", "tid " + tid);
            }
            return m.getByte(0);
        }
    }

    private static void ptrace(int request, int tid, int sig) {
        if (PtraceNative.ptrace(request, tid, 0, sig) < 0) {
            int errno = PtraceNative.errno();
            if (errno != Errno.ESRCH) log.warn("ptrace({}) tid {}: {}", request, tid, Errno.describe(errno));
        }
    }

    private static long bit(int signo) {
        return 1L << (signo - 1);
    }
}
