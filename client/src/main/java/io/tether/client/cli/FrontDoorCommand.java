package io.tether.client.cli;

import io.tether.client.TetherException;
import io.tether.client.control.ControlPaths;
import io.tether.client.frontdoor.FrontDoor;
import io.tether.client.frontdoor.FrontDoorPaths;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.concurrent.Callable;

/**
 * {@code tether frontdoor} (hidden): the resident front door the C front end talks to (see
 * {@link FrontDoor}), started detached by a JVM client. Takes the door's lock (another door
 * holds it: exit 0), serves until idle. Exit status: 0 idle or busy, 255 failure.
 */
@Command(name = "frontdoor", hidden = true, description = "front door for tether-fe (started by tether run; not for direct use)")
public final class FrontDoorCommand implements Callable<Integer> {
    /** The door is worth keeping a little while even with --control-persist 0. */
    private static final long MIN_IDLE_SECONDS = 10;

    @Option(names = "--control-dir", required = true) Path controlDir;
    @Option(names = "--key", required = true) String key;
    @Option(names = "--idle") long idleSeconds = 600;
    @Option(names = "--log-level") String logLevel;

    /** Held for the door's lifetime. */
    private static FileLock heldLock;

    @Override
    public Integer call() throws InterruptedException {
        Logger log = LoggerFactory.getLogger(FrontDoorCommand.class);
        ControlPaths paths = new ControlPaths(controlDir, key);
        try {
            paths.prepare();
            FileChannel ch = FileChannel.open(paths.lock(), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            heldLock = ch.tryLock();
        } catch (TetherException | IOException e) {
            log.warn("front door: {}", e.getMessage());
            return 255;
        }
        if (heldLock == null) return 0; // another door serves
        String home = System.getProperty("tether.home");
        FrontDoor door = new FrontDoor(paths, Duration.ofSeconds(Math.max(MIN_IDLE_SECONDS, idleSeconds)),
                home == null ? null : FrontDoorPaths.jar(Path.of(home)));
        try {
            door.start();
        } catch (IOException e) {
            log.warn("front door cannot listen on {}: {}", paths.socket(), e.getMessage());
            return 255;
        }
        door.awaitIdle();
        return 0;
    }
}
