package io.tether.e2e;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Subprocesses with bounded waits: every wait has a deadline, and a process that overstays is killed. */
final class Exec {
    private Exec() {}

    /** What a finished process left behind. */
    record Result(int exit, byte[] stdout, byte[] stderr) {
        String out() { return new String(stdout, StandardCharsets.UTF_8); }
        String err() { return new String(stderr, StandardCharsets.UTF_8); }

        @Override
        public String toString() {
            return "exit " + exit + "\n--- stdout ---\n" + abbreviate(out()) + "\n--- stderr ---\n" + abbreviate(err());
        }

        private static String abbreviate(String s) {
            return s.length() <= 4000 ? s : s.substring(0, 2000) + "\n[...]\n" + s.substring(s.length() - 2000);
        }
    }

    /** A started process whose stdout and stderr are drained by background threads. */
    static final class Running implements AutoCloseable {
        private final List<String> command;
        private final Process process;
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();
        private final ByteArrayOutputStream err = new ByteArrayOutputStream();
        private final Thread outPump;
        private final Thread errPump;

        private Running(List<String> command, Process process) {
            this.command = command;
            this.process = process;
            this.outPump = pump(process.getInputStream(), out, "stdout");
            this.errPump = pump(process.getErrorStream(), err, "stderr");
        }

        private Thread pump(InputStream from, ByteArrayOutputStream to, String name) {
            Thread t = new Thread(() -> {
                byte[] buf = new byte[65536];
                try (from) {
                    for (int n; (n = from.read(buf)) >= 0; ) {
                        synchronized (to) {
                            to.write(buf, 0, n);
                        }
                    }
                } catch (IOException ignored) {
                    // the process is gone; what was read so far is kept
                }
            }, "exec-" + name + "-" + process.pid());
            t.setDaemon(true);
            t.start();
            return t;
        }

        long pid() { return process.pid(); }
        Process process() { return process; }
        OutputStream stdin() { return process.getOutputStream(); }

        void closeStdin() {
            try {
                process.getOutputStream().close();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        String outSoFar() {
            synchronized (out) {
                return out.toString(StandardCharsets.UTF_8);
            }
        }

        byte[] outSoFarBytes() {
            synchronized (out) {
                return out.toByteArray();
            }
        }

        String errSoFar() {
            synchronized (err) {
                return err.toString(StandardCharsets.UTF_8);
            }
        }

        boolean alive() { return process.isAlive(); }

        /** Waits for the exit; on timeout kills the process and fails the test with what it printed. */
        Result await(Duration timeout) {
            try {
                if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                    kill();
                    throw new AssertionError("still running after " + timeout + ": " + command
                            + "\n--- stdout ---\n" + outSoFar() + "\n--- stderr ---\n" + errSoFar());
                }
                // The pumps end at EOF; a grandchild holding the pipes open must not hang the test.
                outPump.join(5000);
                errPump.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                kill();
                throw new AssertionError("interrupted", e);
            }
            synchronized (out) {
                synchronized (err) {
                    return new Result(process.exitValue(), out.toByteArray(), err.toByteArray());
                }
            }
        }

        /** Waits at most {@code timeout}; true if the process has exited. */
        boolean waitFor(Duration timeout) throws InterruptedException {
            return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
        }

        void kill() {
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
        }

        @Override
        public void close() {
            if (process.isAlive()) {
                kill();
            }
        }
    }

    static Running start(ProcessBuilder pb) {
        try {
            return new Running(pb.command(), pb.start());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + pb.command(), e);
        }
    }

    static Running start(List<String> command) {
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        return start(pb);
    }

    /** Runs to completion with stdin from /dev/null. */
    static Result run(Duration timeout, List<String> command) {
        try (Running r = start(command)) {
            return r.await(timeout);
        }
    }

    static Result run(Duration timeout, String... command) {
        return run(timeout, List.of(command));
    }

    /** Runs and fails the test unless the command exits 0. */
    static Result check(Duration timeout, String... command) {
        Result r = run(timeout, command);
        if (r.exit() != 0) {
            throw new AssertionError(String.join(" ", command) + " failed: " + r);
        }
        return r;
    }

    /** Single-quotes a word for sh. */
    static String quote(String word) {
        return "'" + word.replace("'", "'\\''") + "'";
    }

    static String quote(List<String> words) {
        StringBuilder sb = new StringBuilder();
        for (String w : words) {
            if (sb.length() > 0) {
                sb.append(' ');
            }
            sb.append(quote(w));
        }
        return sb.toString();
    }
}
