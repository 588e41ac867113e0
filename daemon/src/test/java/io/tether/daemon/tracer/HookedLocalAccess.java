package io.tether.daemon.tracer;

import io.tether.daemon.guest.FileKind;
import io.tether.daemon.guest.GuestFileAccess;
import io.tether.daemon.guest.LocalFileAccess;
import io.tether.posix.ErrnoException;

/**
 * Local files behind an access that wants hooks and calls every tree whole: a mirror's shape for the tracer (its
 * runs may be kernel-rooted, its opens, execs and changes stop), without a mirror. Tests override the hooks.
 */
public class HookedLocalAccess implements GuestFileAccess {
    @Override public FileKind kind(String hostPath) throws ErrnoException { return LocalFileAccess.INSTANCE.kind(hostPath); }
    @Override public String readlink(String hostPath) throws ErrnoException { return LocalFileAccess.INSTANCE.readlink(hostPath); }
    @Override public byte[] read(String hostPath, long offset, int length) throws ErrnoException {
        return LocalFileAccess.INSTANCE.read(hostPath, offset, length);
    }
    @Override public void createDirectories(String hostPath) throws ErrnoException { LocalFileAccess.INSTANCE.createDirectories(hostPath); }
    @Override public boolean wantsHooks() { return true; }
    @Override public boolean wholeUnder(String hostDir) { return true; }
}
