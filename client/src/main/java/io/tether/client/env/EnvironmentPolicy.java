package io.tether.client.env;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What environment a remote process gets.
 *
 * <p>Policy, in order (later steps win):
 * <ol>
 *   <li>the client's environment, minus host-session variables that would mislead a process on
 *       the target: {@code SSH_*}, {@code DISPLAY}, {@code XAUTHORITY}, {@code WAYLAND_DISPLAY},
 *       {@code DBUS_SESSION_BUS_ADDRESS}, {@code XDG_RUNTIME_DIR}, {@code XDG_SESSION_*},
 *       {@code TMUX}, {@code TMUX_PANE}, {@code STY}, {@code WINDOWID}, {@code SHLVL}, {@code _},
 *       {@code OLDPWD}, {@code HOSTNAME}, {@code _JAVA_SR_SIGNUM}, {@code JAVA_TOOL_OPTIONS}
 *       and {@code TETHER_*};</li>
 *   <li>{@code PWD} set to the remote working directory;</li>
 *   <li>the target's configured variables ({@code NAME.env.X=V} in the targets file);</li>
 *   <li>each {@code -e NAME=VALUE} in command-line order; {@code -e NAME} alone passes the
 *       client's value of NAME even if the deny-list would drop it (nothing if unset).</li>
 * </ol>
 * Everything else (PATH, HOME, LANG, TERM, CC...) passes unchanged, as a cross build expects.
 */
public final class EnvironmentPolicy {
    /** Dropped by exact name. */
    public static final Set<String> DENIED_NAMES = Set.of(
            "DISPLAY", "XAUTHORITY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR",
            "TMUX", "TMUX_PANE", "STY", "WINDOWID", "SHLVL", "_", "OLDPWD", "HOSTNAME",
            "_JAVA_SR_SIGNUM", "JAVA_TOOL_OPTIONS");
    /** Dropped by prefix. */
    public static final List<String> DENIED_PREFIXES = List.of("SSH_", "XDG_SESSION_", "TETHER_");

    private EnvironmentPolicy() {}

    public static boolean isDenied(String name) {
        if (DENIED_NAMES.contains(name)) return true;
        for (String p : DENIED_PREFIXES) {
            if (name.startsWith(p)) return true;
        }
        return false;
    }

    /**
     * The complete remote environment as NAME=VALUE strings, in a stable order.
     *
     * @param clientEnv the client's environment (System.getenv())
     * @param remoteCwd the working directory asked for on the target (becomes PWD)
     * @param targetEnv variables configured for the target
     * @param overrides {@code -e} arguments: NAME=VALUE or NAME
     * @throws IllegalArgumentException for an override with an empty or malformed name
     */
    public static List<String> build(Map<String, String> clientEnv, String remoteCwd,
                                     Map<String, String> targetEnv, List<String> overrides) {
        Map<String, String> env = new LinkedHashMap<>();
        clientEnv.entrySet().stream()
                .filter(e -> !isDenied(e.getKey()))
                .sorted(Map.Entry.comparingByKey())
                .forEach(e -> env.put(e.getKey(), e.getValue()));
        if (remoteCwd != null && !remoteCwd.isEmpty()) {
            env.put("PWD", remoteCwd);
        }
        targetEnv.forEach((k, v) -> {
            checkName(k);
            env.put(k, v);
        });
        for (String o : overrides) {
            int eq = o.indexOf('=');
            if (eq < 0) {
                checkName(o);
                String v = clientEnv.get(o);
                if (v != null) env.put(o, v);
            } else {
                String name = o.substring(0, eq);
                checkName(name);
                env.put(name, o.substring(eq + 1));
            }
        }
        List<String> out = new ArrayList<>(env.size());
        env.forEach((k, v) -> out.add(k + "=" + v));
        return out;
    }

    private static void checkName(String name) {
        if (name.isEmpty() || name.indexOf('=') >= 0 || name.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("bad environment variable name '" + name + "' (use -e NAME=VALUE)");
        }
    }
}
