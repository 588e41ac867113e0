package io.tether.daemon.tracer;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Guards the point of the seccomp filter: untrapped syscalls must stay near native speed (a filter
 * that trapped everything would make getppid ~30x slower). Prints both figures for the record.
 */
class TracerSpeedTest {
    private static final Logger log = LoggerFactory.getLogger(TracerSpeedTest.class);
    @TempDir Path tmp;

    @Test
    void untrappedSyscallsRunNearNativeSpeed() throws Exception {
        assumeTrue(new ProcessBuilder("id", "-u").start().inputReader().readLine().equals("0"), "chroot needs root");
        TracedRun t = new TracedRun(tmp);
        TracerProgramsTest.compile(tmp, t, "microbench.c", "microbench");
        Process p = new ProcessBuilder("chroot", t.rootfs.toString(), "/bin/microbench").redirectErrorStream(true).start();
        String nativeOut = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assumeTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, nativeOut);
        String traced = t.run("/bin/microbench").output();
        long nativeGetppid = figure(nativeOut, "getppid"), tracedGetppid = figure(traced, "getppid");
        log.info("200k getppid: native {} ns, traced {} ns; 200k stat: native {} ns, traced {} ns",
                nativeGetppid, tracedGetppid, figure(nativeOut, "stat"), figure(traced, "stat"));
        assertTrue(tracedGetppid < 10 * nativeGetppid + 500, "getppid traced " + tracedGetppid + " ns vs native " + nativeGetppid);
    }

    private static long figure(String out, String name) {
        Matcher m = Pattern.compile(name + " (\\d+) ns").matcher(out);
        assertTrue(m.find(), out);
        return Long.parseLong(m.group(1));
    }
}
