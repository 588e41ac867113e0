package io.tether.client.frontdoor;

import io.tether.client.TetherException;
import io.tether.client.control.AgentProcess;
import io.tether.client.control.ControlPaths;
import io.tether.client.targets.Target;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Starts the front door ({@code tether frontdoor}, detached like a control agent) when a JVM
 * client runs with connection reuse ({@code --control auto}, any target: the door serves
 * {@code local} from a daemon of its own) and no door is running yet, so that the next
 * {@code tether run} can take the C front end's fast path. Only where
 * that front end was built (bin/tether compiles it when a C compiler exists).
 */
public final class FrontDoorLauncher {
    private static final Logger log = LoggerFactory.getLogger(FrontDoorLauncher.class);
    private static final long START_WAIT_MS = 2000;

    private FrontDoorLauncher() {}

    /** Starts the door in the background if it should run and does not; the thread to await, or null. */
    public static Thread startIfAbsent(Target target, Map<String, String> env) {
        String home = System.getProperty("tether.home");
        if (home == null || !Files.isExecutable(FrontDoorPaths.frontEnd(Path.of(home)))) return null;
        String key = FrontDoorPaths.key(Path.of(home));
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
            if (Files.exists(paths.socket()) && !paths.lockIsFree()) return; // a door serves
            paths.prepare();
            if (!paths.lockIsFree()) return;
            List<String> cmd = command(paths, target.controlPersist().toSeconds());
            AgentProcess.rotate(paths.log());
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
        // A session runs each method of its path a few times only: compile after a tenth of the
        // usual invocations, so a new door is fast after a handful of runs rather than a hundred.
        List<String> cmd = AgentProcess.residentJvm("-XX:CompileThresholdScaling=0.1",
                "-Dorg.slf4j.simpleLogger.showDateTime=true",
                "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS");
        cmd.addAll(List.of("frontdoor", "--control-dir", paths.dir().toString(), "--key", paths.key(),
                "--idle", Long.toString(idleSeconds), "--log-level", "info"));
        return cmd;
    }
}
