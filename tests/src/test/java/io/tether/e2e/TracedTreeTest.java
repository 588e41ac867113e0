package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Issue 5, section 3: fds and signals through traced trees ({@code -r ROOTFS}, every guest process under
 * the tracer), on target {@code local} and on an ssh target whose daemon runs in its own network and mount
 * namespaces and sees the rootfs only through the client ("No NFS"). The rootfs is a busybox tree with the
 * host's GNU make copied in.
 */
@Timeout(600)
class TracedTreeTest {
    private static final Duration T = Duration.ofSeconds(240);
    /** The host make's -j, and so the bound on host and target jobs together. */
    private static final int SLOTS = 4;
    private static final int HOST_JOBS = 4;
    private static final int TARGET_JOBS = 8;

    static GuestRootfs fs;
    static TargetHost target;

    @BeforeAll
    static void setUp() throws IOException {
        assumeTrue(TargetHost.onPath("make"), "GNU make is not installed");
        fs = GuestRootfs.build("TracedTreeTest", false);
        fs.copyWithLibraries(Path.of(Exec.check(GuestRootfs.T, "sh", "-c", "command -v make").out().strip()), "/usr/bin/make");
        fs.link("bin/setsid", "busybox");
        Path hostOnly = Files.createDirectories(fs.dir.resolve("host-only"));
        Files.writeString(hostOnly.resolve("secret"), "the daemon's mount namespace covers this\n");
        // No NFS: the daemon sees neither the rootfs nor host-only; the guest tree comes from the client.
        target = TargetHost.setup("TracedTreeTest").hide(fs.root, hostOnly).start();
    }

    @AfterAll
    static void tearDown() {
        if (target != null) target.close();
    }

    @AfterEach
    void noSessionLeftOnTheTarget() {
        if (target == null) return;
        if (!Poll.within(Duration.ofSeconds(8), () -> target.targetProcesses().isEmpty())) {
            Map<Long, String> left = target.targetProcesses();
            left.keySet().forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
            throw new AssertionError("processes left on the target after the test: " + left);
        }
    }

    /**
     * A host {@code make -j4} runs 4 host jobs and, as one recipe, a traced target make of 8 jobs that has
     * no -j of its own: the jobserver pipe pair (fds named in MAKEFLAGS) reaches it through tether. Each
     * job leaves a marker while it runs and waits (no fixed sleep) until 4 jobs run at once, the first to
     * see them releasing the others, or every job has started; a host job also ends as soon as it sees a
     * target job, handing its slot back while the target make has jobs waiting, and a target job counts
     * 4 at once only with another target job among them (a slow host poll must not look like a serial
     * target make). Then it logs which jobs it saw running. Shared slots show as: never more than 4 jobs at once across both sides, host and target
     * jobs at once, target jobs running side by side (with only its own implicit slot the target make would
     * run one at a time; without the jobserver it runs -j1, with a warning), no job waiting in vain for a
     * slot, and no jobserver warning.
     */
    @ParameterizedTest
    @ValueSource(strings = {"local", "ssh"})
    void aHostMakeSharesItsJobSlotsWithATracedTargetMake(String where) throws IOException {
        // In /dev/shm, which both sides see directly (the guest's /dev is the target's, and the daemon's
        // mount namespace shares this tmpfs): the jobs' markers are a measurement, not the files under test.
        Path jobs = Files.createTempDirectory(Path.of("/dev/shm"), "tether-jobs-" + where + "-");
        try {
            countSharedSlots(where, jobs);
        } finally {
            Exec.run(GuestRootfs.T, "rm", "-rf", jobs.toString());
        }
    }

