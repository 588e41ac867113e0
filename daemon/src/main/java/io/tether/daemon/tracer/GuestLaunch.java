package io.tether.daemon.tracer;

import io.tether.daemon.guest.FileKind;
import io.tether.daemon.guest.GuestPaths;
import io.tether.daemon.guest.GuestView;
import io.tether.daemon.guest.ProcessIds;
import io.tether.daemon.guest.Resolved;
import io.tether.daemon.tracer.handler.ExecPlanner;
import io.tether.daemon.tracer.handler.Qemu;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.util.List;

/**
 * The first program of a traced tree, prepared as the tracer would translate its execve: the root's
 * own exec happens at the spawner's gate, before any filter exists, so its program, interpreters,
 * loader and cwd are resolved in the guest here. A bare command name is searched in the guest's PATH.
 */
public final class GuestLaunch {
    private static final String DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    /** Directories listed ahead at most: a PATH of dozens is not worth a burst of hundreds of listings. */
    private static final int MAX_LIST_AHEAD = 64;

    /**
     * What to hand posix_spawn: a host program, its argv, and a host cwd; {@code guestExe} goes to
     * {@link Tracer#rootExe(String)} (what /proc/self/exe shows when a guest loader runs the program);
     * {@code guestCwd} and {@code guestProgram} are canonical guest paths (where a kernel-rooted root
     * changes directory, and what it executes again there).
     */
    public record Launch(String hostProgram, List<String> argv, String hostCwd, String guestExe, String guestCwd, String guestProgram) {}

    private GuestLaunch() {}

    public static Launch prepare(GuestView view, String program, List<String> argv, List<String> env, String guestCwd)
            throws ErrnoException {
        return prepare(view, program, argv, env, guestCwd, null);
    }

    /** As {@link #prepare(GuestView, String, List, List, String)}; a foreign program starts under {@code qemu} if not null. */
    public static Launch prepare(GuestView view, String program, List<String> argv, List<String> env, String guestCwd,
                                 Qemu qemu) throws ErrnoException {
        if (view.fileAccess().wantsHooks()) view.fileAccess().listAhead(dirsToLookIn(view, program, env, guestCwd));
        Resolved cwd = view.resolve("/", guestCwd, true, ProcessIds.NONE);
        if (!cwd.exists()) throw new ErrnoException(Errno.ENOENT, "chdir", guestCwd);
        if (cwd.kind() != FileKind.DIRECTORY) throw new ErrnoException(Errno.ENOTDIR, "chdir", guestCwd);
        String guestProgram = program.contains("/") ? program : search(view, program, env, cwd.guestPath());
        Resolved resolved = view.resolve(cwd.guestPath(), guestProgram, true, ProcessIds.NONE);
        ExecPlanner.Plan<String> plan = ExecPlanner.plan(view.fileAccess(),
                p -> view.resolve(cwd.guestPath(), p, true, ProcessIds.NONE), guestProgram, resolved, argv, s -> s, qemu);
        return new Launch(plan.executable().hostPath(), plan.argv(), cwd.hostPath(), plan.guestExe(), cwd.guestPath(), resolved.guestPath());
    }

    /**
     * The directories resolving the cwd and searching the PATH look in (host paths, shallowest first): the
     * cwd's ancestors, and each PATH directory with its own. Taken literally, before any symlink is known:
     * a symlinked one is a listing asked for in vain, a few in a cold run, while the search that follows
     * waits for all the others at once instead of one after another.
     */
    static List<String> dirsToLookIn(GuestView view, String program, List<String> env, String guestCwd) {
        String cwd = GuestPaths.normalizeAbsolute(guestCwd.startsWith("/") ? guestCwd : "/" + guestCwd, "cwd");
        java.util.Set<String> guestDirs = new java.util.LinkedHashSet<>();
        addWithAncestors(guestDirs, cwd, false);
        if (!program.contains("/")) {
            for (String dir : searchPath(env).split(":", -1)) {
                String guest = dir.startsWith("/") ? dir : cwd + "/" + (dir.isEmpty() ? "." : dir);
                addWithAncestors(guestDirs, GuestPaths.normalizeAbsolute(guest, "PATH directory"), true);
            }
        }
        List<String> sorted = new java.util.ArrayList<>(guestDirs);
        sorted.sort(java.util.Comparator.comparingInt(d -> d.equals("/") ? 0 : d.split("/").length));
        if (sorted.size() > MAX_LIST_AHEAD) sorted = sorted.subList(0, MAX_LIST_AHEAD);
        return sorted.stream().map(view::toHost).toList();
    }

    private static void addWithAncestors(java.util.Set<String> into, String canonicalGuestDir, boolean itself) {
        if (itself) into.add(canonicalGuestDir);
        for (String d = canonicalGuestDir; !d.equals("/"); ) {
            int slash = d.lastIndexOf('/');
            d = slash == 0 ? "/" : d.substring(0, slash);
            into.add(d);
        }
    }

    private static String searchPath(List<String> env) {
        String path = DEFAULT_PATH;
        for (String e : env) {
            if (e.startsWith("PATH=")) path = e.substring(5);
        }
        return path;
    }

    private static String search(GuestView view, String name, List<String> env, String guestCwd) throws ErrnoException {
        for (String dir : searchPath(env).split(":", -1)) {
            String candidate = (dir.isEmpty() ? "." : dir) + "/" + name;
            try {
                Resolved r = view.resolve(guestCwd, candidate, true, ProcessIds.NONE);
                if (r.exists() && r.kind() == FileKind.REGULAR) return candidate;
            } catch (ErrnoException ignored) {
                // not in this directory
            }
        }
        throw new ErrnoException(Errno.ENOENT, "execvp", name);
    }
}
