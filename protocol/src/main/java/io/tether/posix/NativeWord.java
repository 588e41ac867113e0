package io.tether.posix;

import com.sun.jna.Native;
import com.sun.jna.Pointer;

/**
 * The C word (long, size_t, a pointer) of this JVM's platform: 8 bytes on x86_64 and aarch64, 4 on
 * 32-bit ARM. A direct-mapped Java {@code long} is always an int64 to libffi, which a 32-bit ABI passes
 * in a register pair (ARM EABI: an even pair, skipping a register), so bindings whose C arguments or
 * result are words have an int-typed twin that a 32-bit JVM calls instead ({@link #LP64} is a constant,
 * so the other branch costs nothing). Structs of words (iovec, msghdr) are laid out with these helpers.
 */
public final class NativeWord {
    /** Bytes in a C long and a pointer on this platform. */
    public static final int SIZE = Native.POINTER_SIZE;
    /** Whether C longs and pointers are 64 bits (x86_64, aarch64) rather than 32 (arm). */
    public static final boolean LP64 = SIZE == 8;

    private NativeWord() {}

    /** Stores a word of this platform at {@code offset}. */
    public static void put(Pointer p, long offset, long value) {
        put(p, offset, value, SIZE);
    }

    /** Reads a word of this platform at {@code offset}, zero-extended. */
    public static long get(Pointer p, long offset) {
        return get(p, offset, SIZE);
    }

    static void put(Pointer p, long offset, long value, int size) {
        if (size == 8) p.setLong(offset, value);
        else p.setInt(offset, (int) value);
    }

    static long get(Pointer p, long offset, int size) {
        return size == 8 ? p.getLong(offset) : Integer.toUnsignedLong(p.getInt(offset));
    }

    /** Stores {@code struct iovec} number {@code index} of an array at {@code p}: {base, length}. */
    public static void iovec(Pointer p, int index, long base, long length) {
        iovec(p, index, base, length, SIZE);
    }

    static void iovec(Pointer p, int index, long base, long length, int size) {
        put(p, 2L * size * index, base, size);
        put(p, 2L * size * index + size, length, size);
    }
}
