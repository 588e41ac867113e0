package io.tether.client.cli;

import io.tether.client.Connector;
import io.tether.client.TetherException;
import io.tether.client.connect.Connection;
import io.tether.client.env.EnvironmentPolicy;
import io.tether.client.env.Umask;
import io.tether.client.files.FileExport;
import io.tether.client.files.FileServer;
import io.tether.client.files.HostExports;
import io.tether.client.files.ResidentWatch;
import io.tether.client.frontdoor.FrontDoorLauncher;
import io.tether.client.session.ClientSession;
import io.tether.client.session.RunSpec;
import io.tether.client.targets.Target;
import io.tether.client.targets.TargetResolver;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code tether run}: one remote process session. */
@Command(name = "run", mixinStandardHelpOptions = true, sortOptions = false,
        versionProvider = io.tether.client.Tether.VersionProvider.class,
        usageHelpWidth = 100,
        description = {"Runs CMD on the target and exits with its status. Options must come before CMD; "
                + "everything from CMD on is the remote command line."},
        footer = {"",
                "Targets:",
                "  local                     the daemon runs inside this process (default; $TETHER_TARGET overrides)",
                "  ssh://[USER@]HOST[:PORT]  tetherd's SSH server (user: yours; port: 22)",
                "  NAME                      a target from $TETHER_CONFIG or ~/.config/tether/targets.properties:",
                "                              NAME.url=ssh://root@10.0.0.2:2222   NAME.identity=~/.ssh/id_dev",
                "                              NAME.known-hosts=FILE   NAME.stdio-command=CMD   NAME.env.X=VALUE",
                "                              NAME.control-persist=SECONDS   (command-line options win)",
                "                              NAME.host-exec=GLOB, GLOB...   (with -r; --host-exec adds)",
                "  With --stdio-command (or NAME.stdio-command) the protocol runs over that command's",
                "  stdin/stdout instead, e.g. --stdio-command 'ssh -T dev /opt/tether/bin/tetherd --stdio':",
                "  how a stock OpenSSH server hosts tetherd (with --control auto the agent runs it from /).",
                "",
                "Host keys: checked strictly against known_hosts (~/.ssh/known_hosts or --known-hosts). An",
                "  unknown host is refused unless --accept-new-host-key (which adds its key); a changed key",
                "  is always refused. Identity: -i KEYFILE, else ~/.ssh/id_ed25519, id_ecdsa, id_rsa.",
                "",
                "Environment: the remote process gets this environment minus host-session variables",
                "  (SSH_*, DISPLAY, XAUTHORITY, WAYLAND_DISPLAY, DBUS_SESSION_BUS_ADDRESS, XDG_RUNTIME_DIR,",
                "  XDG_SESSION_*, TMUX, TMUX_PANE, STY, WINDOWID, SHLVL, _, OLDPWD, HOSTNAME, _JAVA_SR_SIGNUM,",
                "  JAVA_TOOL_OPTIONS, TETHER_*), then PWD set to the remote directory, then the target's",
                "  NAME.env.* settings, then each -e in order (-e NAME alone passes NAME from here even if",
                "  it is on that list). Working directory: -w DIR (must exist), else this one (if it does",
                "  not exist on the target, the daemon uses HOME). The umask is this process's.",
                "",
                "Terminal: a pty is allocated on the target when stdin is a terminal. Unlike ssh, -t names",
                "  the TARGET here: force a pty with --tty, refuse one with -T/--no-tty.",
                "",
                "Descriptors: every fd beyond 0-2 given to tether is forwarded at the same number (3>log, a",
                "  make jobserver pipe pair: mark the recipe '+'). Signals go to CMD's process group; SIGTERM",
                "  to its whole tree, and what outlives CMD is then killed (SIGHUP, SIGKILL 2 s later).",
                "",
                "Connection reuse: with --control auto (the default) ssh and stdio-command targets are",
                "  reached through a background agent that holds one warm connection (like ssh's",
                "  ControlMaster) on a socket in $XDG_RUNTIME_DIR/tether or ~/.cache/tether/control; it",
                "  exits after --control-persist seconds (default 600) without clients. --control no",
                "  connects directly.",
                "",
                "Exit status: CMD's own; 128+N if CMD was killed by signal N; 126/127 if it could not be",
                "  executed/found; 255 for Tether's own failures (one line 'tether: ...' on stderr)."})
