package io.tether.daemon.session;

import io.tether.daemon.Version;
import io.tether.daemon.mirror.MirrorCache;
import io.tether.daemon.process.Reaper;
import io.tether.daemon.process.Spawner;
import io.tether.daemon.process.ThreadReaper;
import io.tether.posix.LibC;
import io.tether.protocol.mux.MuxConfig;

import java.nio.file.Path;
import java.time.Duration;

/**
 * Immutable settings of a {@link DaemonCore}.
 *
 * @param runDir       where gate FIFOs live (per-daemon subdirectories, stale ones cleaned)
 * @param cacheDir     target-side cache root, or null
 * @param home         the cwd of a session that names none (or names a missing one, unless required)
 * @param killGrace    between SIGHUP and SIGKILL when a client goes away
 * @param fdStreamWait how long a RunRequest waits for the fd streams it names to be opened
 * @param mux          mux settings of every connection
 * @param execHook     runs for each child at its gate, before execve (the tracer's seam)
 * @param reaper       collects exit statuses (the tracer replaces it for traced children)
 * @param cacheSize    bound of the mirror cache's file contents in bytes ({@code --cache-size})
 */
public record DaemonOptions(Path runDir, Path cacheDir, Path home, Duration killGrace, Duration fdStreamWait,
                            MuxConfig mux, Spawner.ExecHook execHook, Reaper reaper, long cacheSize) {

    public static DaemonOptions defaults() {
        return new DaemonOptions(defaultRunDir(), null, Path.of(System.getProperty("user.home")), Duration.ofSeconds(2),
                Duration.ofSeconds(10), MuxConfig.defaults(Version.AGENT), Spawner.ExecHook.NONE, new ThreadReaper(),
                MirrorCache.DEFAULT_MAX_BYTES);
    }

    /**
     * Where the "No NFS" mirror cache lives ({@link MirrorCache#open}): {@code --cache-dir}, else
     * $XDG_CACHE_HOME/tetherd or ~/.cache/tetherd, /var/cache/tetherd for root.
     */
    public Path mirrorCacheDir() {
        return cacheDir != null ? cacheDir : MirrorCache.defaultDir();
    }

    public DaemonOptions withCacheSize(long bytes) {
        return new DaemonOptions(runDir, cacheDir, home, killGrace, fdStreamWait, mux, execHook, reaper, bytes);
    }

    private static Path defaultRunDir() {
        String xdg = System.getenv("XDG_RUNTIME_DIR");
        if (xdg != null && !xdg.isEmpty()) return Path.of(xdg, "tetherd");
        return Path.of(System.getProperty("java.io.tmpdir"), "tetherd-" + LibC.getuid(), "run");
    }

    /** Sets the cache directory; gate FIFOs then live in {@code cacheDir/run}. */
    public DaemonOptions withCacheDir(Path dir) {
        return new DaemonOptions(dir.resolve("run"), dir, home, killGrace, fdStreamWait, mux, execHook, reaper, cacheSize);
    }

    public DaemonOptions withRunDir(Path dir) {
        return new DaemonOptions(dir, cacheDir, home, killGrace, fdStreamWait, mux, execHook, reaper, cacheSize);
    }

    public DaemonOptions withHome(Path dir) {
        return new DaemonOptions(runDir, cacheDir, dir, killGrace, fdStreamWait, mux, execHook, reaper, cacheSize);
    }

    public DaemonOptions withKillGrace(Duration grace) {
        return new DaemonOptions(runDir, cacheDir, home, grace, fdStreamWait, mux, execHook, reaper, cacheSize);
    }

    public DaemonOptions withFdStreamWait(Duration wait) {
        return new DaemonOptions(runDir, cacheDir, home, killGrace, wait, mux, execHook, reaper, cacheSize);
    }

    public DaemonOptions withMux(MuxConfig config) {
        return new DaemonOptions(runDir, cacheDir, home, killGrace, fdStreamWait, config, execHook, reaper, cacheSize);
    }

    /** How children are launched: the hook at the gate and who reaps them. */
    public DaemonOptions withLauncher(Spawner.ExecHook hook, Reaper newReaper) {
        return new DaemonOptions(runDir, cacheDir, home, killGrace, fdStreamWait, mux, hook, newReaper, cacheSize);
    }
}