    private static void countSharedSlots(String where, Path jobs) throws IOException {
        for (String d : List.of("run", "done", "go")) Files.createDirectories(jobs.resolve(d));
        int total = HOST_JOBS + TARGET_JOBS;
        Path job = jobs.resolve("job.sh");
        Files.writeString(job, String.join("\n",
                "#!/bin/sh",
                "# job.sh NAME: a marker in run/ while it runs. It waits until it sees " + SLOTS + " running (and releases",
                "# them all through go/), is released so, or all " + total + " have started; then logs whom it saw.",
                "# Globs and builtins, not ls and wc: a loop of execs would be slow under the tracer.",
                "d=${0%/*}; me=$1",
                ": > \"$d/run/$me\"",
                "i=0",
                "while :; do",
                "  set -- \"$d\"/run/*; n=$#; running=\"$*\"",
                "  set -- \"$d\"/done/*; f=$#; [ -e \"$1\" ] || f=0",
                "  # A host job ends once it sees a target job: its slot goes back for the target make to take.",
                "  case $me in host-*) case \"$running\" in *target-*) why=met; break;; esac;; esac",
                "  # A target job alone among host jobs waits for them to leave: released by a full house of one",
                "  # target and three host jobs, the target make would show its jobs one at a time however it ran them.",
                "  set -- \"$d\"/run/target-*; tn=$#; [ -e \"$1\" ] || tn=0",
                "  case $me in target-*) [ \"$tn\" -ge 2 ] && house=$n || house=0;; *) house=$n;; esac",
                "  if [ \"$house\" -ge " + SLOTS + " ]; then why=full; for j in $running; do : > \"$d/go/${j##*/}\"; done; break; fi",
                "  if [ -e \"$d/go/$me\" ]; then why=released; break; fi",
                "  if [ $((n + f)) -ge " + total + " ]; then why=last; break; fi",
                "  # Every target job started: the last ones end without waiting for a host job, whose token the",
                "  # target make may hold unread (README: tokens go to the target as soon as the host pipe has them).",
                "  case $me in target-*)",
                "    set -- \"$d\"/run/target-*; t=$#; set -- \"$d\"/done/target-*; [ -e \"$1\" ] && t=$((t + $#))",
                "    if [ \"$t\" -ge " + TARGET_JOBS + " ]; then why=last; break; fi;;",
                "  esac",
                "  i=$((i + 1)); if [ $i -ge 3000 ]; then why=timeout; break; fi",
                "  sleep 0.05",
                "done",
                "echo \"$me $why:\" $running >> \"$d/log\"",
                ": > \"$d/done/$me\"; rm \"$d/run/$me\"", ""));
        assertTrue(job.toFile().setExecutable(true, false));
        Files.writeString(jobs.resolve("target.mk"), "JOBS := " + names("t", TARGET_JOBS) + "\nall: $(JOBS)\n$(JOBS):\n\t@"
                + job + " target-$@\n");
        List<String> guestMake = List.of("make", "-f", jobs.resolve("target.mk").toString());
        Runner runner = runner(where, guestMake);
        Files.writeString(jobs.resolve("Makefile"), "HOST := " + names("h", HOST_JOBS) + "\nall: remote $(HOST)\n"
                // '+': a recursive make's recipe, which GNU make hands the jobserver fds.
                + "remote:\n\t+@" + Exec.quote(runner.argv).replace("$", "$$") + "\n"
                + "$(HOST):\n\t@" + job + " host-$@\n");

        ProcessBuilder pb = new ProcessBuilder("make", "-j" + SLOTS).directory(jobs.toFile()).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().putAll(runner.env);
        pb.environment().remove("MAKEFLAGS");
        pb.environment().remove("MAKELEVEL");
        Exec.Result r;
        try (Exec.Running make = Exec.start(pb)) {
            r = make.await(T);
        }
        assertEquals(0, r.exit(), r::toString);
        assertFalse(r.out().contains("jobserver"), () -> "a jobserver warning: " + r.out());

        List<String> log = Files.readAllLines(jobs.resolve("log"));
        String all = String.join("\n", log);
        assertEquals(total, log.size(), all);
        List<List<String>> seen = log.stream().map(l -> Stream.of(l.substring(l.indexOf(':') + 1).trim().split(" +"))
                .map(j -> j.substring(j.lastIndexOf('/') + 1)).toList()).toList();
        assertFalse(all.contains(" timeout:"), () -> "jobs waited in vain (a slot never came):\n" + all);
        assertTrue(seen.stream().allMatch(s -> s.size() <= SLOTS), () -> "more than " + SLOTS + " jobs at once:\n" + all);
        assertTrue(seen.stream().anyMatch(s -> count(s, "host-") > 0 && count(s, "target-") > 0),
                () -> "never host and target jobs at once:\n" + all);
        assertTrue(seen.stream().anyMatch(s -> count(s, "target-") >= 2), () -> "the target make ran one job at a time:\n" + all);
        try (Stream<Path> done = Files.list(jobs.resolve("done"))) {
            assertEquals(total, done.count(), all);
        }
    }