public final class RunCommand implements Callable<Integer> {
    @Option(names = {"-t", "--target"}, paramLabel = "TARGET",
            description = "local (default), ssh://[USER@]HOST[:PORT], or a NAME from the targets file")
    String target;

    @Option(names = {"-w", "--workdir"}, paramLabel = "DIR", description = "working directory on the target (must exist)")
    String workdir;

    @picocli.CommandLine.Mixin
    GuestOptions guest = new GuestOptions();

    @Option(names = {"-e", "--env"}, paramLabel = "NAME=VALUE", description = "set a remote variable (repeatable); -e NAME passes ours")
    List<String> env = new ArrayList<>();

    @Option(names = "--tty", description = "always allocate a pty on the target (ssh's -t)")
    boolean forceTty;

    @Option(names = {"-T", "--no-tty"}, description = "never allocate a pty on the target")
    boolean noTty;

    @Option(names = {"-i", "--identity"}, paramLabel = "KEYFILE", description = "SSH private key (default ~/.ssh/id_ed25519, id_ecdsa, id_rsa)")
    Path identity;

    @Option(names = "--known-hosts", paramLabel = "FILE", description = "known_hosts file (default ~/.ssh/known_hosts)")
    Path knownHosts;

    @Option(names = "--accept-new-host-key", description = "add an unknown host's key to known_hosts (a changed key is still refused)")
    boolean acceptNewHostKey;

    @Option(names = "--stdio-command", paramLabel = "CMD", description = "reach the daemon through CMD's stdin/stdout (run by /bin/sh -c)")
    String stdioCommand;

    @Option(names = "--control", paramLabel = "auto|no", description = "reuse a warm connection through a control agent (default auto)")
    String control = "auto";

    @Option(names = "--control-persist", paramLabel = "SECONDS", description = "how long an idle agent keeps the connection (default 600)")
    Integer controlPersist;

    @Option(names = "--argv0", paramLabel = "NAME",
            description = "run CMD with NAME as its argv[0] (what it sees as its own name; CMD is still the program executed)")
    String argv0;

    @Option(names = "--log-level", paramLabel = "LEVEL", description = "trace, debug, info, warn (default), error, off; logs go to stderr")
    String logLevel;

    @Parameters(index = "0..*", arity = "1..*", paramLabel = "CMD", description = "the command and its arguments")
    List<String> command;

    @Override
    public Integer call() throws TetherException {
        int umask = Umask.current(); // early: it is briefly changed while read
        Map<String, String> clientEnv = System.getenv();
        Target t = resolveTarget(clientEnv);
        RunSpec spec = runSpec(t, clientEnv, umask);
        Connector.ControlMode mode = controlMode();
        // Opened before connecting: a missing or unreadable rootfs fails before anything runs.
        try (FileServer files = hostFiles(t, spec)) {
            // A warm front door lets later runs skip this JVM's start (see io.tether.client.frontdoor).
            Thread door = mode == Connector.ControlMode.AUTO ? FrontDoorLauncher.startIfAbsent(t, clientEnv) : null;
            try {
                return runConnected(t, spec, mode, files);
            } finally {
                FrontDoorLauncher.awaitStart(door);
            }
        }
    }

    private int runConnected(Target t, RunSpec spec, Connector.ControlMode mode, FileServer files) throws TetherException {
        // A control agent does not relay the streams the daemon opens: host execs need the connection of their own.
        if (files != null && !spec.guest().hostExec().isEmpty()) mode = Connector.ControlMode.NO;
        try (Connection c = Connector.connect(t, mode, logLevel == null ? "info" : logLevel)) {
            return files == null ? ClientSession.run(c.mux(), spec, t.name()) : ClientSession.run(c.mux(), spec, t.name(), files);
        }
    }

    /**
     * "No NFS": with a guest root ({@code -r}) on a target other than {@code local}, ROOTFS and the
     * bind sources are this host's, served to the daemon over the connection by the returned server
     * (null: the guest's paths are the target's own, as for {@code local}).
     */
    static FileServer hostFiles(Target t, RunSpec spec) throws TetherException {
        return hostFiles(t, spec, exports -> null);
    }

