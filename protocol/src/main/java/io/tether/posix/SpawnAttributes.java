package io.tether.posix;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;

/** A posix_spawnattr_t: flags, signal mask and dispositions, process group of the child. */
public final class SpawnAttributes implements AutoCloseable {
    private final Memory memory = new Memory(LibC.SPAWNATTR_SIZE);
    private final Memory mask = new Memory(LibC.SIGSET_SIZE);
    private final Memory defaults = new Memory(LibC.SIGSET_SIZE);
    private boolean closed;

    public SpawnAttributes() throws ErrnoException {
        memory.clear();
        LibC.check(NativeLibC.posix_spawnattr_init(memory), "posix_spawnattr_init");
    }

    Pointer pointer() { return memory; }

    public SpawnAttributes flags(short flags) throws ErrnoException {
        LibC.check(NativeLibC.posix_spawnattr_setflags(memory, flags), "posix_spawnattr_setflags");
        return this;
    }

    /** Nothing blocked in the child (needs POSIX_SPAWN_SETSIGMASK). */
    public SpawnAttributes emptySignalMask() throws ErrnoException {
        LibC.check(NativeLibC.sigemptyset(mask), "sigemptyset");
        LibC.check(NativeLibC.posix_spawnattr_setsigmask(memory, mask), "posix_spawnattr_setsigmask");
        return this;
    }

    /** Every signal back to SIG_DFL in the child (needs POSIX_SPAWN_SETSIGDEF). */
    public SpawnAttributes defaultAllSignals() throws ErrnoException {
        LibC.check(NativeLibC.sigfillset(defaults), "sigfillset");
        LibC.check(NativeLibC.posix_spawnattr_setsigdefault(memory, defaults), "posix_spawnattr_setsigdefault");
        return this;
    }

    /** Process group for the child (needs POSIX_SPAWN_SETPGROUP); 0 = its own pid. */
    public SpawnAttributes processGroup(int pgroup) throws ErrnoException {
        LibC.check(NativeLibC.posix_spawnattr_setpgroup(memory, pgroup), "posix_spawnattr_setpgroup");
        return this;
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        NativeLibC.posix_spawnattr_destroy(memory);
        memory.close();
        mask.close();
        defaults.close();
    }
}
