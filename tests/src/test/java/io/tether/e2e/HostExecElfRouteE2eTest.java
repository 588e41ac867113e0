package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 5's ELF route: an ELF of the host's machine executed by a target program of another machine runs on
 * the host. The target is tetherd in its own network and mount namespaces running an arm64 rootfs
 * (tests/rootfs/make-foreign-rootfs.sh's, hidden from it: No NFS) under {@code -q qemu-aarch64-static}, so the
 * run's machine is aarch64 while client and daemon are both x86_64. A target aarch64 sh executes a static x86_64
 * busybox from a bind; {@code --host-exec} names no program (it only turns host execution on), so only its ELF
 * machine can send it to the host, which its view of /proc/net/dev (the client's namespace has "vh", the
 * target's "vt") proves, with stdio pipes and the exit status wired to the target shell.
 */
@Tag("slow")
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class HostExecElfRouteE2eTest {
    private static final Duration T = Duration.ofMinutes(2);
    private static final String QEMU = "qemu-aarch64-static";
    private static final Path BUSYBOX = Path.of("/bin/busybox");

    static Path rootfs;
    static Path work;
    static TargetHost target;

    @BeforeAll
    @Timeout(value = 25, unit = TimeUnit.MINUTES)
    static void setUp() throws IOException {
        assumeTrue("amd64".equals(System.getProperty("os.arch")) || "x86_64".equals(System.getProperty("os.arch")),
                "the host's machine must differ from the arm64 rootfs's");
        assumeTrue("0".equals(Exec.run(Duration.ofSeconds(10), "id", "-u").out().trim()), "needs root (namespaces, debootstrap)");
        assumeTrue(TargetHost.onPath(QEMU), QEMU + " is not installed (apt-get install qemu-user-static; bin/test does)");
        assumeTrue(Files.isExecutable(BUSYBOX) && Exec.run(Duration.ofSeconds(10), "file", "-L", BUSYBOX.toString()).out()
                .contains("statically linked"), "no static busybox at /bin/busybox (apt-get install busybox-static)");
        TetherHome.ensureBuilt();
        Exec.Result made = Exec.run(Duration.ofMinutes(20), TetherHome.root().resolve("tests/rootfs/make-foreign-rootfs.sh").toString(), "arm64");
        assumeTrue(made.exit() != 3, () -> "no arm64 rootfs here: " + made.err().strip());
        assertEquals(0, made.exit(), () -> "make-foreign-rootfs.sh failed: " + made);
        String[] lines = made.out().strip().split("\n");
        rootfs = Path.of(lines[lines.length - 1]);
        work = TetherHome.workDir("host-exec-elf");
        Files.copy(BUSYBOX, work.resolve("busybox-x86_64"), StandardCopyOption.REPLACE_EXISTING);
        target = TargetHost.setup("HostExecElfRoute").hide(rootfs.getParent(), work).start();
        assertFalse(target.daemonSees(rootfs), "the daemon sees the rootfs");
        assertFalse(target.daemonSees(work.resolve("busybox-x86_64")), "the daemon sees the bind");
    }

    @AfterAll
    static void tearDown() {
        if (target != null) target.close();
    }

    private static Exec.Result run(List<String> hostExec, String script) {
        List<String> options = new ArrayList<>(List.of("-q", QEMU, "-r", rootfs.toString(), "-b", work + ":/mnt", "-w", "/mnt"));
        for (String g : hostExec) options.addAll(List.of("--host-exec", g));
        return target.run("/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "LC_ALL=C", "/bin/sh", "-c", script)
                .option(options.toArray(String[]::new)).exec(T);
    }

    private static final String SCRIPT = "uname -m; ./busybox-x86_64 uname -m; ./busybox-x86_64 grep -c -E '^ *vh:' /proc/net/dev;"
            + " printf 'abc\\n' | ./busybox-x86_64 tr a-c A-C | cat; ./busybox-x86_64 sh -c 'exit 7'; echo rc=$?";

    @Test
    void anX86ElfExecutedByAnAarch64TargetProgramRunsOnTheHostWithItsFdsAndStatus() {
        Exec.Result r = run(List.of("/no/such/dir/*"), SCRIPT);
        assertEquals("aarch64\nx86_64\n1\nABC\nrc=7\n", r.out(), () -> r + "\n--- tetherd log ---\n" + target.daemonLogTail());
        assertEquals(0, r.exit(), r::toString);
        assertTrue(Poll.within(Duration.ofSeconds(10), () -> target.daemonLogTail().contains("an ELF of the host's machine")),
                () -> "the host exec's log line:\n" + target.daemonLogTail());
    }

    @Test
    void withoutHostExecutionTheSameElfRunsOnTheTarget() {
        Exec.Result r = run(List.of(), SCRIPT);
        assertEquals("aarch64\nx86_64\n0\nABC\nrc=7\n", r.out(), () -> r + "\n--- tetherd log ---\n" + target.daemonLogTail());
    }
}