    /** As {@link #hostFiles(Target, RunSpec)}, watching through {@code watches}' answer for the exports (null: the run's own). */
    public static FileServer hostFiles(Target t, RunSpec spec, java.util.function.Function<List<FileExport>, ResidentWatch> watches)
            throws TetherException {
        if (spec.guest() == null || t.kind() == Target.Kind.LOCAL) return null;
        try {
            List<FileExport> exports = HostExports.of(spec.guest().root(), spec.guest().binds());
            return FileServer.open(exports, FileServer.Options.DEFAULTS.withGuestUmask(spec.umask()), watches.apply(exports));
        } catch (java.io.IOException e) {
            throw new TetherException(e.getMessage());
        }
    }

    Target resolveTarget(Map<String, String> clientEnv) throws TetherException {
        String spec = target;
        if (spec == null) spec = clientEnv.getOrDefault("TETHER_TARGET", "local");
        return TargetResolver.forCurrentUser(clientEnv).resolve(spec,
                new TargetResolver.Overrides(identity, knownHosts, acceptNewHostKey, stdioCommand, controlPersist));
    }

    RunSpec runSpec(Target t, Map<String, String> clientEnv, int umask) throws TetherException {
        return runSpec(t, clientEnv, umask, System.getProperty("user.dir"), inheritedFds(System.getProperty("tether.fds")));
    }

    /** The spec for a client whose real working directory is {@code realCwd}, forwarding {@code fds}. */
    RunSpec runSpec(Target t, Map<String, String> clientEnv, int umask, String realCwd, List<Integer> fds) throws TetherException {
        if (forceTty && noTty) throw new TetherException("--tty and --no-tty contradict each other");
        RunSpec.TtyMode tty = forceTty ? RunSpec.TtyMode.FORCE : noTty ? RunSpec.TtyMode.NEVER : RunSpec.TtyMode.AUTO;
        String cwd = workdir != null ? workdir : clientCwd(clientEnv, realCwd);
        cwd = guest.cwd(cwd, workdir != null);
        List<String> remoteEnv;
        try {
            remoteEnv = EnvironmentPolicy.build(clientEnv, cwd, t.env(), env);
        } catch (IllegalArgumentException e) {
            throw new TetherException(e.getMessage());
        }
        List<String> argv = command;
        String program = null;
        if (argv0 != null) {
            argv = new ArrayList<>(command);
            argv.set(0, argv0);
            program = command.get(0);
        }
        return guest.apply(new RunSpec(argv, remoteEnv, cwd, workdir != null, umask, tty, fds, null, program), realCwd, t.hostExec());
    }

    Connector.ControlMode controlMode() throws TetherException {
        return switch (control) {
            case "auto" -> Connector.ControlMode.AUTO;
            case "no" -> Connector.ControlMode.NO;
            default -> throw new TetherException("--control must be auto or no, not '" + control + "'");
        };
    }

    /** The shell's logical $PWD when it names this directory (keeps symlinked paths), else the real one. */
    static String clientCwd(Map<String, String> clientEnv) {
        return clientCwd(clientEnv, System.getProperty("user.dir"));
    }

    static String clientCwd(Map<String, String> clientEnv, String real) {
        String pwd = clientEnv.get("PWD");
        if (pwd != null && pwd.startsWith("/")) {
            try {
                if (Files.isSameFile(Path.of(pwd), Path.of(real))) return pwd;
            } catch (java.io.IOException | RuntimeException ignored) {
                // $PWD is stale: use the real directory
            }
        }
        return real;
    }

    /** Parses -Dtether.fds (the launcher's list of inherited descriptors beyond 0-2: "3,4"). */
    static List<Integer> inheritedFds(String property) throws TetherException {
        List<Integer> fds = new ArrayList<>();
        if (property == null || property.isBlank()) return fds;
        for (String s : property.split(",")) {
            s = s.trim();
            if (s.isEmpty()) continue;
            try {
                int fd = Integer.parseInt(s);
                if (fd < 3) throw new NumberFormatException();
                if (!fds.contains(fd)) fds.add(fd);
            } catch (NumberFormatException e) {
                throw new TetherException("bad -Dtether.fds value '" + property + "': expected descriptor numbers above 2, like 3,4");
            }
        }
        return fds;
    }
}
