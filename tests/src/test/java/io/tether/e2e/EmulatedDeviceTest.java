package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Issue 6, sections 1 and 2: a real ARM kernel under the tracer. An emulated Debian device
 * (tests/device/make-device-image.sh --arch ARCH, cached; booted once for the class by
 * tests/device/boot-device.sh: qemu-system-aarch64 or qemu-system-arm -M virt, TCG, this checkout's
 * tetherd on a second disk, port 2222 forwarded from a 127.0.0.1 port) runs
 * {@code tether run -t ssh://127.0.0.1:PORT -r ROOTFS_ARCH} from this x86_64 host, the rootfs of the same
 * architecture (make-foreign-rootfs.sh's) served by the client: No NFS. The device's own root is not the
 * rootfs: the guest sees only the served tree, whose /etc/hostname the device lacks. The subclasses
 * name the architecture ({@link DeviceE2eTest}: arm64; {@link ArmhfDeviceE2eTest}: 32-bit ARM EABI).
 *
 * <p>Skipped visibly where the device cannot be had: not x86_64, no qemu-system-* (.ci/run and
 * bin/test install qemu-system-arm), or either image script's exit 3 (not root, no mirror). No KVM
 * is no reason: TCG.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class EmulatedDeviceTest {
    /**
     * What the checks expect of one architecture: Debian's name, the qemu system emulator, uname -m,
     * the dynamic loader and multiarch directory of its glibc, ELF e_machine and the host's cross compiler.
     */
    record DeviceArch(String debian, String qemuSystem, String machine, String loader, String triplet, int elfMachine,
                      String crossGcc, String crossGccPackage) {
        static final DeviceArch ARM64 = new DeviceArch("arm64", "qemu-system-aarch64", "aarch64", "/lib/ld-linux-aarch64.so.1",
                "aarch64-linux-gnu", 183, "aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu");
        static final DeviceArch ARMHF = new DeviceArch("armhf", "qemu-system-arm", "armv7l", "/lib/ld-linux-armhf.so.3",
                "arm-linux-gnueabihf", 40, "arm-linux-gnueabihf-gcc", "gcc-arm-linux-gnueabihf");
    }

    private static final Logger log = LoggerFactory.getLogger(EmulatedDeviceTest.class);
    /** A cold JVM under TCG is slow; a loaded 2-core CI machine slower still. */
    private static final Duration T = Duration.ofMinutes(4);
    private static final List<String> GUEST_ENV = List.of("/usr/bin/env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin",
            "HOME=/root", "LC_ALL=C");

    private final DeviceArch arch;
    private Path rootfs;
    private Path work;
    private Path key;
    private Path knownHosts;
    private Path config;
    private Path runtimeDir;
    private Path console;
    private Exec.Running device;
    private String url;

    EmulatedDeviceTest(DeviceArch arch) {
        this.arch = arch;
    }

    @BeforeAll
    @Timeout(value = 45, unit = TimeUnit.MINUTES)
    void bootTheDevice() throws IOException {
        assumeWanted();
        String hostArch = System.getProperty("os.arch");
        assumeTrue("amd64".equals(hostArch) || "x86_64".equals(hostArch), "the device is emulated from an x86_64 host");
        assumeTrue(TargetHost.onPath(arch.qemuSystem()), () -> "no " + arch.qemuSystem() + " (apt-get install qemu-system-arm; .ci/run does)");
        assumeTrue(TargetHost.onPath("ssh-keygen"), "no ssh-keygen");
        TetherHome.ensureBuilt();
        rootfs = Path.of(image("tests/rootfs/make-foreign-rootfs.sh", arch.debian()));
        assertTrue(Files.exists(rootfs.resolve(arch.loader().substring(1))), () -> rootfs + " is no " + arch.debian() + " rootfs");
        Path deviceImage = Path.of(image("tests/device/make-device-image.sh", "--arch", arch.debian()));

        work = TetherHome.workDir("device-" + arch.debian());
        key = work.resolve("id_ed25519");
        knownHosts = work.resolve("known_hosts");
        config = work.resolve("targets.properties");
        console = work.resolve("console.log");
        Files.writeString(config, "# empty: the test names its target\n");
        // Agent sockets must fit sun_path: a short directory, not one under target/.
        runtimeDir = Files.createTempDirectory("tdev");
        TargetHost.generateKey(key);
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        url = "ssh://root@127.0.0.1:" + port;
        long t0 = System.nanoTime();
        // stdin stays a pipe: the helper stops qemu when it closes, also if this JVM dies.
        device = Exec.start(new ProcessBuilder(TetherHome.root().resolve("tests/device/boot-device.sh").toString(),
                "--key", key + ".pub", "--arch", arch.debian(), "--port", Integer.toString(port), "--log", console.toString(), deviceImage.toString()));
        Poll.until(Duration.ofMinutes(20), () -> device.outSoFar().contains("ready") || !device.alive(),
                () -> "the device did not come up; console " + console);
        assertTrue(device.alive(), () -> "boot-device.sh failed: " + device.errSoFar());
        log.info("device up on {} in {} s: {}", url, (System.nanoTime() - t0) / 1_000_000_000L, device.outSoFar().strip());
        Exec.Result first = tether(List.of("--accept-new-host-key"), "uname", "-m");
        assertEquals(0, first.exit(), () -> "first run: " + first + "\nconsole: " + tail(console));
    }

    /** An assumption that this architecture's run is asked for here (the default: always). */
    void assumeWanted() {
    }

    @AfterAll
    void shutDown() throws InterruptedException {
        if (device != null) {
            device.closeStdin();
            if (!device.waitFor(Duration.ofSeconds(60))) device.kill();
        }
        if (runtimeDir != null) {
            // The client's agent and front door for this target outlive their runs: end them now.
            String dir = runtimeDir.toString();
            ProcessHandle.allProcesses()
                    .filter(p -> p.info().arguments().map(a -> String.join(" ", a).contains(dir)).orElse(false))
                    .forEach(ProcessHandle::destroy);
        }
    }

    private String image(String script, String... args) {
        List<String> cmd = new ArrayList<>(List.of(TetherHome.root().resolve(script).toString()));
        cmd.addAll(List.of(args));
        long t0 = System.nanoTime();
        Exec.Result made = Exec.run(Duration.ofMinutes(30), cmd);
        assumeTrue(made.exit() != 3, () -> script + " cannot build here: " + made.err().strip());
        assertEquals(0, made.exit(), () -> script + " failed: " + made);
        if (!made.err().isBlank()) log.info("{} ({} s)", made.err().strip(), (System.nanoTime() - t0) / 1_000_000_000L);
        String[] lines = made.out().strip().split("\n");
        return lines[lines.length - 1];
    }

    private List<String> argv(List<String> options, String... command) {
        List<String> cmd = new ArrayList<>(List.of(TetherHome.tether().toString(), "run", "-t", url,
                "-i", key.toString(), "--known-hosts", knownHosts.toString(), "--control-persist", "120"));
        cmd.addAll(options);
        cmd.addAll(List.of("-r", rootfs.toString(), "-b", work + ":/mnt", "-w", "/mnt", "--"));
        cmd.addAll(GUEST_ENV);
        cmd.addAll(List.of(command));
        return cmd;
    }

    private ProcessBuilder client(List<String> argv) {
        ProcessBuilder pb = new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().put("XDG_RUNTIME_DIR", runtimeDir.toString());
        pb.environment().put("TETHER_CONFIG", config.toString());
        return pb;
    }

    private Exec.Result tether(List<String> options, String... command) {
        try (Exec.Running r = Exec.start(client(argv(options, command)))) {
            return r.await(T);
        }
    }

    private Exec.Result arm(String... command) {
        return tether(List.of(), command);
    }

    @Test
    void unameMPrintsTheDevicesMachineFromItsKernel() {
        Exec.Result r = arm("uname", "-m");
        assertEquals(arch.machine() + "\n", r.out(), r::toString);
        assertEquals(0, r.exit(), r::toString);
        // The device's kernel, not qemu-user on this host: the node name is the device's own.
        Exec.Result node = arm("uname", "-n");
        assertEquals("tether-device\n", node.out(), node::toString);
    }

    @Test
    void theGuestRootIsTheServedRootfsNotTheDevicesOwn() {
        // The device has a JRE and a kernel; the rootfs (minbase + python3) has neither.
        Exec.Result r = arm("/bin/sh", "-c", "ls -d /usr/lib/jvm /boot/vmlinuz* 2>&1 | wc -l; ls /usr/bin/python3; "
                + "cat /etc/debian_version | cut -d. -f1; pwd");
        assertEquals("2\n/usr/bin/python3\n12\n/mnt\n", r.out(), r::toString);
    }

    @Test
    void aDynamicallyLinkedProgramOfTheRootfsRuns() {
        Exec.Result r = arm(arch.loader(), "--list", "/usr/bin/ls");
        assertTrue(r.out().contains("libc.so.6 => /lib/" + arch.triplet() + "/libc.so.6"), r::toString);
        Exec.Result ls = arm("ls", "-d", "/usr/lib/" + arch.triplet(), "/etc/debian_version");
        assertEquals("/etc/debian_version\n/usr/lib/" + arch.triplet() + "\n", ls.out(), ls::toString);
        assertEquals(0, ls.exit(), ls::toString);
    }

    @Test
    void aCrossCompiledProgramRunsWithArgsCwdAndExitCode() throws IOException {
        assumeTrue(TargetHost.onPath(arch.crossGcc()), () -> "no " + arch.crossGcc() + " (apt-get install " + arch.crossGccPackage() + ")");
        Path source = work.resolve("hello.c");
        Files.writeString(source, """
                #include <stdio.h>
                #include <limits.h>
                #include <unistd.h>
                #include <sys/stat.h>
                #include <sys/utsname.h>
                int main(int argc, char **argv) {
                    char exe[PATH_MAX], cwd[PATH_MAX];
                    struct utsname u;
                    struct stat st;
                    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
                    exe[n < 0 ? 0 : n] = 0;
                    uname(&u);
                    printf("%s on %s: exe %s, cwd %s, %d args, hello.c %s\\n", argv[0], u.machine, exe,
                           getcwd(cwd, sizeof cwd), argc - 1, stat("hello.c", &st) == 0 ? "found" : "missing");
                    return argc == 1 ? 0 : 40 + argc;
                }
                """);
        Exec.check(Duration.ofMinutes(2), arch.crossGcc(), "-O1", "-o", work.resolve("hello").toString(), source.toString());
        byte[] head = Files.readAllBytes(work.resolve("hello"));
        assertEquals(arch.elfMachine(), (head[18] & 0xff) | (head[19] & 0xff) << 8, "an ELF of " + arch.debian());
        assertTrue(new String(head, StandardCharsets.ISO_8859_1).contains(arch.loader()), "dynamically linked");
        Exec.Result r = arm("/bin/sh", "-c", "./hello && ./hello a b; echo status $?");
        assertEquals("./hello on " + arch.machine() + ": exe /mnt/hello, cwd /mnt, 0 args, hello.c found\n"
                + "./hello on " + arch.machine() + ": exe /mnt/hello, cwd /mnt, 2 args, hello.c found\nstatus 43\n", r.out(), r::toString);
    }

    @Test
    void aShellPipelineRunsAndWritesThroughTheBind() {
        Exec.Result r = arm("/bin/sh", "-c", "dpkg --print-architecture; seq 1 100 | awk '{s += $1} END {print s}' | tr 0-9 a-j; "
                + "ls /usr/bin | grep -c '^dpkg$'; echo tee | tee /mnt/tee.out | wc -c; mkdir -p d/e && mv tee.out d/e/ && ls d/e");
        assertEquals(arch.debian() + "\nfafa\n1\n4\ntee.out\n", r.out(), r::toString);
        assertEquals(0, r.exit(), r::toString);
        assertTrue(Files.isRegularFile(work.resolve("d/e/tee.out")), "the device wrote the host's directory");
    }

    @Test
    void python3RunsAndStartsSubprocesses() {
        Exec.Result r = arm("python3", "-c", "import json, os, platform, subprocess, sys\n"
                + "u = subprocess.run(['uname', '-m'], capture_output=True, text=True).stdout.strip()\n"
                + "print(platform.machine(), u, json.dumps({'b': 1, 'a': [2]}, sort_keys=True), sys.executable, os.getcwd())\n"
                + "sys.exit(5)");
        assertEquals(arch.machine() + " " + arch.machine() + " {\"a\": [2], \"b\": 1} /usr/bin/python3 /mnt\n", r.out(), r::toString);
        assertEquals(5, r.exit(), r::toString);
    }

    @Test
    void exitCodesAndDeathBySignalAreAsOnX86() {
        Exec.Result r = arm("/bin/sh", "-c", "sh -c 'exit 42'; echo $?; false; echo $?; sh -c 'kill -USR1 $$'; echo $?");
        assertEquals("42\n1\n138\n", r.out(), r::toString);
        assertEquals(143, arm("/bin/sh", "-c", "kill -TERM $$").exit());
        assertEquals(137, arm("/bin/sh", "-c", "kill -KILL $$").exit());
    }

    @Test
    void aSignalToTheClientReachesTheProgramOnTheDevice() throws Exception {
        try (Exec.Running run = Exec.start(client(argv(List.of(), "/bin/sh", "-c", "echo started; exec sleep 600")))) {
            Poll.until(T, () -> run.outSoFar().contains("started") || !run.alive(), () -> "no start: " + run.errSoFar());
            // Whether the shell or the sleep it execs gets the SIGINT, the status is 128 + 2.
            SignalForwardingTest.kill("INT", run.pid());
            Exec.Result r = run.await(T);
            assertEquals(130, r.exit(), r::toString);
        }
    }

    private static String tail(Path file) {
        try {
            List<String> lines = Files.readAllLines(file, StandardCharsets.ISO_8859_1);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
