package io.tether.daemon.mirror;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tether.daemon.Tetherd;
import io.tether.daemon.session.DaemonOptions;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class CacheOptionsTest {
    @Test
    void aBadCacheSizeIsAUsageError() {
        assertEquals(2, Tetherd.run("--stdio", "--cache-size", "lots"));
        assertEquals(2, Tetherd.run("--stdio", "--cache-size", "0"));
    }

    @Test
    void theCacheDirectoryDefaultsPerUserAndTheSizeTo2G() {
        DaemonOptions defaults = DaemonOptions.defaults();
        assertEquals(MirrorCache.defaultDir(), defaults.mirrorCacheDir());
        assertEquals(2L << 30, defaults.cacheSize());
        assertEquals(Path.of("/x/c"), defaults.withCacheDir(Path.of("/x/c")).mirrorCacheDir());
        assertEquals(512L << 20, defaults.withCacheSize(MirrorCache.parseSize("512M")).cacheSize());
        if (MirrorFs.isRoot()) assertEquals(Path.of("/var/cache/tetherd"), MirrorCache.defaultDir());
    }
}
