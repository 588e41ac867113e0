package io.tether.e2e;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/** Where the repository and its launchers are; the launchers build their jars once, before any timed test. */
final class TetherHome {
    private static final Path ROOT = locate();
    private static volatile boolean built;

    private TetherHome() {}

    static Path root() { return ROOT; }
    static Path tether() { return ROOT.resolve("bin/tether"); }
    static Path tetherd() { return ROOT.resolve("bin/tetherd"); }

    /** A fresh directory under tests/target/e2e, kept after the run for post-mortems. */
    static Path workDir(String prefix) {
        try {
            Path base = ROOT.resolve("tests/target/e2e");
            Files.createDirectories(base);
            return Files.createTempDirectory(base, prefix + "-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Runs each launcher once with --version so a missing jar is built here (bin/tether builds on
     * first use) rather than inside a test's deadline. Under `mvn verify` the jars already exist.
     */
    static synchronized void ensureBuilt() {
        if (built) {
            return;
        }
        for (Path launcher : new Path[] {tether(), tetherd()}) {
            Exec.Result r = Exec.run(Duration.ofMinutes(8), launcher.toString(), "--version");
            if (r.exit() != 0) {
                throw new AssertionError(launcher + " --version failed (build log: "
                        + ROOT.resolve(".tether-build/build.log") + "): " + r);
            }
        }
        built = true;
    }

    private static Path locate() {
        String prop = System.getProperty("tether.home");
        if (prop != null && Files.isRegularFile(Path.of(prop, "bin/tether"))) {
            return Path.of(prop).toAbsolutePath().normalize();
        }
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("bin/tether")) && Files.isDirectory(p.resolve("tests"))) {
                return p;
            }
        }
        throw new IllegalStateException("cannot find the repository root (set -Dtether.home)");
    }
}
