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
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.LoggerFactory;

/**
 * Issue 6, section 3 "CPU transparency on the host": after {@code tether binfmt install --arch aarch64}, an aarch64
 * program executed in a host shell runs on the target, with its stdio, exit status, signals and the host cwd.
 *
 * <p>The "device" is a tetherd in a network and mount namespace of its own (No NFS: the arm64 rootfs and the build
 * directory are hidden from it) that runs aarch64 programs under qemu-aarch64-static through {@code -q}; the rootfs is
 * tests/rootfs/make-foreign-rootfs.sh's. The handler is never registered machine-wide: each test's shell runs in
 * {@code unshare --user --map-root-user --mount} with a binfmt_misc instance of its own (Linux 6.7+), in the client's
 * network namespace, so it reaches the daemon while the machine's (and the daemon's) binfmt_misc never sees it.
 * The build directory is bound at the same path ({@code -b WORK}), the Scratchbox set-up.
 */
@Tag("slow")
@Timeout(value = 20, unit = TimeUnit.MINUTES)
class BinfmtE2eTest {
    private static final Duration T = Duration.ofMinutes(3);
    private static final String QEMU = "qemu-aarch64-static";
    private static final String CC = "aarch64-linux-gnu-gcc";

    static Path rootfs;
    static Path work;
    static Path handlers;
    static TargetHost target;

    @BeforeAll
    @Timeout(value = 25, unit = TimeUnit.MINUTES)
    static void setUp() throws IOException {
        assumeTrue("0".equals(Exec.run(Duration.ofSeconds(10), "id", "-u").out().trim()), "needs root (namespaces, debootstrap)");
        assumeTrue(TargetHost.onPath(QEMU), QEMU + " is not installed (apt-get install qemu-user-static; bin/test does)");
        assumeTrue(TargetHost.onPath(CC), "no " + CC + " (apt-get install gcc-aarch64-linux-gnu; bin/test does)");
        assumeTrue(TargetHost.onPath("unshare"), "no unshare");
        Exec.Result sandbox = Exec.run(Duration.ofSeconds(20), "unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc && test -e /proc/sys/fs/binfmt_misc/register");
        assumeTrue(sandbox.exit() == 0, () -> "no binfmt_misc of a user namespace's own (Linux 6.7+): " + sandbox);
        TetherHome.ensureBuilt();
        Exec.Result made = Exec.run(Duration.ofMinutes(20), TetherHome.root().resolve("tests/rootfs/make-foreign-rootfs.sh").toString(), "arm64");
        assumeTrue(made.exit() != 3, () -> "no arm64 rootfs here: " + made.err().strip());
        assertEquals(0, made.exit(), () -> "make-foreign-rootfs.sh failed: " + made);
        String[] lines = made.out().strip().split("\n");
        rootfs = Path.of(lines[lines.length - 1]);
        work = TetherHome.workDir("binfmt");
        handlers = TetherHome.workDir("binfmt-handlers");
        Files.writeString(work.resolve("prog.c"), """
                #include <signal.h>
                #include <stdio.h>
                #include <stdlib.h>
                #include <string.h>
                #include <unistd.h>
                #include <sys/utsname.h>
                int main(int argc, char **argv) {
                    const char *mode = argc > 1 ? argv[1] : "";
                    if (!strcmp(mode, "upcase")) {
                        for (int c; (c = getchar()) != EOF; ) putchar(c >= 'a' && c <= 'z' ? c - 32 : c);
                        return 0;
                    }
                    if (!strcmp(mode, "exit")) return atoi(argv[2]);
                    if (!strcmp(mode, "usr1")) raise(SIGUSR1);
                    if (!strcmp(mode, "wait")) {
                        puts("ready");
                        fflush(stdout);
                        pause();
                    }
                    char cwd[4096], line[512];
                    struct utsname u;
                    uname(&u);
                    /* /proc/net/dev lists the reading process's network namespace: the target's has "vt". */
                    int onTarget = 0;
                    FILE *net = fopen("/proc/net/dev", "r");
                    while (net && fgets(line, sizeof line, net)) onTarget |= strstr(line, "vt:") != NULL;
                    printf("%s on %s, target %s, cwd %s, args", argv[0], u.machine, onTarget ? "yes" : "no", getcwd(cwd, sizeof cwd));
                    for (int i = 1; i < argc; i++) printf(" [%s]", argv[i]);
                    printf("\\n");
                    fprintf(stderr, "to stderr\\n");
                    return 0;
                }
                """);
        Exec.check(Duration.ofMinutes(2), CC, "-O1", "-o", work.resolve("prog").toString(), work.resolve("prog.c").toString());
        Files.createDirectories(work.resolve("sub"));
        target = TargetHost.setup("binfmt").hide(rootfs.getParent(), work).start();
        assertFalse(target.daemonSees(rootfs), "the daemon sees the rootfs");
        assertFalse(target.daemonSees(work.resolve("prog")), "the daemon sees the build directory");
    }

    @AfterAll
    static void tearDown() {
        if (target != null) target.close();
    }

    /** Runs {@code script} in bash in a user namespace with its own binfmt_misc holding our aarch64 handler, in WORK. */
    private static Exec.Result sandboxed(Duration timeout, String script) {
        String prelude = String.join("\n",
                "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || exit 90",
                "\"$TETHER\" binfmt install --arch aarch64 -t \"$URL\" -i \"$KEY\" --known-hosts \"$KH\" -q " + QEMU
                        + " -r \"$ROOTFS\" -b \"$WORK\" --dir \"$HANDLERS\" >/dev/null || exit 91",
                "cd \"$WORK\"", "");
        List<String> argv = target.inHostNs(List.of("unshare", "--user", "--map-root-user", "--mount", "bash", "-c", prelude + script));
        ProcessBuilder pb = new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().putAll(target.clientEnv());
        pb.environment().put("TETHER", TetherHome.tether().toString());
        pb.environment().put("URL", target.url());
        pb.environment().put("KEY", target.clientKey.toString());
        pb.environment().put("KH", target.knownHosts.toString());
        pb.environment().put("ROOTFS", rootfs.toString());
        pb.environment().put("WORK", work.toString());
        pb.environment().put("HANDLERS", handlers.toString());
        try (Exec.Running r = Exec.start(pb)) {
            return r.await(timeout);
        }
    }

