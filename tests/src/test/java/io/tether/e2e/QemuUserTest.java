package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Issue 6, section 4 "Without a device": {@code tether run -t local -q qemu-aarch64-static -r ROOTFS_ARM64}
 * on this x86_64 machine. The rootfs is a Debian bookworm arm64 minbase with python3, made by
 * tests/rootfs/make-foreign-rootfs.sh and cached under /var/cache/tether-test (cold: about 3 minutes,
 * the second stage runs dpkg under emulation; warm: nothing). Skipped visibly without root, without
 * qemu-aarch64-static, or without the Debian mirror. A host work directory is bound at guest /mnt, so
 * the cached rootfs is never written.
 *
 * <p>The tracer's rewrite, not a binfmt_misc handler of the kernel, must be what runs the aarch64
 * programs: a qemu option only the tracer passes ({@code -E}) reaches the guest, the host sees the
 * guest's process as qemu with {@code -0 ARGV0 PROGRAM}, and without {@code -q} the same command
 * fails with ENOEXEC (when this machine has no aarch64 handler registered).
 */
@Tag("slow")
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class QemuUserTest {
    private static final Logger log = LoggerFactory.getLogger(QemuUserTest.class);
    private static final Duration T = Duration.ofMinutes(2);
    private static final String QEMU = "qemu-aarch64-static";
    private static final List<String> GUEST_ENV = List.of("/usr/bin/env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin",
            "HOME=/root", "LC_ALL=C");
    /** e_ident through e_machine of a little-endian 64-bit aarch64 ELF, as binfmt_misc would match it. */
    private static final String AARCH64_MAGIC = "magic 7f454c460201010000000000000000000200b700";

    static Path rootfs;
    static Path work;

    @BeforeAll
    @Timeout(value = 25, unit = TimeUnit.MINUTES)
    static void arm64Rootfs() {
        assumeTrue("x86_64".equals(System.getProperty("os.arch")) || "amd64".equals(System.getProperty("os.arch")),
                "the tracer runs on x86_64 here");
        assumeTrue("0".equals(Exec.run(Duration.ofSeconds(10), "id", "-u").out().trim()), "debootstrap needs root");
        assumeTrue(TargetHost.onPath(QEMU), QEMU + " is not installed (apt-get install qemu-user-static; bin/test does)");
        TetherHome.ensureBuilt();
        Path script = TetherHome.root().resolve("tests/rootfs/make-foreign-rootfs.sh");
        long t0 = System.nanoTime();
        Exec.Result made = Exec.run(Duration.ofMinutes(20), script.toString(), "arm64");
        assumeTrue(made.exit() != 3, () -> "no arm64 rootfs here: " + made.err().strip());
        assertEquals(0, made.exit(), () -> "make-foreign-rootfs.sh failed: " + made);
        if (!made.err().isBlank()) log.info("{} ({} s)", made.err().strip(), (System.nanoTime() - t0) / 1_000_000_000L);
        String[] lines = made.out().strip().split("\n");
        rootfs = Path.of(lines[lines.length - 1]);
        assertTrue(Files.exists(rootfs.resolve("lib/ld-linux-aarch64.so.1")), () -> rootfs + " is no arm64 rootfs");
        work = TetherHome.workDir("qemu-user");
    }

    private static Exec.Result tether(String qemu, String... argv) {
        List<String> cmd = new ArrayList<>(List.of(TetherHome.tether().toString(), "run", "-t", "local"));
        if (qemu != null) cmd.addAll(List.of("-q", qemu));
        cmd.addAll(List.of("-r", rootfs.toString(), "-b", work + ":/mnt", "-w", "/mnt", "--"));
        cmd.addAll(GUEST_ENV);
        cmd.addAll(List.of(argv));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        try (Exec.Running r = Exec.start(pb)) {
            return r.await(T);
        }
    }

    private static Exec.Result arm(String... argv) {
        return tether(QEMU, argv);
    }

    @Test
    void unameMPrintsAarch64() {
        Exec.Result r = arm("uname", "-m");
        assertEquals("aarch64\n", r.out(), r::toString);
        assertEquals(0, r.exit(), r::toString);
    }

    @Test
    void theTracersRewriteRunsTheForeignProgramsNotTheKernelsBinfmt() throws Exception {
        // -E is qemu's own option: it reaches the guest only if the tracer exec'd qemu with ours.
        Exec.Result marked = tether(QEMU + " -E TETHER_QEMU_MARK=rewritten", "/bin/sh", "-c", "echo $TETHER_QEMU_MARK; uname -m");
        assertEquals("rewritten\naarch64\n", marked.out(), marked::toString);
        if (aarch64HandlerRegistered()) {
            log.info("this machine has a binfmt_misc handler for aarch64: the run without -q is not compared");
        } else {
            Exec.Result plain = tether(null, "uname", "-m");
            assertEquals(126, plain.exit(), () -> "without -q the kernel cannot run an aarch64 program: " + plain);
            assertTrue(plain.err().contains("Exec format error"), plain::toString);
        }
    }

    @Test
    void theHostSeesQemuRunningTheGuestProgramAndAnUntrappedSignalGives128PlusN() throws Exception {
        List<String> cmd = new ArrayList<>(List.of(TetherHome.tether().toString(), "run", "-t", "local", "-q", QEMU,
                "-r", rootfs.toString(), "-w", "/", "--"));
        cmd.addAll(GUEST_ENV);
        cmd.addAll(List.of("/bin/sh", "-c", "echo $$; exec sleep 60"));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        try (Exec.Running tether = Exec.start(pb)) {
            Poll.until(Duration.ofSeconds(60), () -> tether.outSoFar().contains("\n") || !tether.alive(),
                    () -> "no pid from the guest shell: " + tether.errSoFar());
            long pid = Long.parseLong(tether.outSoFar().strip());
            Path proc = Path.of("/proc", Long.toString(pid));
            // The shell execs sleep (its own -c argument names sleep too): wait until qemu runs /usr/bin/sleep.
            Poll.until(Duration.ofSeconds(30), () -> cmdline(proc).contains("\0/usr/bin/sleep\0"), () -> "cmdline " + cmdline(proc));
            Path qemu = Path.of(Exec.check(Duration.ofSeconds(10), "sh", "-c", "command -v " + QEMU).out().strip()).toRealPath();
            assertEquals(qemu, Files.readSymbolicLink(proc.resolve("exe")), "the kernel runs qemu for the guest's sleep");
            assertEquals(List.of(qemu.toString(), "-L", "/", "-0", "sleep", "/usr/bin/sleep", "60"),
                    List.of(cmdline(proc).split("\0")));
            SignalForwardingTest.kill("INT", tether.pid());
            Exec.Result r = tether.await(T);
            assertEquals(130, r.exit(), r::toString);
        }
    }

    @Test
    void procSelfExeShowsTheGuestProgramToItselfAndToOthers() {
        Exec.Result r = arm("/bin/sh", "-c", "readlink /proc/self/exe; readlink /proc/$$/exe; ls -l /proc/$$/exe | sed 's/.* -> //'");
        assertEquals("/usr/bin/readlink\n/usr/bin/dash\n/usr/bin/dash\n", r.out(), r::toString);
        assertEquals(0, r.exit(), r::toString);
    }

    @Test
    void theGuestLoaderRunsDynamicallyLinkedProgramsOfTheRootfs() {
        Exec.Result r = arm("/lib/ld-linux-aarch64.so.1", "--list", "/usr/bin/ls");
        assertTrue(r.out().contains("libc.so.6 => /lib/aarch64-linux-gnu/libc.so.6"), r::toString);
        Exec.Result ls = arm("ls", "-d", "/usr/lib/aarch64-linux-gnu", "/etc/debian_version");
        assertEquals("/etc/debian_version\n/usr/lib/aarch64-linux-gnu\n", ls.out(), ls::toString);
    }

    @Test
    void aCrossCompiledDynamicallyLinkedProgramRunsWithArgsCwdAndExitCode() throws Exception {
        assumeTrue(TargetHost.onPath("aarch64-linux-gnu-gcc"), "no aarch64-linux-gnu-gcc (apt-get install gcc-aarch64-linux-gnu; bin/test does)");
        Path source = work.resolve("hello.c");
        Files.writeString(source, """
                #include <stdio.h>
                #include <limits.h>
                #include <unistd.h>
                #include <sys/utsname.h>
                int main(int argc, char **argv) {
                    char exe[PATH_MAX], cwd[PATH_MAX];
                    struct utsname u;
                    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
                    exe[n < 0 ? 0 : n] = 0;
                    uname(&u);
                    printf("%s on %s: exe %s, cwd %s, %d args\\n", argv[0], u.machine, exe, getcwd(cwd, sizeof cwd), argc - 1);
                    return argc == 1 ? 0 : 40 + argc;
                }
                """);
        Exec.check(Duration.ofMinutes(2), "aarch64-linux-gnu-gcc", "-O1", "-o", work.resolve("hello").toString(), source.toString());
        byte[] head = Files.readAllBytes(work.resolve("hello"));
        assertEquals(183, (head[18] & 0xff) | (head[19] & 0xff) << 8, "an aarch64 ELF");
        assertTrue(new String(head, StandardCharsets.ISO_8859_1).contains("/lib/ld-linux-aarch64.so.1"), "dynamically linked");
        Exec.Result r = arm("/bin/sh", "-c", "./hello && ./hello a b; echo status $?");
        assertEquals("./hello on aarch64: exe /mnt/hello, cwd /mnt, 0 args\n./hello on aarch64: exe /mnt/hello, cwd /mnt, 2 args\n"
                + "status 43\n", r.out(), r::toString);
    }

    @Test
    void aShellPipelineRunsInTheArm64Rootfs() {
        Exec.Result r = arm("/bin/sh", "-c", "dpkg --print-architecture; seq 1 100 | awk '{s += $1} END {print s}' | tr 0-9 a-j; "
                + "ls /usr/bin | grep -c '^dpkg$'; cut -d. -f1 /etc/debian_version; echo tee | tee /mnt/tee.out | wc -c");
        assertEquals("arm64\nfafa\n1\n12\n4\n", r.out(), r::toString);
        assertEquals(0, r.exit(), r::toString);
        assertTrue(Files.isRegularFile(work.resolve("tee.out")), "tee wrote through the bind");
    }

    @Test
    void python3RunsAndStartsSubprocesses() {
        assumeTrue(Files.exists(rootfs.resolve("usr/bin/python3")), "no python3 in the rootfs");
        Exec.Result r = arm("python3", "-c", "import json, platform, subprocess, sys\n"
                + "u = subprocess.run(['uname', '-m'], capture_output=True, text=True).stdout.strip()\n"
                + "print(platform.machine(), u, json.dumps({'b': 1, 'a': [2]}, sort_keys=True), sys.executable)\n"
                + "sys.exit(5)");
        assertEquals("aarch64 aarch64 {\"a\": [2], \"b\": 1} /usr/bin/python3\n", r.out(), r::toString);
        assertEquals(5, r.exit(), r::toString);
    }

    @Test
    void exitCodesAndDeathBySignalAreAsOnX86() {
        assertEquals(42, arm("/bin/sh", "-c", "exit 42").exit());
        assertEquals(0, arm("true").exit());
        assertEquals(1, arm("false").exit());
        assertEquals(143, arm("/bin/sh", "-c", "kill -TERM $$").exit());
        assertEquals(137, arm("/bin/sh", "-c", "kill -KILL $$").exit());
        Exec.Result inner = arm("/bin/sh", "-c", "/bin/sh -c 'kill -USR1 $$'; echo $?");
        assertEquals("138\n", inner.out(), inner::toString);
    }

    @Test
    void aStaticHostProgramInTheArm64GuestStillRunsNatively() throws Exception {
        Path busybox = Path.of("/bin/busybox");
        assumeTrue(Files.isExecutable(busybox), "no busybox (bin/test installs busybox-static)");
        byte[] head = Files.readAllBytes(busybox);
        assumeTrue(!new String(head, 0, Math.min(head.length, 4096), StandardCharsets.ISO_8859_1).contains("ld-linux"),
                "/bin/busybox is not statically linked (busybox-static)");
        Files.copy(busybox, work.resolve("busybox"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Exec.Result r = arm("/bin/sh", "-c", "uname -m; /mnt/busybox uname -m; /mnt/busybox sh -c 'uname -m; /bin/uname -m'");
        // The x86_64 busybox runs natively (qemu-aarch64 could not run it); its child /bin/uname is aarch64 again.
        assertEquals("aarch64\nx86_64\nx86_64\naarch64\n", r.out(), r::toString);
    }

    private static String cmdline(Path proc) {
        try {
            return new String(Files.readAllBytes(proc.resolve("cmdline")), StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            return "";
        }
    }

    private static boolean aarch64HandlerRegistered() throws IOException {
        Path dir = Path.of("/proc/sys/fs/binfmt_misc");
        if (!Files.isDirectory(dir)) return false;
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            for (Path e : entries) {
                if (!Files.isRegularFile(e) || e.getFileName().toString().equals("register")) continue;
                String text;
                try {
                    text = Files.readString(e);
                } catch (IOException unreadable) {
                    continue;
                }
                if (text.startsWith("enabled") && text.contains(AARCH64_MAGIC)) return true;
            }
        }
        return false;
    }
}
