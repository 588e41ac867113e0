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
 * when ROOTFS or a bind shows this directory (as written, or once symlinks are resolved; the longest
 * matching HOST wins), else "/". With --map-cmd (binfmt_misc handlers) it must be shown, and CMD, a
 * host path, is replaced by its guest path the same way.
 */
public final class GuestOptions {
    @Option(names = {"-r", "--rootfs"}, paramLabel = "ROOTFS",
            description = "run CMD under the tracer with ROOTFS (a directory on this machine; served to a remote target "
                    + "over the connection) as its /; "
                    + "-w then names a guest directory (default: this directory's place in ROOTFS or a bind, else /)")
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
                    + "(same pid, fds, signals, exit status), e.g. -b /usr/bin:/host/bin --host-exec '/host/bin/*'; repeatable; "
                    + "adds to the target's NAME.host-exec")
    List<String> hostExec = new ArrayList<>();

    @Option(names = "--map-cmd",
            description = "with -r: CMD is a host path (a binfmt_misc handler's program): run it at the guest path where "
                    + "ROOTFS or a bind shows it; this directory must be shown too (see 'tether binfmt')")
    boolean mapCmd;

    /** The working directory to request: {@code cwd} unchanged without -r or with -w, else its guest path. */
    String cwd(String cwd, boolean explicit) throws TetherException {
        if (rootfs == null || explicit) return cwd;
        String guest = guestPath(absolute(rootfs, cwd), hostBinds(cwd), cwd);
        if (guest != null) return guest;
        if (mapCmd) {
            throw new TetherException("the working directory " + cwd + " is not inside ROOTFS " + rootfs
                    + " or a bind (-b): the guest cannot see it");
        }
        return "/";
    }

    /** {@code spec} with the guest these options describe (unchanged without -r). */
    RunSpec apply(RunSpec spec) throws TetherException {
        return apply(spec, System.getProperty("user.dir"), List.of());
    }

    /**
     * As {@link #apply(RunSpec)} for a client whose real working directory is {@code base} (the front door's callers),
     * with the target's configured host-exec globs ({@code NAME.host-exec}, used only with -r) before --host-exec's.
     */
    RunSpec apply(RunSpec spec, String base, List<String> targetHostExec) throws TetherException {
        if (rootfs == null) {
            if (!binds.isEmpty() || noDefaultBinds || qemu != null || !hostExec.isEmpty() || mapCmd) {
                throw new TetherException("-b, -q, --host-exec, --map-cmd and --no-default-binds need -r ROOTFS");
            }
            return spec;
        }
        List<String> specs = new ArrayList<>();
        for (String[] b : hostBinds(base)) specs.add(b[0] + (b[1] == null ? "" : ":" + b[1]));
        if (mapCmd) {
            String program = mappedProgram(spec.executable(), base);
            if (spec.program() != null) {
                spec = spec.withProgram(program);
            } else {
                List<String> argv = new ArrayList<>(spec.argv());
                argv.set(0, program);
                spec = spec.withArgv(argv);
            }
        }
        List<String> globs = new ArrayList<>(targetHostExec);
        for (String g : hostExecGlobs()) if (!globs.contains(g)) globs.add(g);
        return spec.withGuest(new RunSpec.Guest(absolute(rootfs, base), specs, noDefaultBinds, qemuWords(), globs));
    }

    /**
     * --map-cmd: the program (the host path binfmt_misc passed) as a guest path. A relative one stays relative:
     * the guest cwd is this directory's guest path, so it names the same file ("prog" becomes "./prog", never a PATH search).
     */
    private String mappedProgram(String program, String base) throws TetherException {
        String guest;
        if (program.startsWith("/")) {
            guest = guestPath(absolute(rootfs, base), hostBinds(base), program);
            if (guest == null) {
                throw new TetherException(program + " is not inside ROOTFS " + rootfs + " or a bind (-b): the guest cannot see it");
            }
        } else {
            guest = program.contains("/") ? program : "./" + program;
        }
        return guest;
    }

    /** -b as {absolute HOST, GUEST or null for "the same path"}. */
    private List<String[]> hostBinds(String base) throws TetherException {
        List<String[]> result = new ArrayList<>();
        for (String b : binds) {
            int colon = b.indexOf(':');
            String host = colon < 0 ? b : b.substring(0, colon);
            if (host.isEmpty()) throw new TetherException("bad bind '" + b + "': want HOST[:GUEST]");
            result.add(new String[] {absolute(host, base), colon < 0 ? null : b.substring(colon + 1)});
        }
        return result;
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

    /** The guest path of {@code clientCwd} in {@code rootfs} (no binds); "/" if it lies outside. */
    static String guestCwd(String rootfs, String clientCwd) {
        String inside = guestPath(rootfs, List.of(), clientCwd);
        return inside == null ? "/" : inside;
    }

    /**
     * The guest path at which {@code rootfs} or one of {@code binds} ({absolute HOST, GUEST or null}) shows the host
     * path {@code host}, the longest matching HOST winning: compared as written first, then with symlinks resolved on
     * this machine (the same machine as the target's for {@code local}); null if none shows it.
     */
    static String guestPath(String rootfs, List<String[]> binds, String host) {
        String inside = longestMatch(rootfs, binds, host, false);
        return inside != null ? inside : longestMatch(rootfs, binds, host, true);
    }

    private static String longestMatch(String rootfs, List<String[]> binds, String host, boolean real) {
        Path dir = path(host, real);
        if (dir == null) return null;
        Path bestRoot = null;
        String bestGuest = null;
        List<String[]> all = new ArrayList<>(binds);
        all.add(0, new String[] {rootfs, "/"});
        for (String[] b : all) {
            Path root = path(b[0], real);
            if (root == null || !dir.startsWith(root) || (bestRoot != null && bestRoot.getNameCount() >= root.getNameCount())) continue;
            bestRoot = root;
            bestGuest = b[1] == null ? b[0] : b[1];
        }
        if (bestRoot == null) return null;
        String rest = bestRoot.relativize(dir).toString();
        if (rest.isEmpty()) return bestGuest;
        return bestGuest.endsWith("/") ? bestGuest + rest : bestGuest + "/" + rest;
    }

    private static Path path(String p, boolean real) {
        try {
            return real ? Path.of(p).toRealPath() : Path.of(p).normalize();
        } catch (IOException | RuntimeException e) {
            return null; // not on this machine: only the written paths count
        }
    }
}