    @Test
    void aCrossCompiledProgramRunsOnTheTargetFromAHostShellWithStdioCwdArgsAndExitStatus() {
        Exec.Result r = sandboxed(T, String.join("\n",
                "./prog one 'two words' ''; echo \"status $?\"",
                "cd sub && ../prog; echo \"status $?\"; cd ..",
                "\"$WORK/prog\" abs 2>/dev/null; echo \"status $?\"",
                "echo 'from the host' | ./prog upcase; echo \"status $?\"",
                "./prog exit 42; echo \"status $?\"",
                "(exec -a 'my name' ./prog named); echo \"status $?\""));
        String w = work.toString();
        assertEquals("./prog on aarch64, target yes, cwd " + w + ", args [one] [two words] []\nstatus 0\n"
                + "../prog on aarch64, target yes, cwd " + w + "/sub, args\nstatus 0\n"
                + w + "/prog on aarch64, target yes, cwd " + w + ", args [abs]\nstatus 0\n"
                + "FROM THE HOST\nstatus 0\n"
                + "status 42\n"
                + "my name on aarch64, target yes, cwd " + w + ", args [named]\nstatus 0\n", r.out(), r::toString); // flag P: argv[0] kept
        assertEquals("to stderr\nto stderr\nto stderr\n", r.err(), r::toString);
    }

    @Test
    void signalsComeBackAsOnANativeRunAndReachTheProgramFromTheHost() {
        Exec.Result r = sandboxed(T, String.join("\n",
                "./prog usr1; echo \"usr1 $?\"",
                "./prog wait >wait.out &",
                "p=$!",
                "i=0; until grep -q ready wait.out 2>/dev/null || [ $i -ge 1200 ]; do sleep 0.1; i=$((i + 1)); done",
                "kill -TERM $p; wait $p; echo \"term $?\""));
        assertEquals("usr1 138\nterm 143\n", r.out(), r::toString);
    }

    @Test
    void theHandlerIsTheSandboxsOwnAndIsRemovedAgain() throws IOException {
        Exec.Result r = sandboxed(T, String.join("\n",
                "\"$TETHER\" binfmt status | grep -c \"^  runs: '$TETHER' 'run' '--map-cmd'\"",
                "\"$TETHER\" binfmt remove --arch aarch64 --dir \"$HANDLERS\"",
                "ls /proc/sys/fs/binfmt_misc | tr '\\n' ' '; echo",
                "./prog; echo \"status $?\""));
        assertEquals("1\nremoved tether-aarch64\nregister status \nstatus 126\n", r.out(), r::toString);
        assertTrue(r.err().contains("Exec format error"), r::toString);
        assertFalse(Files.exists(handlers.resolve("tether-aarch64")), "the launcher is deleted");
        // The machine's own binfmt_misc never saw it.
        Path global = Path.of("/proc/sys/fs/binfmt_misc/tether-aarch64");
        assertFalse(Files.exists(global), "a handler leaked into the machine's binfmt_misc");
    }

    @Test
    void configureOfGnuHelloRunsItsConftestsOnTheTargetAndMakeCheckPasses() throws IOException {
        StringBuilder whyNot = new StringBuilder();
        Path tarball = HostRootfs.helloTarball(whyNot);
        assumeTrue(tarball != null, () -> "GNU hello 2.10 source unavailable: " + whyNot);
        Exec.check(Duration.ofMinutes(1), "tar", "-xzf", tarball.toString(), "-C", work.toString());
        long t0 = System.nanoTime();
        Exec.Result r = sandboxed(Duration.ofMinutes(15), String.join("\n",
                "cd hello-2.10",
                "./configure --host=aarch64-linux-gnu --disable-nls --disable-dependency-tracking >../configure.log 2>&1 || { echo configure failed; exit 1; }",
                "grep 'whether we are cross compiling' ../configure.log",
                "make >../make.log 2>&1 || { echo make failed; exit 1; }",
                "./hello -g 'hello from the target'",
                "make check >../check.log 2>&1; echo \"check $?\"",
                "grep -cE '^PASS: tests/(greeting-1|hello-1|last-1|traditional-1)$' ../check.log",
                "grep -E '^# (FAIL|ERROR):' ../check.log"));
        LoggerFactory.getLogger(BinfmtE2eTest.class).info("configure, make and make check of hello through binfmt: {} s",
                (System.nanoTime() - t0) / 1_000_000_000L);
        // hello's tests run ./hello (aarch64) through the handler; greeting-2 runs only on full moon nights (else SKIP).
        assertEquals("checking whether we are cross compiling... no\nhello from the target\ncheck 0\n"
                + "4\n# FAIL:  0\n# ERROR: 0\n", r.out(),
                () -> r + "\n--- configure.log ---\n" + tail(work.resolve("configure.log")) + "\n--- check.log ---\n"
                        + tail(work.resolve("check.log")));
    }

    private static String tail(Path file) {
        try {
            List<String> lines = Files.readAllLines(file);
            return String.join("\n", new ArrayList<>(lines.subList(Math.max(0, lines.size() - 40), lines.size())));
        } catch (IOException e) {
            return "(" + e + ")";
        }
    }
}
