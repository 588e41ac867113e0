package io.tether.daemon.tracer.nativ;

import com.sun.jna.Native;
import com.sun.jna.Platform;

/**
 * Raw C library bindings the tracer needs, by JNA direct mapping (about 0.2 us a call). Pointers are
 * {@code long} addresses; results are the C results, errno through {@link #errno()}. Only the
 * tracer thread calls {@link #ptrace} and {@link #waitpid}: ptrace requests must come from the
 * thread that attached the tracee.
 */
public final class PtraceNative {
    static {
        Native.register(PtraceNative.class, Platform.C_LIBRARY_NAME);
    }

    private PtraceNative() {}

    /** glibc's ptrace(2) wrapper; every request the tracer uses passes addr and data through. */
    public static native long ptrace(long request, int pid, long addr, long data);

    public static native int waitpid(int pid, int[] status, int options);

    public static native long process_vm_readv(int pid, long localIov, long localCount, long remoteIov,
                                               long remoteCount, long flags);

    public static native long process_vm_writev(int pid, long localIov, long localCount, long remoteIov,
                                                long remoteCount, long flags);

    public static native int kill(int pid, int sig);

    public static int errno() {
        return Native.getLastError();
    }
}
