package io.tether.client.control;

import io.tether.client.TetherException;
import io.tether.client.targets.Target;
import io.tether.posix.LibC;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.Set;

/**
 * Where control agents live: {@code $XDG_RUNTIME_DIR/tether}, else
 * {@code ~/.cache/tether/control}, mode 0700 (or {@code /tmp/tether-UID} if a socket path there
 * would be too long for a Unix socket). Per target (by {@link Target#controlKey()}):
 * {@code KEY.sock} (the socket), {@code KEY.lock} (held by the live agent), {@code KEY.log}.
 */
public record ControlPaths(Path dir, String key) {
    /** sun_path holds 108 bytes with the NUL, and the JDK accepts at most 106 (measured on 17). */
    private static final int MAX_SOCKET_PATH = 106;

    public static Path defaultDir(Map<String, String> env) {
        String runtime = env.get("XDG_RUNTIME_DIR");
        if (runtime != null && !runtime.isEmpty() && Files.isDirectory(Path.of(runtime))) {
            return Path.of(runtime, "tether");
        }
        return Path.of(System.getProperty("user.home"), ".cache", "tether", "control");
    }

    /**
     * The paths for {@code target} under {@code dir}, or under {@code /tmp/tether-UID} when a
     * socket there would not fit in sun_path (a deep $XDG_RUNTIME_DIR or home directory).
     */
    public static ControlPaths of(Path dir, Target target) {
        ControlPaths p = new ControlPaths(dir.toAbsolutePath(), target.controlKey());
        return p.fits() ? p : new ControlPaths(Path.of("/tmp", "tether-" + LibC.getuid()), target.controlKey());
    }

    private boolean fits() {
        return socket().toString().getBytes(StandardCharsets.UTF_8).length <= MAX_SOCKET_PATH;
    }

    public Path socket() { return dir.resolve(key + ".sock"); }

    public Path lock() { return dir.resolve(key + ".lock"); }

    public Path log() { return dir.resolve(key + ".log"); }

    /** True if no live process holds {@link #lock()} (the agent or door that owned it is gone). */
    public boolean lockIsFree() {
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(lock(),
                java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE)) {
            java.nio.channels.FileLock l = ch.tryLock();
            if (l == null) return false;
            l.release();
            return true;
        } catch (IOException | java.nio.channels.OverlappingFileLockException e) {
            return false;
        }
    }

    /** Creates the directory (0700) and checks the socket path fits in sun_path. */
    public void prepare() throws TetherException {
        try {
            Set<PosixFilePermission> owner = PosixFilePermissions.fromString("rwx------");
            if (!Files.isDirectory(dir)) {
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(owner));
            }
            // A shared parent (/tmp) could hold someone else's directory or a symlink: refuse both.
            if (Files.isSymbolicLink(dir) || !Integer.valueOf(LibC.getuid()).equals(Files.getAttribute(dir, "unix:uid", java.nio.file.LinkOption.NOFOLLOW_LINKS))) {
                throw new TetherException("control directory " + dir + " is not a directory of ours; remove it or run with --control no");
            }
            Files.setPosixFilePermissions(dir, owner);
        } catch (IOException | UnsupportedOperationException e) {
            throw new TetherException("cannot create the control directory " + dir + ": " + e.getMessage());
        }
        if (!fits()) {
            throw new TetherException("control socket path " + socket() + " is too long for a Unix socket; "
                    + "set XDG_RUNTIME_DIR to a short directory or run with --control no");
        }
    }
}
