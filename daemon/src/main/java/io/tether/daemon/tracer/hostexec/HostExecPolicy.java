package io.tether.daemon.tracer.hostexec;

import java.nio.file.FileSystems;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.List;

/**
 * Which guest execs run on the host (issue 5): off unless enabled. When enabled, an exec goes to the
 * host if its guest path matches one of the {@code --host-exec} globs, or if the program is an ELF of
 * the host's machine while the target's machine differs. Everything else runs on the target.
 *
 * <p>Globs are absolute guest paths in java.nio glob syntax: {@code *} and {@code ?} stay within one
 * path component, {@code **} crosses components, {@code [abc]} and {@code {a,b}} as usual. They are
 * matched against the guest path as the program named it (made absolute against its cwd) and against
 * that path with its directories' symlinks resolved, never against where a final symlink points.
 */
public final class HostExecPolicy {
    private static final HostExecPolicy OFF = new HostExecPolicy(false, List.of(), ElfMachine.NONE, ElfMachine.NONE);

    private final boolean enabled;
    private final List<String> globs;
    private final List<PathMatcher> matchers;
    private final int hostMachine;
    private final int targetMachine;

    /** The outcome for one exec, with the reason logged for a host exec. */
    public record Route(boolean onHost, String why) {
        static final Route TARGET = new Route(false, "");
    }

    private HostExecPolicy(boolean enabled, List<String> globs, int hostMachine, int targetMachine) {
        this.enabled = enabled;
        this.globs = List.copyOf(globs);
        List<PathMatcher> m = new ArrayList<>();
        for (String g : globs) m.add(FileSystems.getDefault().getPathMatcher("glob:" + g));
        this.matchers = List.copyOf(m);
        this.hostMachine = hostMachine;
        this.targetMachine = targetMachine;
    }

    public static HostExecPolicy off() {
        return OFF;
    }

    /**
     * Host execution enabled, with these guest path globs.
     *
     * @param hostMachine   e_machine of the host (the client's machine), or {@link ElfMachine#NONE} if unknown
     * @param targetMachine e_machine of the target's programs (this daemon's machine; {@link ElfMachine#NONE} under
     *                      -q, whose programs are qemu's machine's: foreign to the host)
     * @throws IllegalArgumentException for a glob that is not an absolute guest path or not a valid glob
     */
    public static HostExecPolicy of(List<String> globs, int hostMachine, int targetMachine) {
        for (String g : globs) {
            if (!g.startsWith("/")) throw new IllegalArgumentException("--host-exec " + g + ": not an absolute guest path glob");
        }
        try {
            return new HostExecPolicy(true, globs, hostMachine, targetMachine);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("--host-exec: " + e.getMessage(), e);
        }
    }

    public boolean enabled() {
        return enabled;
    }

    public List<String> globs() {
        return globs;
    }

    /**
     * Where one exec runs.
     *
     * @param guestPaths  the guest paths naming the program (as named, made absolute; and canonical)
     * @param elfMachine  e_machine of the program ({@link ElfMachine#of}), {@link ElfMachine#NONE} for no ELF
     */
    public Route route(List<String> guestPaths, int elfMachine) {
        if (!enabled) return Route.TARGET;
        for (String guestPath : guestPaths) {
            if (guestPath == null || !guestPath.startsWith("/")) continue;
            Path p = Path.of(guestPath);
            for (int i = 0; i < matchers.size(); i++) {
                if (matchers.get(i).matches(p)) return new Route(true, "matches --host-exec " + globs.get(i));
            }
        }
        if (elfMachine != ElfMachine.NONE && hostMachine != ElfMachine.NONE && hostMachine != targetMachine
                && elfMachine == hostMachine) {
            return new Route(true, "an ELF of the host's machine (" + elfMachine + ")");
        }
        return Route.TARGET;
    }

    @Override
    public String toString() {
        return enabled ? "host exec " + globs + (hostMachine != targetMachine ? " or ELF machine " + hostMachine : "") : "host exec off";
    }
}
