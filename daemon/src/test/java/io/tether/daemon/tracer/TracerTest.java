package io.tether.daemon.tracer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TracerTest {
    @TempDir Path tmp;
    TracedRun t;

    @BeforeEach
    void rootfs() throws Exception {
        t = new TracedRun(tmp);
    }

    @Test
    void exitCodeOfTheRootPropagates() throws Exception {
        TracedRun.Result r = t.sh("exit 3");
        assertEquals(3, r.exitCode(), r.output());
    }

    @Test
    void catReadsTheGuestFileNotTheHostOne() throws Exception {
        TracedRun.Result r = t.run("/bin/cat", "/etc/passwd");
        assertEquals("root:x:0:0:guest root:/root:/bin/sh\n", r.output());
        assertEquals(0, r.exitCode());
    }
}
