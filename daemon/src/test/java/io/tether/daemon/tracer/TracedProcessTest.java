package io.tether.daemon.tracer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.posix.LibC;
import io.tether.posix.WaitStatus;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TracedProcessTest {
    @TempDir Path tmp;

    @Test
    void runsAGuestCommandInAGuestDirectoryWithTheGivenFds() throws Exception {
        TracedRun t = new TracedRun(tmp);
        Files.createDirectories(t.rootfs.resolve("home/user"));
        Path out = Files.createFile(tmp.resolve("out"));
        int fd = LibC.open(out.toString(), LibC.O_WRONLY, 0);
        try (TracedProcess p = TracedProcess.start(t.view(), t.runDir, List.of("sh", "-c", "pwd; exit 7"), TracedRun.ENV,
                "/home/user", Map.of(1, fd), null, 022)) {
            LibC.closeQuietly(fd);
            WaitStatus status = p.exit().get(30, TimeUnit.SECONDS);
            assertEquals(7, status.exitCode());
        }
        assertEquals("/home/user\n", Files.readString(out));
    }

    @Test
    void aMissingCommandFailsBeforeAnythingStarts() throws Exception {
        TracedRun t = new TracedRun(tmp);
        ErrnoException e = assertThrows(ErrnoException.class, () -> TracedProcess.start(t.view(), t.runDir,
                List.of("no-such-command"), TracedRun.ENV, "/", Map.of(), null, 022));
        assertEquals(Errno.ENOENT, e.errno());
        assertEquals(Errno.ENOTDIR, assertThrows(ErrnoException.class, () -> TracedProcess.start(t.view(), t.runDir,
                List.of("sh"), TracedRun.ENV, "/etc/passwd", Map.of(), null, 022)).errno());
    }
}
