package io.tether.daemon.tracer;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import io.tether.daemon.tracer.arch.Arch;
import io.tether.daemon.tracer.arch.Reg;
import io.tether.daemon.tracer.arch.Registers;
import io.tether.daemon.tracer.nativ.Ptrace;
import io.tether.daemon.tracer.nativ.PtraceNative;
import io.tether.posix.ErrnoException;
import io.tether.posix.NativeWord;

/** Reads and writes a stopped tracee's registers with PTRACE_GETREGSET/SETREGSET; tracer thread only. */
final class RegisterIo {
    private final Arch arch;
    private final Memory iov = new Memory(16);
    private final Memory regs;
    private final byte[] raw;

    RegisterIo(Arch arch) {
        this.arch = arch;
        this.regs = new Memory(Math.max(arch.regsetSize(), 16));
        this.raw = new byte[arch.regsetSize()];
    }

    void read(int tid, Registers into) throws ErrnoException {
        NativeWord.iovec(iov, 0, Pointer.nativeValue(regs), arch.regsetSize());
        if (PtraceNative.ptrace(Ptrace.GETREGSET, tid, Ptrace.NT_PRSTATUS, Pointer.nativeValue(iov)) < 0) {
            throw new ErrnoException(PtraceNative.errno(), "PTRACE_GETREGSET", "tid " + tid);
        }
        regs.read(0, raw, 0, raw.length);
        into.load(raw);
    }

    /** Writes the registers back if they changed, the syscall number the arch's own way. */
    void writeIfModified(int tid, Registers from) throws ErrnoException {
        if (!from.modified()) return;
        regs.write(0, from.currentBytes(), 0, arch.regsetSize());
        NativeWord.iovec(iov, 0, Pointer.nativeValue(regs), arch.regsetSize());
        if (PtraceNative.ptrace(Ptrace.SETREGSET, tid, Ptrace.NT_PRSTATUS, Pointer.nativeValue(iov)) < 0) {
            throw new ErrnoException(PtraceNative.errno(), "PTRACE_SETREGSET", "tid " + tid);
        }
        if (!from.sysnrChanged()) return;
        int nr = (int) from.get(Reg.SYSNR);
        switch (arch.sysnrWrite()) {
            case IN_REGISTERS:
                break;
            case ARM_SYSTEM_CALL_REGSET:
                regs.setInt(0, nr);
                NativeWord.iovec(iov, 0, Pointer.nativeValue(regs), 4);
                if (PtraceNative.ptrace(Ptrace.SETREGSET, tid, Ptrace.NT_ARM_SYSTEM_CALL, Pointer.nativeValue(iov)) < 0) {
                    throw new ErrnoException(PtraceNative.errno(), "PTRACE_SETREGSET NT_ARM_SYSTEM_CALL", "tid " + tid);
                }
                break;
            case PTRACE_SET_SYSCALL:
                if (PtraceNative.ptrace(Ptrace.SET_SYSCALL_ARM, tid, 0, nr) < 0) {
                    throw new ErrnoException(PtraceNative.errno(), "PTRACE_SET_SYSCALL", "tid " + tid);
                }
                break;
            default:
                throw new IllegalStateException(arch.sysnrWrite().toString());
        }
    }
}
