package io.tether.e2e;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A private tmux server (own socket, no user config, no status line) running one script in one pane: a real terminal. */
final class Tmux implements AutoCloseable {
    private static final String SESSION = "e2e";
    private final Path socket;
    private final Map<String, String> env;

    private Tmux(Path socket, Map<String, String> env) {
        this.socket = socket;
        this.env = env;
    }

    /** Starts {@code bash SCRIPT} in a cols x rows pane. Skips the test when tmux is missing. */
    static Tmux start(Path dir, String script, int cols, int rows, Map<String, String> env) {
        assumeTrue(TargetHost.onPath("tmux"), "tmux is not installed");
        try {
            Path conf = dir.resolve("tmux.conf");
            Files.writeString(conf, "set -g status off\nset -g history-limit 5000\n");
            Path scriptFile = Files.createTempFile(dir, "pane", ".sh");
            Files.writeString(scriptFile, script);
            Tmux tmux = new Tmux(Files.createTempFile(dir, "tmux", ".sock"), env);
            Files.delete(tmux.socket);
            tmux.check("-f", conf.toString(), "new-session", "-d", "-s", SESSION, "-x", Integer.toString(cols),
                    "-y", Integer.toString(rows), "bash " + Exec.quote(scriptFile.toString()));
            return tmux;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Sends keys as tmux names them ("C-c", "Enter"). */
    void sendKeys(String... keys) {
        List<String> args = new ArrayList<>(List.of("send-keys", "-t", SESSION));
        args.addAll(List.of(keys));
        check(args.toArray(String[]::new));
    }

    /** Types text literally. */
    void type(String text) {
        check("send-keys", "-t", SESSION, "-l", text);
    }

    void resize(int cols, int rows) {
        check("resize-window", "-t", SESSION, "-x", Integer.toString(cols), "-y", Integer.toString(rows));
    }

    String screen() {
        return check("capture-pane", "-p", "-J", "-S", "-", "-t", SESSION).out();
    }

    /** Waits until the pane shows a match of {@code regex}; returns the match. */
    Matcher await(String regex, Duration timeout) {
        Pattern p = Pattern.compile(regex, Pattern.MULTILINE);
        Matcher[] found = new Matcher[1];
        Poll.until(timeout, () -> {
            Matcher m = p.matcher(screen());
            if (m.find()) {
                found[0] = m;
                return true;
            }
            return false;
        }, () -> "the terminal never showed /" + regex + "/; screen:\n" + screen());
        return found[0];
    }

    private Exec.Result check(String... args) {
        List<String> argv = new ArrayList<>(List.of("tmux", "-S", socket.toString()));
        argv.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        pb.environment().putAll(env);
        pb.environment().remove("TMUX");
        pb.environment().put("SHELL", "/bin/bash");
        try (Exec.Running r = Exec.start(pb)) {
            Exec.Result result = r.await(Duration.ofSeconds(20));
            if (result.exit() != 0) {
                throw new AssertionError("tmux " + String.join(" ", args) + " failed: " + result);
            }
            return result;
        }
    }

    @Override
    public void close() {
        try {
            check("kill-server");
        } catch (AssertionError ignored) {
            // the server is already gone
        }
    }
}
