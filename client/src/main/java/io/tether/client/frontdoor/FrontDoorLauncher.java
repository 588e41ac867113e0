package io.tether.client.frontdoor;

import io.tether.client.TetherException;
import io.tether.client.control.ControlPaths;
import io.tether.client.targets.Target;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Starts the front door ({@code tether frontdoor}, detached like a control agent) when a JVM
 * client runs an ssh or stdio-command target with connection reuse and no door is running
 * yet, so that the next {@code tether run} can take the C front end's fast path. Only where
 * that front end was built (bin/tether compiles it when a C compiler exists).
 */
public final class FrontDoorLauncher {
    private static final Logger log = LoggerFactory.getLogger(FrontDoorLauncher.class);
    private static final long START_WAIT_MS = 2000;
    private static final long MAX_LOG_BYTES = 1 << 20;

    private FrontDoorLauncher() {}

    /** Starts the door in the background if it should run and does not; the thread to await, or null. */
    public static Thread startIfAbsent(Target target, Map<String, String> env) {
        if (target.kind() == Target.Kind.LOCAL) return null;
        String home = System.getProperty("tether.home");
        if (home == null || !Files.isExecutable(FrontDoorPaths.frontEnd(Path.of(home)))) return null;
        String key = FrontDoorPaths.key(FrontDoorPaths.jar(Path.of(home)));
        if (key == null) return null;
        ControlPaths paths = FrontDoorPaths.of(env, key);
        Thread t = new Thread(() -> start(paths, target), "frontdoor-launch");
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** Lets a launch under way finish its fork before this JVM exits. */
    public static void awaitStart(Thread launch) {
        if (launch == null) return;
        try {
            launch.join(START_WAIT_MS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void start(ControlPaths paths, Target target) {
        try {
            if (Files.exists(paths.socket()) && !lockIsFree(paths)) return; // a door serves
            paths.prepare();
            if (!lockIsFree(paths)) return;
            List<String> cmd = command(paths, target.controlPersist().toSeconds());
            rotate(paths.log());
            new ProcessBuilder(cmd)
                    .directory(new File("/"))
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(paths.log().toFile()))
                    .redirectErrorStream(true)
                    .start();
            log.debug("front door starting on {}", paths.socket());
        } catch (IOException | TetherException | RuntimeException e) {
            log.debug("no front door: {}", e.getMessage());
        }
    }

    static List<String> command(ControlPaths paths, long idleSeconds) {
        List<String> cmd = new ArrayList<>();
        for (String p : List.of("/usr/bin/setsid", "/bin/setsid")) {
            if (Files.isExecutable(Path.of(p))) {
                cmd.add(p);
                break;
            }
        }
        cmd.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.add("-XX:+UseSerialGC");
        cmd.add("-Xss512k");
        // A session runs each method of its path a few times only: compile after a tenth of the
        // usual invocations, so a new door is fast after a handful of runs rather than a hundred.
        cmd.add("-XX:CompileThresholdScaling=0.1");
        cmd.add("-Dorg.slf4j.simpleLogger.showDateTime=true");
        cmd.add("-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS");
        String home = System.getProperty("tether.home");
        if (home != null) cmd.add("-Dtether.home=" + home);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add("io.tether.client.Tether");
        cmd.addAll(List.of("frontdoor", "--control-dir", paths.dir().toString(), "--key", paths.key(),
                "--idle", Long.toString(idleSeconds), "--log-level", "info"));
        return cmd;
    }

    /** The log is appended to across doors; one old generation is kept. */
    private static void rotate(Path log) {
        try {
            if (Files.size(log) > MAX_LOG_BYTES) {
                Files.move(log, log.resolveSibling(log.getFileName() + ".1"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException ignored) {
            // no log yet, or it cannot be moved: keep appending
        }
    }

    static boolean lockIsFree(ControlPaths paths) {
        try (FileChannel ch = FileChannel.open(paths.lock(), StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            FileLock l = ch.tryLock();
            if (l == null) return false;
            l.release();
            return true;
        } catch (IOException | java.nio.channels.OverlappingFileLockException e) {
            return false;
        }
    }
}
