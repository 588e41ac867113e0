package io.tether.daemon.tracer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tether.daemon.guest.Bind;
import io.tether.daemon.guest.GuestView;
import io.tether.daemon.tracer.arch.Arches;
import io.tether.daemon.tracer.handler.Handlers;
import io.tether.daemon.tracer.hostexec.ElfMachine;
import io.tether.daemon.tracer.hostexec.HostExec;
import io.tether.daemon.tracer.hostexec.HostExecHandler;
import io.tether.daemon.tracer.hostexec.HostExecPolicy;
import io.tether.daemon.tracer.hostexec.HostExecutor;
import io.tether.daemon.tracer.hostexec.LocalHostExecutor;
import io.tether.daemon.tracer.hostexec.ParkingProgram;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Host execution with the local executor: a guest (busybox) shell runs the host's own tools, bound at
 * /host/bin, as if they were its children, and sees their bytes, exit codes, deaths and signals.
 */
class HostExecTest {
    @TempDir
    Path tmp;
    private TracedRun run;
    private GuestView view;
    private LocalHostExecutor executor;

    @BeforeEach
    void setUp() throws IOException {
        run = new TracedRun(tmp);
        for (String tool : List.of("tr", "sh", "sleep", "true")) {
            assumeTrue(Files.isExecutable(Path.of("/usr/bin", tool)), "host /usr/bin/" + tool + " missing");
        }
        view = GuestView.builder(run.rootfs.toString()).bind(new Bind("/usr/bin", "/host/bin"))
                .glueDir(run.work.resolve("glue").toString()).build();
        executor = new LocalHostExecutor(view, run.runDir);
    }

    @AfterEach
    void tearDown() {
        if (executor != null) executor.close();
    }

    private TracedRun.Result sh(String script, String... globs) throws Exception {
        return shParkedAt(ParkingProgram.install(run.runDir, Arches.X86_64), script, globs);
    }

    /** {@code parking}: the parking program, or null to park the tracee in its old program. */
    private TracedRun.Result shParkedAt(String parking, String script, String... globs) throws Exception {
        int machine = Arches.X86_64.elfMachine();
        HostExec hostExec = new HostExec(HostExecPolicy.of(List.of(globs), machine, machine), executor, parking);
        Handlers handlers = HostExecHandler.install(Handlers.standard(Arches.X86_64), hostExec);
        return run.run(view, handlers, "/", c -> { }, "/bin/sh", "-c", script);
    }

    @Test
    void aPipelineThroughAHostToolGivesTheRightBytesAndExitCodes() throws Exception {
        TracedRun.Result r = sh("set -o pipefail; echo hello | /host/bin/tr a-z A-Z | cat; echo rc=$?;"
                + " echo x | /host/bin/sh -c 'cat >/dev/null; exit 3' | cat; echo rc=$?", "/host/bin/*");
        assertEquals("HELLO\nrc=0\nrc=3\n", r.output());
    }

    @Test
    void theHostExitCodeAndDeathBySignalBecomeTheTraceesStatus() throws Exception {
        TracedRun.Result r = sh("/host/bin/sh -c 'exit 42'; echo $?; /host/bin/sh -c 'kill -TERM $$'; echo $?;"
                + " /host/bin/sh -c 'kill -SEGV $$'; echo $?; /host/bin/sh -c 'kill -KILL $$'; echo $?", "/host/bin/sh");
        // busybox sh names the signal that killed a child, as for any local child.
        assertEquals("42\nTerminated\n143\nSegmentation fault\n139\nKilled\n137\n", r.output());
    }

    @Test
    void theRootItselfEndsAsItsHostChildDid() throws Exception {
        TracedRun.Result r = sh("exec /host/bin/sh -c 'echo from host; kill -INT $$'", "/host/bin/*");
        assertEquals("from host\n", r.output());
        assertEquals(2, r.status().termSignal());
    }

