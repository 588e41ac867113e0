package io.tether.client.cli;

import io.tether.client.TetherException;
import io.tether.client.session.RunSpec;
import io.tether.client.targets.Target;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The front door's reading of a front end's {@code tether run} command line: the same parser
 * ({@link FastRunParser}), target resolution and environment policy as {@link RunCommand},
 * applied to the front end's environment, directory and umask rather than the door's. Target
 * {@code local} (with or without a guest root, {@code -r}) is served by a daemon in the door; on
 * another target the door serves a guest root's files from this host itself ("No NFS").
 */
public final class FrontDoorPlan {
    /** What to run where. */
    public record Plan(Target target, RunSpec spec) {}

    private FrontDoorPlan() {}

    /**
     * The plan, or null when the JVM client should take the command line instead: anything the
     * fast parser leaves to picocli (help, version, errors), {@code --control no}, or
     * {@code --log-level} (whose logs belong on the caller's stderr); {@code --host-exec} (or the target's
     * {@code NAME.host-exec} with {@code -r}) on a target other than {@code local} (its execs need a connection of their own); and target {@code local} or a
     * guest root ({@code -r}) when the caller sets {@code TETHER_JAVA_OPTS}, {@code JAVA},
     * {@code JAVA_TOOL_OPTIONS} or {@code JDK_JAVA_OPTIONS} (its daemon or file server would run in
     * that JVM, with {@code -Dtetherd...} settings or another Java).
     *
     * @throws TetherException what {@code tether run} would report as {@code tether: ...} (bad target...)
     */
    public static Plan plan(String[] args, Map<String, String> clientEnv, String realCwd, int umask, List<Integer> fds)
            throws TetherException {
        RunCommand c = FastRunParser.parse(args);
        if (c == null || c.logLevel != null || !"auto".equals(c.control)) return null;
        Path cwd = Path.of(realCwd);
        // Relative paths are the caller's, not the door's (whose directory is /).
        if (c.identity != null) c.identity = cwd.resolve(c.identity);
        if (c.knownHosts != null) c.knownHosts = cwd.resolve(c.knownHosts);
        Map<String, String> env = clientEnv;
        String config = clientEnv.get("TETHER_CONFIG");
        if (config != null && !config.isEmpty() && !config.startsWith("/")) {
            env = new HashMap<>(clientEnv);
            env.put("TETHER_CONFIG", cwd.resolve(config).toString());
        }
        Target t = c.resolveTarget(env);
        boolean inProcess = t.kind() == Target.Kind.LOCAL || (c.guest != null && c.guest.rootfs != null);
        if (inProcess && jvmSettings(clientEnv)) return null;
        // Host execs on a remote target come as streams the daemon opens, which an agent does not relay.
        boolean hostExec = c.guest != null && c.guest.rootfs != null && (!c.guest.hostExec.isEmpty() || !t.hostExec().isEmpty());
        if (t.kind() != Target.Kind.LOCAL && hostExec) return null;
        return new Plan(t, c.runSpec(t, clientEnv, umask, realCwd, fds));
    }

    private static boolean jvmSettings(Map<String, String> clientEnv) {
        for (String name : new String[] {"TETHER_JAVA_OPTS", "JAVA", "JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS"}) {
            String v = clientEnv.get(name);
            if (v != null && !v.isEmpty()) return true;
        }
        return false;
    }
}
