package io.tether.daemon.tracer.arch;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * The general registers of one stopped tracee, as two copies: the ORIGINAL ones read at the stop,
 * and the CURRENT ones the tracer may modify and write back. Values are zero-extended words;
 * {@link #signed(Reg)} sign-extends (syscall results, -1 numbers). Little-endian, as on every
 * architecture in {@link Arches}.
 */
public final class Registers {
    private final Arch arch;
    private final byte[] original;
    private final byte[] current;
    private final ByteBuffer originalView;
    private final ByteBuffer currentView;
    private boolean sysnrChanged;

    public Registers(Arch arch) {
        this.arch = arch;
        this.original = new byte[arch.regsetSize()];
        this.current = new byte[arch.regsetSize()];
        this.originalView = ByteBuffer.wrap(original).order(ByteOrder.LITTLE_ENDIAN);
        this.currentView = ByteBuffer.wrap(current).order(ByteOrder.LITTLE_ENDIAN);
    }

    public Arch arch() {
        return arch;
    }

    /** Loads freshly read registers: both copies become these bytes. */
    public void load(byte[] raw) {
        System.arraycopy(raw, 0, original, 0, original.length);
        System.arraycopy(raw, 0, current, 0, current.length);
        sysnrChanged = false;
    }

    /** The raw current copy (what a SETREGSET writes back). */
    public byte[] currentBytes() {
        return current;
    }

    /** A snapshot of the current registers, for restoring them later. */
    public byte[] snapshot() {
        return current.clone();
    }

    /** Replaces the current copy by a snapshot. */
    public void restore(byte[] snapshot) {
        System.arraycopy(snapshot, 0, current, 0, current.length);
        sysnrChanged = true;
    }

    public boolean modified() {
        return sysnrChanged || !Arrays.equals(original, current);
    }

    /** Whether the syscall number was changed, which some architectures write separately. */
    public boolean sysnrChanged() {
        return sysnrChanged;
    }

    public long get(Reg reg) {
        return read(currentView, arch.offset(reg));
    }

    public long original(Reg reg) {
        return read(originalView, arch.offset(reg));
    }

    public long signed(Reg reg) {
        long v = get(reg);
        return arch.wordSize() == 4 ? (int) v : v;
    }

    public int sysnr() {
        return (int) get(Reg.SYSNR);
    }

    public void set(Reg reg, long value) {
        int offset = arch.offset(reg);
        if (arch.wordSize() == 8) currentView.putLong(offset, value);
        else currentView.putInt(offset, (int) value);
        if (reg == Reg.SYSNR) sysnrChanged = true;
    }

    /** A word of the current copy by byte offset (for arch-specific flags such as arm's cpsr). */
    long word(int offset) {
        return read(currentView, offset);
    }

    private long read(ByteBuffer view, int offset) {
        return arch.wordSize() == 8 ? view.getLong(offset) : Integer.toUnsignedLong(view.getInt(offset));
    }
}
