package io.tether.daemon.tracer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The point of the injected seccomp filter, counted rather than timed: 200k untrapped getppid
 * calls cause no ptrace stop at all, while each trapped stat does. (Speed is measured in
 * benchmarks, never asserted in unit tests; microbench.c prints the per-call figures.)
 */
class SeccompStopCountTest {
    @TempDir Path tmp;

    @Test
    void untrappedSyscallsCauseNoStopsAndTrappedOnesDo() throws Exception {
        assumeTrue(new ProcessBuilder("id", "-u").start().inputReader().readLine().equals("0"), "needs root");
        TracedRun t = new TracedRun(tmp);
        TracerProgramsTest.compile(tmp, t, "untrapped_loop.c", "untrapped_loop");
        TracedRun.Result r = t.run("/bin/untrapped_loop");
        assertEquals(0, r.status().exitCode(), r.output());
        // Start-up (exec, filter injection, the loader's opens) costs a few dozen stops;
        // one stop per getppid would be 200,000.
        assertTrue(r.stops() >= 10, "the 10 stats must be trapped, saw " + r.stops() + " stops");
        assertTrue(r.stops() < 1_000, "untrapped calls must not stop: saw " + r.stops() + " stops");
    }
}
