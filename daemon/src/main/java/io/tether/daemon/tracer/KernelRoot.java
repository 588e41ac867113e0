package io.tether.daemon.tracer;

import io.tether.daemon.guest.Bind;
import io.tether.daemon.guest.FileKind;
import io.tether.daemon.guest.GuestFileAccess;
import io.tether.daemon.guest.GuestPaths;
import io.tether.daemon.guest.GuestView;
import io.tether.daemon.guest.LocalFileAccess;
import io.tether.daemon.tracer.arch.Sys;
import io.tether.daemon.tracer.handler.Handlers;
import io.tether.daemon.tracer.hostexec.HostExecHandler;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.posix.LibC;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A kernel-rooted run: the tracee is chrooted into the guest root's host directory, in a private mount
 * namespace with each bind mounted at its guest path, so the kernel resolves guest paths itself and
 * only the calls the daemon must see stop ({@link Handlers#trappedWhenKernelRooted}). Decided once per
 * run ({@link #decide}); the {@link Tracer} injects unshare, the mounts, chroot, chdir and an execve of
 * the guest program into the root before its filter, and falls back to path rewriting if any of them
 * fails before the chroot.
 */
public final class KernelRoot {
    /** TETHER_KERNEL_ROOT=off on the daemon turns the mode off (A/B benchmarks, an escape hatch). */
    public static final String ENV = "TETHER_KERNEL_ROOT";
    static final int CLONE_NEWNS = 0x00020000;
    static final long MS_BIND = 4096, MS_REC = 16384, MS_PRIVATE = 1 << 18;

    private static final Logger log = LoggerFactory.getLogger(KernelRoot.class);

    /** One bind mount made in the tracee's namespace: {@code targetHostPath} = root + guest mountpoint. */
    public record Mount(String sourceHostPath, String targetHostPath) {}

    /** The most bytes of argv and environment re-executed from below the root's stack (its initial stack has ~128 KiB). */
    static final int MAX_EXEC_BYTES = 64 * 1024;

    private final String rootHostPath;
    private final List<Mount> mounts;
    private final GuestLaunch.Launch launch;
    private final List<String> argv;
    private final List<String> env;

    private KernelRoot(String rootHostPath, List<Mount> mounts, GuestLaunch.Launch launch, List<String> argv, List<String> env) {
        this.rootHostPath = rootHostPath;
        this.mounts = List.copyOf(mounts);
        this.launch = launch;
        this.argv = List.copyOf(argv);
        this.env = List.copyOf(env);
    }

    public String rootHostPath() {
        return rootHostPath;
    }

    /** In mounting order: a bind below another one after it. */
    public List<Mount> mounts() {
        return mounts;
    }

    /** The canonical guest cwd the root starts in (chdir after chroot). */
    public String guestCwd() {
        return launch.guestCwd();
    }

    /** The guest program the root executes again inside the chroot, with {@link #argv} and {@link #env}. */
    public String guestProgram() {
        return launch.guestProgram();
    }

    public List<String> argv() {
        return argv;
    }

    public List<String> env() {
        return env;
    }

    /** As {@link #decide(GuestView, Handlers, boolean, GuestLaunch.Launch, List, List, boolean)}, enabled unless {@link #ENV} is "off". */
    public static KernelRoot decide(GuestView view, Handlers handlers, boolean qemu, GuestLaunch.Launch launch, List<String> argv,
                                    List<String> env) {
        return decide(view, handlers, qemu, launch, argv, env, !"off".equals(System.getenv(ENV)));
    }

    /**
     * The kernel-rooted plan for a run over {@code view}, or null (path rewriting) with the reason logged
     * at debug: it needs root (mount namespaces and chroot), no qemu (the emulator lives outside the
     * guest), no host execution (it parks tracees on a daemon-side program), every handler of the
     * standard table (a refusal asked for cannot be kept once the kernel resolves), a whole tree under
     * the root and every bind, and every bind's mountpoint present in the tree below it, of the bind's
     * type, reached through directories only: mountpoints are never made in a user's tree.
     */
    public static KernelRoot decide(GuestView view, Handlers handlers, boolean qemu, GuestLaunch.Launch launch, List<String> argv,
                                    List<String> env, boolean enabled) {
        String why = whyNot(view, handlers, qemu, enabled);
        long execBytes = 0;
        for (String s : argv) execBytes += s.length() + 1 + 8;
        for (String s : env) execBytes += s.length() + 1 + 8;
        if (why == null && execBytes > MAX_EXEC_BYTES) why = "argv and environment too big to execute again in the chroot";
        if (why != null) {
            log.debug("path-rewriting run: {}", why);
            return null;
        }
        List<Bind> binds = new ArrayList<>(view.binds());
        binds.sort(Comparator.comparingInt((Bind b) -> b.guestPath().length()));
        List<Mount> mounts = new ArrayList<>();
        String root = view.rootHostPath();
        for (Bind b : binds) mounts.add(new Mount(b.hostPath(), GuestPaths.rebase(b.guestPath(), "/", root)));
        log.debug("kernel-rooted run: chroot {} with {} binds", root, mounts.size());
        return new KernelRoot(root, mounts, launch, argv, env);
    }

    private static String whyNot(GuestView view, Handlers handlers, boolean qemu, boolean enabled) {
        if (!enabled) return ENV + "=off";
        if (LibC.geteuid() != 0) return "the daemon is not root";
        if (qemu) return "qemu-user runs foreign programs";
        if (handlers.get(Sys.EXECVE) instanceof HostExecHandler || handlers.get(Sys.EXECVEAT) instanceof HostExecHandler) {
            return "host execution";
        }
        for (Sys s : Sys.values()) {
            if (s.trapped() && handlers.get(s) == null) return "no handler for " + s.kernelName() + " (refused)";
        }
        GuestFileAccess fs = view.fileAccess();
        if (view.rootHostPath().equals("/")) return "the guest root is the host's";
        // Every tree is asked, whatever the first answer: asking is what starts a mirror's completion of each.
        String why = fs.wholeUnder(view.rootHostPath()) ? null : "the guest root is not whole here";
        for (Bind b : view.binds()) {
            if (!fs.wholeUnder(b.hostPath()) && why == null) why = "bind " + b.guestPath() + " is not whole here";
        }
        if (why != null) return why;
        for (Bind b : view.binds()) {
            String problem = mountpointProblem(view, b);
            if (problem != null) return "bind " + b.guestPath() + ": " + problem;
        }
        return null;
    }

    /** Why {@code bind}'s mountpoint is unusable in the tree it lies in (the root, or an enclosing bind), or null. */
    private static String mountpointProblem(GuestView view, Bind bind) {
        String treeGuest = "/", treeHost = view.rootHostPath();
        for (Bind other : view.binds()) {
            if (!other.guestPath().equals(bind.guestPath()) && GuestPaths.isUnder(bind.guestPath(), other.guestPath())
                    && other.guestPath().length() > treeGuest.length()) {
                treeGuest = other.guestPath();
                treeHost = other.hostPath();
            }
        }
        FileKind source;
        try {
            source = LocalFileAccess.INSTANCE.kind(bind.hostPath());
        } catch (ErrnoException e) {
            return "source " + Errno.describe(e.errno());
        }
        String rel = treeGuest.equals("/") ? bind.guestPath().substring(1) : bind.guestPath().substring(treeGuest.length() + 1);
        String host = treeHost;
        String[] parts = rel.split("/");
        for (int i = 0; i < parts.length; i++) {
            host = host.equals("/") ? "/" + parts[i] : host + "/" + parts[i];
            FileKind kind;
            try {
                kind = view.fileAccess().kind(host);
            } catch (ErrnoException e) {
                return "mountpoint " + Errno.describe(e.errno());
            }
            boolean last = i == parts.length - 1;
            if (!last && kind != FileKind.DIRECTORY) return "mountpoint below a " + kind;
            if (last && (source == FileKind.DIRECTORY) != (kind == FileKind.DIRECTORY)) {
                return "mountpoint is a " + kind + ", the source a " + source;
            }
            if (last && kind == FileKind.SYMLINK) return "mountpoint is a symlink";
        }
        return null;
    }
}
