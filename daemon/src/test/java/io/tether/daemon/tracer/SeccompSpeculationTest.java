package io.tether.daemon.tracer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The injected filter must not cost untrapped code its speed: on kernels whose SSB or spectre_v2_user
 * mitigation is in "seccomp" mode (the x86 default before 5.16) a filter without
 * SECCOMP_FILTER_FLAG_SPEC_ALLOW forces those mitigations on in the tracee, slowing every instruction
 * it runs. A tracee's speculation state (Speculation_Store_Bypass, SpeculationIndirectBranch) must read
 * as a native process's. (Where the mode is "prctl" or the CPU is not
 * affected both read alike with or without the flag: this checks the hosts where it matters.)
 */
class SeccompSpeculationTest {
    @TempDir Path tmp;

    @Test
    void aTraceeKeepsTheSpeculationStateOfANativeProcess() throws Exception {
        assumeTrue(new ProcessBuilder("id", "-u").start().inputReader().readLine().equals("0"), "needs root");
        String nativeState = speculationLines(Files.readString(Path.of("/proc/self/status")));
        assumeTrue(!nativeState.isEmpty(), "the kernel reports no speculation state");
        TracedRun t = new TracedRun(tmp);
        TracedRun.Result r = t.sh("cat /proc/self/status");
        assertEquals(0, r.status().exitCode(), r.output());
        assertTrue(r.output().contains("Seccomp:\t2"), "the tracee must run under the filter:\n" + r.output());
        assertEquals(nativeState, speculationLines(r.output()));
    }

    private static String speculationLines(String status) {
        StringBuilder b = new StringBuilder();
        for (String line : status.split("\n")) if (line.startsWith("Speculation")) b.append(line).append('\n');
        return b.toString();
    }
}
