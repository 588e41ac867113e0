package io.tether.client.control;

import io.tether.client.TetherException;
import io.tether.client.targets.Target;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * Starts {@code tether agent} as a detached JVM (its own session via setsid, cwd /, stdin
 * from /dev/null, stderr to the log beside the socket, no inherited descriptors beyond 0-2 so
 * a caller's pipes reach EOF without waiting for the agent). The agent's first stdout line is
 * its status: {@code READY}, {@code BUSY}, or {@code FAIL message}; then it closes stdout.
 */
public final class AgentProcess implements AgentLauncher {
    public static final String READY = "READY";
    public static final String BUSY = "BUSY";
    public static final String FAIL = "FAIL ";
    private static final long MAX_LOG_BYTES = 1 << 20;

    private final String logLevel;

    public AgentProcess(String logLevel) {
        this.logLevel = logLevel;
    }

    @Override
    public Status launch(Target target, ControlPaths paths) throws TetherException {
        List<String> cmd = command(target, paths);
        Path log = paths.log();
        rotate(log);
        Process p;
        try {
            p = new ProcessBuilder(cmd)
                    .directory(new File("/")) // long-lived: hold no front end's directory (as ssh's master)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .start();
        } catch (IOException e) {
            throw new TetherException("cannot start the control agent (" + e.getMessage() + "); run with --control no");
        }
        String line;
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            line = r.readLine();
        } catch (IOException e) {
            line = null;
        }
        if (line == null) {
            throw new TetherException("the control agent exited before it was ready; see " + log + " (or run with --control no)");
        }
        if (line.equals(READY)) return Status.READY;
        if (line.equals(BUSY)) return Status.BUSY;
        if (line.startsWith(FAIL)) throw new TetherException(line.substring(FAIL.length()));
        throw new TetherException("the control agent said '" + line + "'; see " + log);
    }

    /** The agent's command line: this JVM and class path, the resolved target spelled out. */
    List<String> command(Target target, ControlPaths paths) {
        List<String> cmd = residentJvm();
        cmd.addAll(agentArguments(target, paths, logLevel));
        return cmd;
    }

    /**
     * The command line of a detached helper JVM (agent, front door) up to the main class: setsid(1)
     * when there is one, this JVM and class path, then {@code jvmFlags}; the caller adds arguments.
     */
    public static List<String> residentJvm(String... jvmFlags) {
        List<String> cmd = new ArrayList<>();
        String setsid = setsidBinary();
        if (setsid != null) cmd.add(setsid);
        cmd.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.add("-XX:+UseSerialGC");
        cmd.add("-Xss512k");
        cmd.addAll(List.of(jvmFlags));
        String home = System.getProperty("tether.home");
        if (home != null) cmd.add("-Dtether.home=" + home);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add("io.tether.client.Tether");
        return cmd;
    }

    /** Arguments of the hidden {@code tether agent} subcommand that recreate {@code target}. */
    public static List<String> agentArguments(Target target, ControlPaths paths, String logLevel) {
        List<String> a = new ArrayList<>(List.of("agent", "--control-dir", paths.dir().toString(), "--control-key", paths.key(),
                "--kind", target.kind().name(), "--name", target.name(),
                "--control-persist", Long.toString(target.controlPersist().toSeconds()),
                "--log-level", logLevel));
        if (target.user() != null) a.addAll(List.of("--user", target.user()));
        if (target.host() != null) a.addAll(List.of("--host", target.host(), "--port", Integer.toString(target.port())));
        if (target.identity() != null) a.addAll(List.of("--identity", target.identity().toString()));
        if (target.knownHosts() != null) a.addAll(List.of("--known-hosts", target.knownHosts().toString()));
        if (target.acceptNewHostKey()) a.add("--accept-new-host-key");
        if (target.stdioCommand() != null) a.addAll(List.of("--stdio-command", target.stdioCommand()));
        return a;
    }

    private static String setsidBinary() {
        for (String p : List.of("/usr/bin/setsid", "/bin/setsid")) {
            if (Files.isExecutable(Path.of(p))) return p;
        }
        return null; // no setsid(1): the agent stays in our session (a terminal ^C may reach it)
    }

    /** Logs are appended to across restarts; past 1 MiB one old generation is kept. */
    public static void rotate(Path log) {
        try {
            if (Files.size(log) > MAX_LOG_BYTES) {
                Files.move(log, log.resolveSibling(log.getFileName() + ".1"), StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException ignored) {
            // no log yet, or rotation not possible: keep appending
        }
    }
}