    /** Host side: a script that traps TERM (exit 7) and then creates the ready file named by its $0. */
    private static final String TRAPS_TERM = "/host/bin/sh -c 'trap \"exit 7\" TERM; : > \"$0\"; while :; do /usr/bin/sleep 0.05; done' ";
    /** Guest side: waits (bounded) for /tmp/ready, which the host program creates when it is ready. */
    private static final String AWAIT_READY = " i=0; until [ -e /tmp/ready ] || [ $i -gt 1000 ]; do sleep 0.02; i=$((i+1)); done;";

    private String ready() throws IOException {
        Path ready = run.rootfs.resolve("tmp/ready");
        Files.deleteIfExists(ready);
        return ready.toString();
    }

    @Test
    void aSignalSentToTheTargetPidReachesTheHostProcess() throws Exception {
        TracedRun.Result r = sh(TRAPS_TERM + ready() + " & p=$!;" + AWAIT_READY + " kill -TERM $p; wait $p; echo rc=$?", "/host/bin/sh");
        assertEquals("rc=7\n", r.output());
    }

    @Test
    void sigkillOfTheTargetPidKillsTheHostProcess() throws Exception {
        String marker = "31.4159" + ProcessHandle.current().pid();
        TracedRun.Result r = sh("/host/bin/sh -c ': > \"$0\"; exec /usr/bin/sleep " + marker + "' " + ready() + " & p=$!;" + AWAIT_READY
                + " kill -KILL $p; wait $p; echo rc=$?", "/host/bin/sh");
        // ash prints "Killed" only if it noticed the death before `wait` (a race in the shell, not ours).
        assertEquals("rc=137\n", r.output().replaceFirst("^Killed\n", ""), r::output);
        Poll.until(5000, () -> ProcessHandle.allProcesses().noneMatch(p -> p.info().commandLine().orElse("").contains(marker)));
        assertFalse(ProcessHandle.allProcesses().anyMatch(p -> p.info().commandLine().orElse("").contains(marker)),
                "the host sleep outlived its target process");
    }

    @Test
    void extraFdsAreWiredToTheHostProgramAtTheSameNumbers() throws Exception {
        TracedRun.Result r = sh("/host/bin/sh -c 'echo to three >&3; echo to four >&4' 3>/tmp/three 4>>/tmp/four;"
                + " cat /tmp/three /tmp/four", "/host/bin/sh");
        assertEquals("to three\nto four\n", r.output());
    }

    @Test
    void anExecOutsideTheAllowlistRunsOnTheTarget() throws Exception {
        // The host's dynamic true cannot run in a busybox guest (no loader there): 127 shows where it ran.
        TracedRun.Result r = sh("/host/bin/true; echo $?; /host/bin/sh -c 'echo host'; echo done", "/host/bin/sh");
        assertEquals("127\nhost\ndone\n", r.output().replaceAll("(?m)^.*not found\n", ""));
    }

    @Test
    void aMatchingProgramInTheTargetsOwnDevIsRefusedWithEacces() throws Exception {
        Path script = Path.of("/dev/shm/tether-hostexec-" + ProcessHandle.current().pid() + ".sh");
        assumeTrue(Files.isDirectory(script.getParent()), "no /dev/shm");
        Files.writeString(script, "#!/bin/sh\necho ran\n");
        script.toFile().setExecutable(true);
        try {
            TracedRun.Result refused = sh(script + " 2>/dev/null; echo $?", "/dev/shm/*");
            assertEquals("126\n", refused.output());
            TracedRun.Result onTarget = sh(script + "; echo $?", "/host/bin/*");
            assertEquals("ran\n0\n", onTarget.output());
        } finally {
            Files.deleteIfExists(script);
        }
    }

    @Test
    void withoutAnExecutorMatchingExecsFailWithEaccesAndTheOthersRun() throws Exception {
        int machine = Arches.X86_64.elfMachine();
        HostExec hostExec = new HostExec(HostExecPolicy.of(List.of("/host/bin/*"), machine, machine),
                HostExecutor.unavailable("no host executor over the channel yet"));
        Handlers handlers = HostExecHandler.install(Handlers.standard(Arches.X86_64), hostExec);
        TracedRun.Result r = run.run(view, handlers, "/", c -> { }, "/bin/sh", "-c", "/host/bin/tr a b 2>/dev/null; echo $?; echo ran");
        assertEquals("126\nran\n", r.output());
    }

