package io.tether.client.cli;

import io.tether.client.TetherException;
import io.tether.client.session.RunSpec;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code tether run -r ROOTFS [-b HOST[:GUEST]]... [--no-default-binds]}: run the command under the
 * daemon's tracer with ROOTFS as its "/" (a picocli mixin of {@link RunCommand}). ROOTFS and the HOST
 * sides of binds are paths on the target's machine; relative ones are taken from this directory.
 *
 * <p>Working directory under -r: -w names a guest path. Without -w it is this directory's guest path
 * when this directory lies inside ROOTFS (as written, or once symlinks are resolved), else "/".
 */
public final class GuestOptions {
    @Option(names = {"-r", "--rootfs"}, paramLabel = "ROOTFS",
            description = "run CMD under the tracer with ROOTFS (a directory on the target) as its /; "
                    + "-w then names a guest directory (default: this directory's place in ROOTFS, else /)")
    String rootfs;

    @Option(names = {"-b", "--bind"}, paramLabel = "HOST[:GUEST]",
            description = "with -r: make target path HOST visible at guest path GUEST (default: the same path); repeatable")
    List<String> binds = new ArrayList<>();

    @Option(names = "--no-default-binds", description = "with -r: do not bind the target's /dev, /proc and /sys")
    boolean noDefaultBinds;

    /** The working directory to request: {@code cwd} unchanged without -r or with -w, else its guest path. */
    String cwd(String cwd, boolean explicit) throws TetherException {
        if (rootfs == null || explicit) return cwd;
        return guestCwd(absolute(rootfs, cwd), cwd);
    }

    /** {@code spec} with the guest these options describe (unchanged without -r). */
    RunSpec apply(RunSpec spec) throws TetherException {
        if (rootfs == null) {
            if (!binds.isEmpty() || noDefaultBinds) throw new TetherException("-b and --no-default-binds need -r ROOTFS");
            return spec;
        }
        String base = System.getProperty("user.dir");
        List<String> specs = new ArrayList<>();
        for (String b : binds) {
            int colon = b.indexOf(':');
            String host = colon < 0 ? b : b.substring(0, colon);
            if (host.isEmpty()) throw new TetherException("bad bind '" + b + "': want HOST[:GUEST]");
            specs.add(absolute(host, base) + (colon < 0 ? "" : b.substring(colon)));
        }
        return spec.withGuest(new RunSpec.Guest(absolute(rootfs, base), specs, noDefaultBinds));
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