    /**
     * SIGTERM to tether ends a traced tree with grandchildren: one in the root's group, one that ignores
     * TERM, one in a session of its own (setsid, out of reach of a group or session signal). tether gives
     * 143 (the root's death by TERM) and no process of the tree is left, on the target or here.
     */
    @ParameterizedTest
    @ValueSource(strings = {"local", "ssh"})
    void sigtermToTetherEndsTheWholeTracedTree(String where) {
        String marker = "31." + ProcessHandle.current().pid() % 1000 + System.nanoTime() % 100000;
        String script = "(trap '' TERM; sleep " + marker + "1) & setsid sleep " + marker + "2 &"
                + " sh -c 'sleep " + marker + "3 & wait' & echo ready; wait";
        Runner runner = runner(where, List.of("sh", "-c", script));
        ProcessBuilder pb = new ProcessBuilder(runner.argv).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().putAll(runner.env);
        try (Exec.Running tether = Exec.start(pb)) {
            SignalForwardingTest.awaitOutput(tether, "ready\n");
            Poll.until(Duration.ofSeconds(30), () -> sleeps(marker).size() == 3, () -> "the three sleeps: " + sleeps(marker));
            if (where.equals("ssh")) {
                assertEquals(3, target.targetProcesses().values().stream().filter(c -> c.startsWith("sleep " + marker)).count(),
                        () -> "not on the target: " + target.targetProcesses());
            }
            SignalForwardingTest.kill("TERM", tether.pid());
            Exec.Result r = tether.await(T);
            assertEquals(143, r.exit(), r::toString);
            assertEquals("ready\n", r.out(), r::toString);
            Poll.until(Duration.ofSeconds(5), () -> treeOf(marker).isEmpty(), () -> "left behind: " + treeOf(marker));
        }
    }

    /**
     * Ctrl-C typed at a host terminal reaches the foreground process group of a traced tree on the ssh
     * target through its pty (target {@code local}: FrontDoorLocalTest; untraced: PtyTest): the root, its
     * child shell and the grandchild sleep all stop, 130, and nothing is left on the target.
     */
    @org.junit.jupiter.api.Test
    void ctrlCThroughThePtyStopsATracedForegroundTreeOnTheTarget() {
        String marker = "32." + ProcessHandle.current().pid() % 1000 + System.nanoTime() % 100000;
        TetherRun run = target.run("sh", "-c", "echo READY; sh -c 'sleep " + marker + "; echo child not interrupted'; echo not interrupted")
                .option("-r", fs.root.toString(), "-e", "PATH=/bin:/usr/bin");
        String script = "trap 'echo LOCAL-SIGINT' INT\n" + run.shellCommand() + "\nrc=$?\necho\necho \"EXIT=$rc\"\nsleep 600\n";
        try (Tmux tmux = Tmux.start(target.dir, script, 100, 30, run.environment())) {
            tmux.await("^READY", T);
            Poll.until(T, () -> sleeps(marker).size() == 1, () -> "the traced sleep never started: " + treeOf(marker));
            tmux.sendKeys("C-c");
            tmux.await("^EXIT=130$", T);
            String screen = tmux.screen();
            assertFalse(screen.contains("not interrupted") || screen.contains("LOCAL-SIGINT"), screen);
            Poll.until(Duration.ofSeconds(5), () -> target.targetProcesses().isEmpty(), () -> "left on the target: " + target.targetProcesses());
        }
    }

    /** Every process here whose command line names {@code marker} (the daemon's namespace shares our pids). */
    private static List<String> treeOf(String marker) {
        return ProcessHandle.allProcesses().map(p -> TargetHost.cmdline(p.pid())).filter(c -> c.contains(marker)).toList();
    }

    private static List<String> sleeps(String marker) {
        return treeOf(marker).stream().filter(c -> c.startsWith("sleep " + marker)).toList();
    }

    /** A traced run of guest {@code argv}: tether's argv and the environment it needs. */
    private record Runner(List<String> argv, Map<String, String> env) {}

    private static Runner runner(String where, List<String> argv) {
        List<String> opts = List.of("-r", fs.root.toString(), "-e", "PATH=/bin:/usr/bin", "-e", "LC_ALL=C");
        if (where.equals("ssh")) {
            TetherRun run = target.run(argv.toArray(String[]::new)).option(opts.toArray(String[]::new));
            return new Runner(run.argv(), run.environment());
        }
        List<String> cmd = new ArrayList<>(List.of(TetherHome.tether().toString(), "run"));
        cmd.addAll(opts);
        cmd.add("--");
        cmd.addAll(argv);
        return new Runner(cmd, Map.of());
    }

    private static String names(String prefix, int n) {
        return IntStream.rangeClosed(1, n).mapToObj(i -> prefix + i).collect(Collectors.joining(" "));
    }

    private static long count(List<String> jobs, String prefix) {
        return jobs.stream().filter(j -> j.startsWith(prefix)).count();
    }
}
