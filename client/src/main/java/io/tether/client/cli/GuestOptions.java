package io.tether.client.cli;

import io.tether.client.TetherException;
import io.tether.client.session.RunSpec;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code tether run -r ROOTFS [-b HOST[:GUEST]]... [--no-default-binds] [-q QEMU]}: run the command under the
 * daemon's tracer with ROOTFS as its "/" (a picocli mixin of {@link RunCommand}), foreign binaries under QEMU. ROOTFS and the HOST
 * sides of binds are paths on this machine, relative ones taken from this directory: for target {@code local} the daemon
 * opens them itself; for any other target this client serves them to the daemon over the connection ("No NFS",
 * io.tether.client.files), and the device holds only its cache.
 *
 * <p>Working directory under -r: -w names a guest path. Without -w it is this directory's guest path
 * when this directory lies inside ROOTFS (as written, or once symlinks are resolved), else "/".
 */
public final class GuestOptions {
    @Option(names = {"-r", "--rootfs"}, paramLabel = "ROOTFS",
            description = "run CMD under the tracer with ROOTFS (a directory on this machine; served to a remote target "
                    + "over the connection) as its /; "
                    + "-w then names a guest directory (default: this directory's place in ROOTFS, else /)")
    String rootfs;

    @Option(names = {"-b", "--bind"}, paramLabel = "HOST[:GUEST]",
            description = "with -r: make HOST (a directory or file on this machine) visible at guest path GUEST "
                    + "(default: the same path); repeatable")
    List<String> binds = new ArrayList<>();

    @Option(names = "--no-default-binds", description = "with -r: do not bind the target's /dev, /proc and /sys")
    boolean noDefaultBinds;

    @Option(names = {"-q", "--qemu"}, paramLabel = "QEMU",
            description = "with -r: run programs built for another CPU (an aarch64 ROOTFS on an x86_64 target) under this "
                    + "qemu-user, traced like the rest: a statically linked target program and its options, "
                    + "e.g. qemu-aarch64-static or \"qemu-aarch64-static -cpu max\"; programs of the target's own CPU still run natively")
    String qemu;

    @Option(names = "--host-exec", paramLabel = "GLOB",
            description = "with -r: run the guest programs whose guest path matches GLOB (absolute; * within a path "
                    + "component, ** across) on the host, as if they were local children of the target program "
                    + "(same pid, fds, signals, exit status), e.g. -b /usr/bin:/host/bin --host-exec '/host/bin/*'; repeatable")
    List<String> hostExec = new ArrayList<>();

    /** The working directory to request: {@code cwd} unchanged without -r or with -w, else its guest path. */
    String cwd(String cwd, boolean explicit) throws TetherException {
        if (rootfs == null || explicit) return cwd;
        return guestCwd(absolute(rootfs, cwd), cwd);
    }

    /** {@code spec} with the guest these options describe (unchanged without -r). */
    RunSpec apply(RunSpec spec) throws TetherException {
        return apply(spec, System.getProperty("user.dir"));
    }

    /** As {@link #apply(RunSpec)} for a client whose real working directory is {@code base} (the front door's callers). */
    RunSpec apply(RunSpec spec, String base) throws TetherException {
        if (rootfs == null) {
            if (!binds.isEmpty() || noDefaultBinds || qemu != null || !hostExec.isEmpty()) {
                throw new TetherException("-b, -q, --host-exec and --no-default-binds need -r ROOTFS");
            }
            return spec;
        }
        List<String> specs = new ArrayList<>();
        for (String b : binds) {
            int colon = b.indexOf(':');
            String host = colon < 0 ? b : b.substring(0, colon);
            if (host.isEmpty()) throw new TetherException("bad bind '" + b + "': want HOST[:GUEST]");
            specs.add(absolute(host, base) + (colon < 0 ? "" : b.substring(colon)));
        }
        return spec.withGuest(new RunSpec.Guest(absolute(rootfs, base), specs, noDefaultBinds, qemuWords(), hostExecGlobs()));
    }

    /** --host-exec, each an absolute guest path glob. */
    private List<String> hostExecGlobs() throws TetherException {
        for (String g : hostExec) {
            if (!g.startsWith("/")) throw new TetherException("--host-exec " + g + ": want an absolute guest path glob, e.g. '/host/bin/*'");
        }
        return hostExec;
    }

    /** -q split into the program and its options (words separated by blanks; no quoting). */
    private List<String> qemuWords() throws TetherException {
        if (qemu == null) return List.of();
        String trimmed = qemu.strip();
        if (trimmed.isEmpty()) throw new TetherException("-q needs a qemu-user program, e.g. qemu-aarch64-static");
        return List.of(trimmed.split("\\s+"));
    }

    private static String absolute(String path, String base) throws TetherException {
        if (path.isEmpty()) throw new TetherException("-r needs a directory");
        return Path.of(base).resolve(path).normalize().toString();
    }

    /**
     * The guest path of {@code clientCwd} in {@code rootfs}: compared as written first, then with
     * symlinks resolved on this machine (the same machine as the target's for {@code local}); "/" if
     * it lies outside.
     */
    static String guestCwd(String rootfs, String clientCwd) {
        String inside = below(Path.of(rootfs).normalize(), Path.of(clientCwd).normalize());
        if (inside != null) return inside;
        try {
            inside = below(Path.of(rootfs).toRealPath(), Path.of(clientCwd).toRealPath());
        } catch (IOException | RuntimeException e) {
            inside = null; // not on this machine: only the written paths count
        }
        return inside == null ? "/" : inside;
    }

    private static String below(Path root, Path dir) {
        if (!dir.startsWith(root)) return null;
        return "/" + root.relativize(dir).toString();
    }
}