    @Test
    void anElfOfTheHostsMachineGoesToTheHostWhenTheTargetsDiffers() throws Exception {
        // Pretend the target is an aarch64 board: the host's x86_64 tools then go to the host unlisted.
        HostExec hostExec = new HostExec(HostExecPolicy.of(List.of(), ElfMachine.EM_X86_64, ElfMachine.EM_AARCH64), executor);
        Handlers handlers = HostExecHandler.install(Handlers.standard(Arches.X86_64), hostExec);
        TracedRun.Result r = run.run(view, handlers, "/", c -> { }, "/bin/sh", "-c", "echo abc | /host/bin/tr a-c x-z");
        assertEquals("xyz\n", r.output());
    }

    @Test
    void withoutTheParkingProgramTheTraceeWaitsInItsOldProgramAndEndsAlike() throws Exception {
        TracedRun.Result r = shParkedAt(null, "echo hi | /host/bin/tr a-z A-Z; /host/bin/sh -c 'exit 3'; echo $?;"
                + " /host/bin/sh -c 'kill -TERM $$'; echo $?; /host/bin/sh -c 'echo to three >&3' 3>/tmp/three; cat /tmp/three;"
                + TRAPS_TERM + ready() + " & p=$!;" + AWAIT_READY + " kill $p; wait $p; echo $?", "/host/bin/*");
        assertEquals("HI\n3\nTerminated\n143\nto three\n7\n", r.output());
    }

    @Test
    void aParkingProgramThatCannotBeExecutedFallsBackToWaitingInTheOldProgram() throws Exception {
        TracedRun.Result r = shParkedAt(run.work.resolve("no-such-parking-program").toString(),
                "echo hi | /host/bin/tr a-z A-Z; /host/bin/sh -c 'exit 5'; echo $?; /host/bin/sh -c 'kill -TERM $$'; echo $?", "/host/bin/*");
        assertEquals("HI\n5\nTerminated\n143\n", r.output());
    }

    @Test
    void aVforkParentIsReleasedWhileItsChildRunsOnTheHost() throws Exception {
        TracerProgramsTest.compile(tmp, run, "hostexec_spawn.c", "hostexec_spawn");
        TracedRun.Result r = sh("/bin/hostexec_spawn /host/bin/sh -c '/usr/bin/head -c 300000 /dev/zero; exit 4'", "/host/bin/sh");
        assertEquals("read 300000, WEXITSTATUS 4\n", r.output());
    }

    @Test
    void theParkedProcessShowsTheGuestProgramAndItsArgv() throws Exception {
        TracedRun.Result r = sh("/host/bin/sleep 30 & p=$!;"
                + " i=0; until [ \"$(readlink /proc/$p/exe)\" = /host/bin/sleep ] || [ $i -gt 1000 ]; do sleep 0.02; i=$((i+1)); done;"
                + " readlink /proc/$p/exe; tr '\\0' ' ' </proc/$p/cmdline; echo; kill $p; wait $p; echo rc=$?", "/host/bin/sleep");
        assertEquals("/host/bin/sleep\n/host/bin/sleep 30 \nTerminated\nrc=143\n", r.output());
    }

    @Test
    void filesAndSymlinksTheHostProgramChangesAreSeenByTheGuestAfterIt() throws Exception {
        TracedRun.Result r = sh("cd /tmp; echo A > a; echo B > b; ln -s a link; cat link; test -e made || echo absent;"
                + " /host/bin/sh -c 'echo made here > made; ln -sfn b link'; cat made; cat link", "/host/bin/sh");
        assertEquals("A\nabsent\nmade here\nB\n", r.output());
    }

    /** Bounded polling without a dependency on the e2e module's helper. */
    private static final class Poll {
        static void until(long millis, java.util.function.BooleanSupplier condition) throws InterruptedException {
            long end = System.currentTimeMillis() + millis;
            while (!condition.getAsBoolean() && System.currentTimeMillis() < end) Thread.sleep(20);
        }
    }
}
