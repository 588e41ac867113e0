package io.tether.e2e;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** One `bin/tether run` invocation against a {@link TargetHost}, run in the host-side namespace. */
final class TetherRun {
    private final TargetHost host;
    private final List<String> command;
    private final List<String> options = new ArrayList<>();
    private final Map<String, String> env = new HashMap<>();
    private java.nio.file.Path directory;

    TetherRun(TargetHost host, List<String> command) {
        this.host = host;
        this.command = List.copyOf(command);
    }

    /** Adds options before `--` (e.g. "-w", "/tmp"). */
    TetherRun option(String... words) {
        options.addAll(List.of(words));
        return this;
    }

    TetherRun control(String mode) { return option("--control", mode); }

    /** Runs the client in this local working directory. */
    TetherRun directory(java.nio.file.Path dir) {
        this.directory = dir;
        return this;
    }

    /** Sets a variable in the client's own environment. */
    TetherRun clientEnv(String name, String value) {
        env.put(name, value);
        return this;
    }

    /** The full argv, starting with nsenter into the host-side namespace. */
    List<String> argv() {
        List<String> tether = new ArrayList<>(List.of(TetherHome.tether().toString(), "run",
                "-t", host.url(), "-i", host.clientKey.toString(), "--known-hosts", host.knownHosts.toString()));
        tether.addAll(options);
        tether.add("--");
        tether.addAll(command);
        return host.inHostNs(tether);
    }

    /** The argv quoted for a shell script (fd redirections, tmux panes). */
    String shellCommand() { return Exec.quote(argv()); }

    Map<String, String> environment() {
        Map<String, String> all = new HashMap<>(host.clientEnv());
        all.putAll(env);
        return all;
    }

    /** A process builder for {@code argv}, with this run's environment. */
    ProcessBuilder processBuilder(List<String> argv) {
        ProcessBuilder pb = new ProcessBuilder(argv);
        pb.environment().putAll(environment());
        if (directory != null) {
            pb.directory(directory.toFile());
        }
        return pb;
    }

    /** Starts with stdin as a pipe the test writes (close it for EOF). */
    Exec.Running start() { return Exec.start(processBuilder(argv())); }

    /** Starts with stdin from /dev/null. */
    Exec.Running startNoInput() {
        return Exec.start(processBuilder(argv()).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))));
    }

    /** Runs to the end with stdin from /dev/null. */
    Exec.Result exec(Duration timeout) {
        try (Exec.Running r = startNoInput()) {
            return r.await(timeout);
        }
    }

    /** Runs to the end feeding {@code input} on stdin (from a writer thread, so output never blocks it). */
    Exec.Result exec(Duration timeout, byte[] input) {
        try (Exec.Running r = start()) {
            Thread writer = new Thread(() -> {
                try (OutputStream in = r.stdin()) {
                    in.write(input);
                } catch (IOException ignored) {
                    // the process went away early; its result tells why
                }
            }, "stdin-writer");
            writer.setDaemon(true);
            writer.start();
            return r.await(timeout);
        }
    }

    /** Runs `bash -c SCRIPT` (stdin /dev/null) with every {TETHER} in the script replaced by this invocation. */
    Exec.Result execInShell(Duration timeout, String scriptTemplate) {
        String script = scriptTemplate.replace("{TETHER}", shellCommand());
        try (Exec.Running r = Exec.start(processBuilder(List.of("bash", "-c", script))
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))))) {
            return r.await(timeout);
        }
    }

    static void writeAll(OutputStream out, byte[] data) {
        try {
            out.write(data);
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
