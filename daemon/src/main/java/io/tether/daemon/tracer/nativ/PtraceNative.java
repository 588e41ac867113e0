package io.tether.daemon.tracer.nativ;

import com.sun.jna.Native;
import com.sun.jna.Platform;
import io.tether.posix.NativeWord;

/**
 * Raw C library bindings the tracer needs, by JNA direct mapping (about 0.2 us a call). Pointers are
 * {@code long} addresses; results are the C results, errno through {@link #errno()}. Only the
 * tracer thread calls {@link #ptrace} and {@link #waitpid}: ptrace requests must come from the
 * thread that attached the tracee. The calls with C words have a 32-bit twin ({@link NativeWord}).
 */
public final class PtraceNative {
    static {
        Native.register(PtraceNative.class, Platform.C_LIBRARY_NAME);
    }

    private PtraceNative() {}

    /** glibc's ptrace(2) wrapper; every request the tracer uses passes addr and data through. */
    public static long ptrace(long request, int pid, long addr, long data) {
        return NativeWord.LP64 ? Lp64.ptrace(request, pid, addr, data) : Ilp32.ptrace((int) request, pid, (int) addr, (int) data);
    }

    public static native int waitpid(int pid, int[] status, int options);

    public static long process_vm_readv(int pid, long localIov, long localCount, long remoteIov, long remoteCount, long flags) {
        return NativeWord.LP64 ? Lp64.process_vm_readv(pid, localIov, localCount, remoteIov, remoteCount, flags)
                : Ilp32.process_vm_readv(pid, (int) localIov, (int) localCount, (int) remoteIov, (int) remoteCount, (int) flags);
    }

    public static long process_vm_writev(int pid, long localIov, long localCount, long remoteIov, long remoteCount, long flags) {
        return NativeWord.LP64 ? Lp64.process_vm_writev(pid, localIov, localCount, remoteIov, remoteCount, flags)
                : Ilp32.process_vm_writev(pid, (int) localIov, (int) localCount, (int) remoteIov, (int) remoteCount, (int) flags);
    }

    public static native int kill(int pid, int sig);

    /** glibc's syscall(2) with three arguments (pidfd_open and pidfd_getfd, which older glibc lacks). */
    public static long syscall(long number, long a1, long a2, long a3) {
        return NativeWord.LP64 ? Lp64.syscall(number, a1, a2, a3) : Ilp32.syscall((int) number, (int) a1, (int) a2, (int) a3);
    }

    public static native int getsockopt(int fd, int level, int name, int[] value, int[] length);

    public static native int close(int fd);

    /** Syscall numbers from the unified table (424 and up are the same on every architecture). */
    public static final int SYS_PIDFD_OPEN = 434, SYS_PIDFD_GETFD = 438;
    /** SOL_SOCKET and SO_DOMAIN as on x86_64, aarch64 and arm (asm-generic/socket.h; mips, sparc, parisc differ). */
    public static final int SOL_SOCKET = 1, SO_DOMAIN = 39;

    private static final class Lp64 {
        static {
            Native.register(Lp64.class, Platform.C_LIBRARY_NAME);
        }

        static native long ptrace(long request, int pid, long addr, long data);
        static native long process_vm_readv(int pid, long localIov, long localCount, long remoteIov, long remoteCount, long flags);
        static native long process_vm_writev(int pid, long localIov, long localCount, long remoteIov, long remoteCount, long flags);
        static native long syscall(long number, long a1, long a2, long a3);
    }

    private static final class Ilp32 {
        static {
            Native.register(Ilp32.class, Platform.C_LIBRARY_NAME);
        }

        static native int ptrace(int request, int pid, int addr, int data);
        static native int process_vm_readv(int pid, int localIov, int localCount, int remoteIov, int remoteCount, int flags);
        static native int process_vm_writev(int pid, int localIov, int localCount, int remoteIov, int remoteCount, int flags);
        static native int syscall(int number, int a1, int a2, int a3);
    }

    public static int errno() {
        return Native.getLastError();
    }
}
