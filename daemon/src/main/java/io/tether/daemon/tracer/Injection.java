package io.tether.daemon.tracer;

import io.tether.daemon.tracer.arch.Sys;
import io.tether.posix.Errno;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Syscalls the tracer makes the first tracee issue before its own first one (PRoot's chain.c method,
 * NOTES.md): at that entry stop the registers are saved and the number and arguments replaced; at each
 * exit stop the result is checked and the syscall instruction rewound for the next call; after the last
 * the saved registers are restored and rewound, so the tracee's own call runs again. Data the calls
 * point to (strings, the filter) is written below the stack's red zone in one write.
 */
final class Injection {
    /** What a failed call leaves: a tracee that may still run as it was (fall back), or one that must die. */
    enum OnFailure { FALL_BACK, KILL }

    /** One injected syscall; {@code args} are raw words (addresses already placed). */
    record Call(Sys sys, long[] args, OnFailure onFailure, String what) {
        String describe(long result) {
            return what + ": " + Errno.describe((int) -result);
        }
    }

    enum Phase {
        /** Waiting for the tracee's first syscall-entry stop (its exec's exit stop comes first). */
        AWAIT_FIRST_ENTRY,
        /** A rewound call is about to enter. */
        AWAIT_ENTRY,
        AWAIT_EXIT
    }

    private List<Call> calls = List.of();
    private int next;
    Phase phase = Phase.AWAIT_FIRST_ENTRY;

    /** Starts over with {@code calls} (the first one, or the rest after a fall-back). */
    void plan(List<Call> planned) {
        this.calls = List.copyOf(planned);
        this.next = 0;
    }

    /** The call whose exit stop comes next, after {@link #advance()}. */
    Call current() {
        return calls.get(next - 1);
    }

    /** Whether the call in progress is the execve that ends a kernel-rooted set-up (its exec event is next). */
    boolean reexecuting() {
        return phase == Phase.AWAIT_EXIT && next > 0 && current().sys() == Sys.EXECVE;
    }

    /** The next call to issue, or null when all have run. */
    Call advance() {
        return next < calls.size() ? calls.get(next++) : null;
    }

    /** Bytes to place below a stack in one write, each piece 16-byte aligned at a known offset. */
    static final class Blob {
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        private final List<Integer> offsets = new ArrayList<>();

        /** Appends {@code data}; returns its index for {@link #address}. */
        int add(byte[] data) {
            while (bytes.size() % 16 != 0) bytes.write(0);
            offsets.add(bytes.size());
            bytes.writeBytes(data);
            return offsets.size() - 1;
        }

        /** Appends a NUL-terminated byte string (one char per byte). */
        int addString(String s) {
            byte[] b = new byte[s.length() + 1];
            for (int i = 0; i < s.length(); i++) b[i] = (byte) s.charAt(i);
            return add(b);
        }

        /**
         * Appends the strings, then a NULL-terminated array of pointers to them (argv, envp): returns the
         * array's index; its pointers are filled in by {@link #toBytes(long)}.
         */
        int addPointers(List<String> strings, int wordSize) {
            int[] at = new int[strings.size()];
            for (int i = 0; i < at.length; i++) at[i] = addString(strings.get(i));
            int array = add(new byte[(at.length + 1) * wordSize]);
            pointerArrays.add(new int[][] {{array, wordSize}, at});
            return array;
        }

        private final List<int[][]> pointerArrays = new ArrayList<>();

        /** The address the blob starts at, below {@code limit} (the stack pointer less its red zone). */
        long base(long limit) {
            return (limit - bytes.size()) & -16L;
        }

        long address(long base, int index) {
            return base + offsets.get(index);
        }

        /** Overwrites piece {@code index} (same length) once its contents depend on the addresses. */
        void patch(int index, byte[] data) {
            patched.add(new Object[] {offsets.get(index), data});
        }

        private final List<Object[]> patched = new ArrayList<>();

        byte[] toBytes(long base) {
            for (int[][] a : pointerArrays) {
                int wordSize = a[0][1];
                java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate((a[1].length + 1) * wordSize).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                for (int piece : a[1]) {
                    if (wordSize == 8) b.putLong(address(base, piece));
                    else b.putInt((int) address(base, piece));
                }
                patch(a[0][0], b.array());
            }
            byte[] all = bytes.toByteArray();
            for (Object[] p : patched) {
                byte[] data = (byte[]) p[1];
                System.arraycopy(data, 0, all, (Integer) p[0], data.length);
            }
            return all;
        }
    }
}
