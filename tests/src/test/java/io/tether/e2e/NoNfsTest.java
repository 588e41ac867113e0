package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 4, acceptance: {@code tether run -t ssh://... -r ROOTFS -b ...} with every file of the rootfs and
 * the binds only on the host. tetherd runs in its own network namespace AND its own mount namespace, in
 * which the rootfs, the binds and the rootfs cache are covered by empty tmpfs mounts (the fixture
 * checks it); the rootfs is the Debian bookworm minbase (an overlay of the cached debootstrap, so the
 * cache stays clean), with writable host directories bound at /mnt and /tmp. Exit codes and stdout are
 * compared exactly, against a real chroot of the same tree where that is the reference.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class NoNfsTest {
    private static final Duration T = Duration.ofMinutes(3);
    static HostRootfs fs;
    static TargetHost target;

    @BeforeAll
    @Timeout(value = 25, unit = TimeUnit.MINUTES)
    static void setUp() {
        fs = HostRootfs.create("NoNfsTest");
        target = startTarget("NoNfsTest");
    }

    @AfterAll
    static void tearDown() {
        if (target != null) target.close();
        if (fs != null) fs.close();
    }

    /** A target whose daemon cannot see the host side of {@link #fs}: the fixture checks the hidden dirs; this, the rootfs. */
    static TargetHost startTarget(String label, String... daemonOptions) {
        TargetHost t = TargetHost.setup(label).hide(fs.hiddenFromTarget().toArray(Path[]::new))
                .daemonOption(daemonOptions).start();
        assertFalse(t.daemonSees(fs.rootfs), () -> "the daemon sees the rootfs " + fs.rootfs);
        assertFalse(t.daemonSees(fs.cached), () -> "the daemon sees the rootfs cache " + fs.cached);
        assertFalse(t.daemonSees(fs.mnt), () -> "the daemon sees the bind " + fs.mnt);
        assertTrue(t.daemonSees(t.cacheDir.getParent()), "the daemon sees its own work directory");
        return t;
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

    static TetherRun tether(TargetHost t, String... argv) {
        return t.run(HostRootfs.guest(argv).toArray(String[]::new)).option(fs.options().toArray(String[]::new))
                .directory(fs.work);
    }

    static Exec.Result tether(String... argv) {
        return tether(target, argv).exec(T);
    }

    /** The same command under tether (No NFS) and under chroot: stdout and exit equal, and no `tether:` complaint. */
    static Exec.Result sameAsChroot(String... argv) {
        Exec.Result expected = fs.chroot(T, argv);
        Exec.Result remote = tether(argv);
        assertEquals(expected.out(), remote.out(), () -> "stdout differs from chroot's; tether " + remote + "\nchroot " + expected
                + "\n--- tetherd log ---\n" + target.daemonLogTail());
        assertEquals(expected.exit(), remote.exit(), () -> "exit differs from chroot's; tether " + remote + "\nchroot " + expected);
        assertFalse(remote.err().contains("tether:"), remote::toString);
        return remote;
    }

    /** Prints how many mounts sit at "/" in the run's mountinfo: 0 when it is kernel-rooted (chrooted into the mirror). */
    static final String ROOTED = "awk '$5 == \"/\"' /proc/self/mountinfo | wc -l";

    /**
     * Runs a probe until a run is kernel-rooted (90 s at most). Each tree is listed by a run before its completion
     * starts (Wholeness): the probe looks into {@code dirs} (guest paths, the binds among them) first.
     */
    static void awaitKernelRooted(String dirs) {
        String[] probe = {"/bin/sh", "-c", "ls " + dirs + " >/dev/null; " + ROOTED};
        assertTrue(Poll.within(Duration.ofSeconds(90), () -> tether(probe).out().equals("0\n")),
                () -> "never kernel-rooted:\n" + target.daemonLogTail());
    }

    static Path hostDir(String name) throws IOException {
        Path d = fs.mnt.resolve(name);
        Files.createDirectories(d);
        return d;
    }

    @Test
    void aDynamicallyLinkedProgramRunsAsUnderChroot() {
        Exec.Result r = sameAsChroot("/bin/sh", "-c", "ls -l --time-style=+%s /etc/debian_version /lib64 /usr/bin/ls; "
                + "cat /etc/debian_version; /lib64/ld-linux-x86-64.so.2 --list /usr/bin/ls | sed 's/ (0x.*//'; "
                + "ls /usr/lib/x86_64-linux-gnu | grep -c '^libc\\.so'; exit 3");
        assertEquals(3, r.exit(), r::toString);
        assertTrue(r.out().contains("libselinux.so.1 => /lib/x86_64-linux-gnu/libselinux.so.1"), r::toString);
    }

    @Test
    void aShellScriptWithPipesMatchesChroot() throws IOException {
        Path script = hostDir("scripts").resolve("pipes.sh");
        Files.writeString(script, """
                #!/bin/sh
                . /etc/os-release; echo "$ID $VERSION_CODENAME"
                dpkg-query -W -f '${Package}\\n' gcc-12 python3 make busybox libc6-dev | sort | tr '\\n' ' '; echo
                dpkg-query -W | wc -l
                find /usr/lib/python3.11/json -name '*.py' | sort | xargs cat | wc -l
                cut -d: -f1,7 /etc/passwd | grep -v nologin | sort | head -3
                seq 1 100 | paste -sd+ | python3 -c 'import sys; print(eval(sys.stdin.read()))'
                echo tracer | busybox tr a-z A-Z | rev | tee /tmp/pipes.out | wc -c
                cat /tmp/pipes.out; rm /tmp/pipes.out
                bash -c 'set -o pipefail; false | cat; echo pipefail=$?'
                exit 6
                """);
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
        Exec.Result r = sameAsChroot("/mnt/scripts/pipes.sh");
        assertEquals(6, r.exit(), r::toString);
        assertTrue(r.out().startsWith("debian bookworm\nbusybox gcc-12 libc6-dev make python3 \n"), r::toString);
        assertTrue(r.out().endsWith("\n5050\n7\nRECART\npipefail=1\n"), r::toString);
    }

    @Test
    void python3ImportsJsonEmailParserAndHttpClientAsUnderChroot() {
        Exec.Result r = sameAsChroot("python3", "-c", "import json, email.parser, http.client, os, sys\n"
                + "m = email.parser.Parser().parsestr('From: a@example.org\\nSubject: no nfs\\n\\nbody\\n')\n"
                + "print(json.dumps({'subject': m['Subject'], 'body': m.get_payload(), 'status': http.client.responses[404],"
                + " 'exe': os.path.realpath(sys.executable), 'json': json.__file__, 'http': http.client.__file__}, sort_keys=True))");
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.out().contains("\"subject\": \"no nfs\"") && r.out().contains("\"status\": \"Not Found\""), r::toString);
    }

    @Test
    void gccCompilesACFileAndTheProgramRuns() throws IOException {
        Path dir = hostDir("gcc");
        Files.writeString(dir.resolve("hello.c"), """
                #include <stdio.h>
                #include <unistd.h>
                int main(int argc, char **argv) {
                    char cwd[256];
                    printf("hello %s from %s\\n", argc > 1 ? argv[1] : "nobody", getcwd(cwd, sizeof cwd));
                    return argc > 1 ? 4 : 0;
                }
                """);
        Exec.Result r = tether("/bin/sh", "-c", "cd /mnt/gcc && gcc -O2 -Wall -o hello hello.c && ./hello && ./hello tether");
        assertEquals("hello nobody from /mnt/gcc\nhello tether from /mnt/gcc\n", r.out(), r::toString);
        assertEquals(4, r.exit(), r::toString);
        assertTrue(Files.isExecutable(dir.resolve("hello")), "the compiled program is on the host, executable");
        assertTrue(Files.readAllBytes(dir.resolve("hello"))[1] == 'E', "the host file is an ELF");
    }

    @Test
    @Timeout(value = 12, unit = TimeUnit.MINUTES)
    void configureAndMakeOfGnuHelloComplete() throws IOException {
        StringBuilder whyNot = new StringBuilder();
        Path tarball = HostRootfs.helloTarball(whyNot);
        assumeTrue(tarball != null, () -> "GNU hello 2.10 source unavailable: " + whyNot);
        Path dir = hostDir("hello");
        Exec.check(Duration.ofMinutes(1), "tar", "-xzf", tarball.toString(), "-C", dir.toString());
        long t0 = System.nanoTime();
        Exec.Result r = tether(target, "/bin/sh", "-c", "cd /mnt/hello/hello-2.10 && ./configure >../configure.log 2>&1 "
                + "&& make >../make.log 2>&1 && ./hello && ./hello -g 'No NFS'").exec(Duration.ofMinutes(11));
        long seconds = (System.nanoTime() - t0) / 1_000_000_000L;
        assertEquals("Hello, world!\nNo NFS\n", r.out(), () -> r + "\n--- configure.log ---\n" + tail(dir.resolve("configure.log"))
                + "\n--- make.log ---\n" + tail(dir.resolve("make.log")));
        assertEquals(0, r.exit(), r::toString);
        assertTrue(Files.isExecutable(dir.resolve("hello-2.10/hello")), "hello was built on the host side");
        org.slf4j.LoggerFactory.getLogger(NoNfsTest.class).info("configure && make of hello under No NFS: {} s", seconds);
    }

    @Test
    void filesTheProgramCreatesAppearOnTheHostWithContentAndModeBeforeItExits() throws Exception {
        Path dir = hostDir("created");
        try (Exec.Running run = tether(target, "/bin/sh", "-c", "umask 022 && cd /mnt/created && printf 'data\\n' > plain "
                + "&& (umask 027 && printf secret > private) && printf '#!/bin/sh\\necho hi\\n' > tool && chmod 0755 tool "
                + "&& mkdir -m 0750 dir && ln -s plain link && head -c 1048576 /dev/zero | tr '\\0' x > dir/big "
                + "&& printf root > /root/made-by-guest && chmod 0600 /root/made-by-guest "
                + "&& echo made && read line && echo \"got $line\"").start()) {
            SignalForwardingTest.awaitOutput(run, "made\n");
            // Still running: every close has returned, so everything must be on the host now.
            assertEquals("data\n", Files.readString(dir.resolve("plain")));
            assertEquals("rw-r--r--", perms(dir.resolve("plain")));
            assertEquals("secret", Files.readString(dir.resolve("private")));
            assertEquals("rw-r-----", perms(dir.resolve("private")));
            assertEquals("#!/bin/sh\necho hi\n", Files.readString(dir.resolve("tool")));
            assertEquals("rwxr-xr-x", perms(dir.resolve("tool")));
            assertTrue(Files.isDirectory(dir.resolve("dir"), java.nio.file.LinkOption.NOFOLLOW_LINKS));
            assertEquals("rwxr-x---", perms(dir.resolve("dir")));
            assertEquals(Path.of("plain"), Files.readSymbolicLink(dir.resolve("link")));
            byte[] big = Files.readAllBytes(dir.resolve("dir/big"));
            assertEquals(1048576, big.length);
            for (byte b : big) if (b != 'x') throw new AssertionError("dir/big holds a byte other than x: " + b);
            assertEquals("root", Files.readString(fs.rootfs.resolve("root/made-by-guest")), "a file in the rootfs itself");
            assertEquals("rw-------", perms(fs.rootfs.resolve("root/made-by-guest")));
            TetherRun.writeAll(run.stdin(), "go\n".getBytes(StandardCharsets.UTF_8));
            run.closeStdin();
            Exec.Result r = run.await(T);
            assertEquals("made\ngot go\n", r.out(), r::toString);
            assertEquals(0, r.exit(), r::toString);
        }
        assertFalse(Files.exists(fs.cached.resolve("root/made-by-guest")), "the cached rootfs stays clean");
    }

    /** cp compares the inode it stat'ed with the one it opened (findings 5); no other test reads these files. */
    @Test
    void aFileKeepsItsInodeWhenFirstReadSoCpCopiesIt() {
        Exec.Result r = tether("/bin/sh", "-c", "f=/usr/share/perl5/Debconf/Element.pm; a=$(stat -c %i $f); cat $f >/dev/null; "
                + "b=$(stat -c %i $f); [ \"$a\" = \"$b\" ] && echo same inode || echo \"inode $a became $b\"; "
                + "cp /usr/share/perl5/Debconf/Config.pm /tmp/cp-copy && cmp /usr/share/perl5/Debconf/Config.pm /tmp/cp-copy "
                + "&& echo copied; rm -f /tmp/cp-copy");
        assertEquals("same inode\ncopied\n", r.out(), r::toString);
        assertEquals(0, r.exit(), r::toString);
    }

    /**
     * Feature files-lz4 through the real binaries: a compressible file the target reads crosses the link
     * in far fewer bytes than it holds (the veth's counter, SSH included), and arrives byte for byte.
     */
    @Test
    void aCompressibleFileCrossesTheLinkCompressedAndArrivesIntact() throws Exception {
        Path dir = hostDir("lz4");
        byte[] words = "static inline int frob(struct widget *w) { return w->count++; }\n".getBytes(StandardCharsets.US_ASCII);
        java.util.Random random = new java.util.Random(5);
        byte[] text = new byte[6 << 20];
        for (int i = 0; i < text.length; i++) text[i] = random.nextInt(50) == 0 ? (byte) random.nextInt(256) : words[i % words.length];
        Files.write(dir.resolve("big.txt"), text);
        String sum = java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(text));
        long before = target.bytesToTarget();
        Exec.Result r = tether("/bin/sh", "-c", "sha256sum < /mnt/lz4/big.txt");
        long moved = target.bytesToTarget() - before;
        assertEquals(0, r.exit(), r::toString);
        assertEquals(sum + "  -\n", r.out(), r::toString);
        assertTrue(moved < text.length / 2, moved + " bytes to the target for a file of " + text.length);
    }

    /** What ld does to its output (findings 2): write, close, chmod +x; the host must end with the chmod's mode. */
    @Test
    void aChmodRightAfterCloseIsTheModeOnTheHost() throws IOException {
        Path dir = hostDir("chmod-after-close");
        Exec.Result r = tether("python3", "-c", """
                import os
                for i in range(200):
                    p = '/mnt/chmod-after-close/f%d' % i
                    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                    os.write(fd, b'x' * (1 + i * 3000))
                    os.close(fd)
                    os.chmod(p, 0o755)
                print(sorted({oct(os.stat('/mnt/chmod-after-close/f%d' % i).st_mode) for i in range(200)}))
                """);
        assertEquals("['0o100755']\n", r.out(), r::toString);
        assertEquals(0, r.exit(), r::toString);
        Map<String, Long> modes;
        try (Stream<Path> s = Files.list(dir)) {
            modes = s.collect(Collectors.groupingBy(p -> {
                try {
                    return perms(p);
                } catch (IOException e) {
                    return e.toString();
                }
            }, Collectors.counting()));
        }
        assertEquals(Map.of("rwxr-xr-x", 200L), modes, "host modes after the run");
    }

    @Test
    void aHostSideEditBetweenTwoRunsIsSeenByTheSecond() throws IOException {
        Path dir = hostDir("edit");
        Path f = dir.resolve("f");
        Files.writeString(f, "one\n");
        Files.writeString(dir.resolve("gone"), "soon gone\n");
        Path inRoot = fs.rootfs.resolve("etc/nonfs-edit");
        Files.writeString(inRoot, "first\n");
        String[] cmd = {"/bin/sh", "-c", "cat /mnt/edit/f /etc/nonfs-edit; ls /mnt/edit; cat /mnt/edit/gone 2>/dev/null || echo no gone"};
        Exec.Result first = tether(cmd);
        assertEquals("one\nfirst\nf\ngone\nsoon gone\n", first.out(), first::toString);
        assertEquals(0, first.exit(), first::toString);

        // Same size and the same mtime as before: only the ctime (and the content) tells.
        FileTime mtime = Files.getLastModifiedTime(f);
        Files.writeString(f, "two\n");
        Files.setLastModifiedTime(f, mtime);
        Files.delete(dir.resolve("gone"));
        Files.writeString(dir.resolve("new"), "new\n");
        Files.writeString(inRoot, "second, longer\n");
        Exec.Result second = tether(cmd);
        assertEquals("two\nsecond, longer\nf\nnew\nno gone\n", second.out(), second::toString);
        assertEquals(0, second.exit(), second::toString);
    }

    /**
     * Once the mirror is whole (completion starts at a tree's second run, in the background), a run is
     * kernel-rooted: chrooted into the mirror with the binds mounted, so no mount sits at "/" in its
     * mountinfo. The hooks still fetch what it opens and apply its changes on the host first.
     */
    @Test
    void aRunOnAWholeMirrorIsKernelRootedAndItsOpensAndChangesStillReachTheHost() throws IOException {
        Path dir = hostDir("kroot");
        Files.writeString(dir.resolve("f"), "host file\n");
        awaitKernelRooted("/mnt /tmp");
        Exec.Result r = tether("/bin/sh", "-c", "cat /mnt/kroot/f; cd /mnt/kroot && echo made > made && mkdir d && ln -s f l "
                + "&& chmod 640 made && ls && readlink /proc/self/cwd && python3 -c 'import json; print(json.dumps([1]))'");
        assertEquals("host file\nd\nf\nl\nmade\n/mnt/kroot\n[1]\n", r.out(), r::toString);
        assertEquals(0, r.exit(), r::toString);
        assertEquals("made\n", Files.readString(dir.resolve("made")));
        assertTrue(Files.isDirectory(dir.resolve("d")));
        assertEquals("f", Files.readSymbolicLink(dir.resolve("l")).toString());
        assertEquals("rw-r-----", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("made"))));
    }

    /**
     * Kernel-rooted over the mirror, read-only opens and execs do not stop: the daemon's open gate (fanotify) holds
     * a file's first open until its contents are here. A file the host made since the last run (a placeholder in
     * the mirror until then) reads whole, a program copied in since runs, and the gated filter refuses a new mount
     * namespace, whose copies of the run's mounts would carry no mark of the gate (without the gate, root may make one).
     */
    @Test
    void behindTheOpenGateAKernelRootedRunReadsAndRunsWhatTheHostMadeAndMakesNoMountNamespace() throws Exception {
        Path dir = hostDir("gate");
        Files.writeString(dir.resolve("f"), "f");
        awaitKernelRooted("/mnt /tmp /mnt/gate");
        byte[] data = new byte[300_000];
        new java.util.Random(23).nextBytes(data);
        Files.write(dir.resolve("new.bin"), data);
        Files.copy(fs.rootfs.resolve("bin/true"), dir.resolve("mytrue"));
        String md5 = java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("MD5").digest(data));
        Exec.Result r = tether("/bin/sh", "-c", ROOTED + "; md5sum < /mnt/gate/new.bin; /mnt/gate/mytrue && echo ran; "
                + "unshare -m --propagation unchanged true 2>/dev/null && echo unshared || echo refused");
        assertEquals("0\n" + md5 + "  -\nran\nrefused\n", r.out(), () -> r + "\n--- tetherd log ---\n" + target.daemonLogTail());
        assertEquals(0, r.exit(), r::toString);
    }

    /**
     * A kernel-rooted run does not stop on stat or getdents, so what the host adds must already be in the
     * mirror: a subtree made between two runs is listed before the second starts (validation, then the
     * few stale directories), and one made while a run goes on is listed without being asked (the push,
     * then an eager re-listing of the new directory and what lies below it).
     */
    @Test
    void aKernelRootedRunSeesDirectoriesTheHostMakesBeforeAndWhileItRuns() throws Exception {
        Path dir = hostDir("kgrow");
        Files.writeString(dir.resolve("f"), "f");
        awaitKernelRooted("/mnt /tmp /mnt/kgrow");
        Files.createDirectories(dir.resolve("before/deeper"));
        Files.writeString(dir.resolve("before/deeper/g"), "gg");
        Exec.Result r = tether("/bin/sh", "-c", ROOTED + "; ls -R /mnt/kgrow/before; stat -c %s /mnt/kgrow/before/deeper/g");
        assertEquals("0\n/mnt/kgrow/before:\ndeeper\n\n/mnt/kgrow/before/deeper:\ng\n2\n", r.out(),
                () -> r + "\n--- tetherd log ---\n" + target.daemonLogTail());
        try (Exec.Running run = tether(target, "/bin/sh", "-c", "echo ready; i=0; "
                + "while ! [ -e /mnt/kgrow/during/sub/h ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; "
                + ROOTED + "; ls -R /mnt/kgrow/during; cat /mnt/kgrow/during/sub/h").start()) {
            SignalForwardingTest.awaitOutput(run, "ready\n");
            Files.createDirectories(dir.resolve("during/sub"));
            Files.writeString(dir.resolve("during/sub/h"), "made while it ran\n");
            Exec.Result d = run.await(T);
            assertEquals("ready\n0\n/mnt/kgrow/during:\nsub\n\n/mnt/kgrow/during/sub:\nh\nmade while it ran\n", d.out(),
                    () -> d + "\n--- tetherd log ---\n" + target.daemonLogTail());
        }
    }

    /**
     * Warm path: once the front door runs (the first JVM client starts it), a `-r` run on the ssh://
     * target is served by the door, which serves the host's files itself: the process in front stays
     * the native front end and starts nothing, files the program creates reach the host while it runs,
     * and a host-side edit between two door runs is seen by the second.
     */
    @Test
    void warmRunsThroughTheFrontDoorServeTheHostsFilesWithoutAJvm() throws IOException {
        assumeTrue(warmDoor(target), "no C compiler: no front end");
        Path dir = hostDir("door");
        Path f = dir.resolve("f");
        Files.writeString(f, "one\n");
        try (Exec.Running run = viaDoor(tether(target, "/bin/sh", "-c", "cat /mnt/door/f; ls /mnt/door; "
                + "umask 022; printf 'made here\\n' > /mnt/door/made; chmod 0640 /mnt/door/made; mkdir /mnt/door/sub; "
                + "echo ready; read line; echo \"got $line\"; exit 7")).start()) {
            SignalForwardingTest.awaitOutput(run, "ready\n");
            assertEquals("tether-fe", TargetHost.cmdline(run.pid()).split(" ")[0].replaceFirst(".*/", ""), "no JVM in front");
            assertEquals(0, ProcessHandle.of(run.pid()).orElseThrow().descendants().count(), "the front end started nothing");
            assertEquals("made here\n", Files.readString(dir.resolve("made")));
            assertEquals("rw-r-----", perms(dir.resolve("made")));
            assertTrue(Files.isDirectory(dir.resolve("sub")), "the guest's mkdir is on the host");
            TetherRun.writeAll(run.stdin(), "go\n".getBytes(StandardCharsets.UTF_8));
            run.closeStdin();
            Exec.Result r = run.await(T);
            assertEquals("one\nf\nready\ngot go\n", r.out(), r::toString);
            assertEquals(7, r.exit(), r::toString);
            assertTrue(r.err().contains(DOOR), r::toString);
        }
        // Same size and mtime: only the ctime (and the content) tells; the door's file server is the one asked.
        FileTime mtime = Files.getLastModifiedTime(f);
        Files.writeString(f, "two\n");
        Files.setLastModifiedTime(f, mtime);
        Files.writeString(dir.resolve("g"), "new\n");
        Files.delete(dir.resolve("made"));
        Exec.Result second = viaDoor(tether(target, "/bin/sh", "-c", "cat /mnt/door/f /mnt/door/g; ls /mnt/door")).exec(T);
        assertTrue(second.err().contains(DOOR), second::toString);
        assertEquals("two\nnew\nf\ng\nsub\n", second.out(), second::toString);
        assertEquals(0, second.exit(), second::toString);
    }

    private static final String DOOR = "tether-fe: served by the front door";

    /** Waits until the front door serves `-r` runs on {@code t} (the first JVM client starts it); false without a front end. */
    private static boolean warmDoor(TargetHost t) {
        if (!Files.isExecutable(TetherHome.root().resolve("client/target/native/tether-fe"))) return false;
        Poll.until(Duration.ofSeconds(120), () -> viaDoor(tether(t, "/bin/true")).exec(T).err().contains(DOOR),
                () -> "the front door never served a -r run on " + t.url());
        return true;
    }

    /** The front end says on stderr when the door served the run. */
    private static TetherRun viaDoor(TetherRun run) {
        return run.clientEnv("TETHER_FE_TRACE", "1");
    }

    @Test
    void killingTheConnectionMidWriteLeavesTheHostFileOldOrNewNeverTorn() throws Exception {
        Path dir = hostDir("torn");
        Path big = dir.resolve("big");
        int size = 64 << 20;
        byte[] old = new byte[size];
        java.util.Arrays.fill(old, (byte) 'A');
        Files.write(big, old);
        old = null;
        Set<String> before = names(dir);
        // --control no: the connection is this client's own, so killing it kills the connection.
        try (Exec.Running run = tether(target, "/bin/sh", "-c", "head -c " + size + " /dev/zero | tr '\\0' B > /mnt/torn/big; "
                + "echo written; sleep 60").control("no").startNoInput()) {
            // The first sign of the write-back reaching the host: a temporary file next to big, or big itself changing.
            boolean caught = Poll.within(Duration.ofSeconds(90), () -> !names(dir).equals(before) || firstByte(big) != 'A'
                    || !run.alive());
            boolean midWrite = !names(dir).equals(before) && firstByte(big) == 'A';
            boolean alive = run.alive();
            run.kill();
            assertTrue(alive, () -> "the program ended before its write-back was seen: " + run.await(T));
            assertTrue(caught, "the write never reached the host");
            org.slf4j.LoggerFactory.getLogger(NoNfsTest.class).info("killed the client {} (entries {})",
                    midWrite ? "while a temporary file was there" : "after the write-back", names(dir));
        }
        // Let the daemon notice the dropped connection and finish (or abandon) whatever it was doing.
        Poll.within(Duration.ofSeconds(10), () -> target.targetProcessesMatching("sleep 60").isEmpty());
        byte[] now = Files.readAllBytes(big);
        assertEquals(size, now.length, "big is torn: wrong size");
        byte first = now[0];
        assertTrue(first == 'A' || first == 'B', "big holds neither old nor new data");
        for (int i = 0; i < now.length; i++) {
            if (now[i] != first) throw new AssertionError("big is torn: byte " + i + " is " + now[i] + ", byte 0 is " + first);
        }
    }

    @Test
    void aMissingRootfsIsAClearErrorBeforeAnythingRuns() throws IOException {
        Path missing = fs.hostSide.resolve("no-such-rootfs");
        Path marker = fs.mnt.resolve("ran-without-rootfs");
        Exec.Result r = target.run(HostRootfs.guest("/bin/sh", "-c", "echo ran > /mnt/ran-without-rootfs").toArray(String[]::new))
                .option("-r", missing.toString(), "-b", fs.mnt + ":/mnt").directory(fs.work).exec(Duration.ofSeconds(60));
        assertEquals(255, r.exit(), r::toString);
        assertEquals("", r.out(), r::toString);
        ExitStatusTest.assertTetherMessage(r.err());
        assertTrue(r.err().contains(missing.toString()), () -> "the message names the rootfs: " + r.err());
        assertFalse(Files.exists(marker), "nothing ran");
    }

    @Test
    void aRootfsThatIsNotADirectoryIsAClearErrorBeforeAnythingRuns() throws IOException {
        Path file = fs.hostSide.resolve("rootfs-is-a-file");
        Files.writeString(file, "not a tree\n");
        Exec.Result r = target.run(HostRootfs.guest("/bin/true").toArray(String[]::new))
                .option("-r", file.toString()).directory(fs.work).exec(Duration.ofSeconds(60));
        assertEquals(255, r.exit(), r::toString);
        assertEquals("", r.out(), r::toString);
        ExitStatusTest.assertTetherMessage(r.err());
        assertTrue(r.err().contains(file.toString()), () -> "the message names the rootfs: " + r.err());
    }

    @Test
    void anUnreadableRootfsIsAClearErrorBeforeAnythingRuns() throws IOException {
        // Root reads any mode: the client runs as nobody, with its key and known_hosts copied for it.
        assumeTrue(TargetHost.onPath("setpriv"), "setpriv is not installed");
        Path home = fs.work.resolve("nobody-home");
        Files.createDirectories(home.resolve("run"));
        Path key = home.resolve("id_ed25519");
        Files.copy(target.clientKey, key);
        Files.copy(target.knownHosts, home.resolve("known_hosts"));
        Files.writeString(home.resolve("targets.properties"), "# empty\n");
        Path locked = fs.hostSide.resolve("locked");
        Path lockedRoot = locked.resolve("rootfs");
        Files.createDirectories(lockedRoot.resolve("bin"));
        Files.setPosixFilePermissions(locked, PosixFilePermissions.fromString("rwx------"));
        Exec.check(Duration.ofSeconds(10), "chown", "-R", "65534:65534", home.toString());
        Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-------"));
        Files.setPosixFilePermissions(fs.work, PosixFilePermissions.fromString("rwx--x--x")); // a temp dir is 0700
        for (Path p = fs.work; p != null; p = p.getParent()) {
            Path at = p;
            assumeTrue(Files.getPosixFilePermissions(at).contains(java.nio.file.attribute.PosixFilePermission.OTHERS_EXECUTE),
                    () -> "nobody cannot reach the work directory through " + at);
        }
        List<String> argv = target.inHostNs(List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                "env", "HOME=" + home, "XDG_RUNTIME_DIR=" + home.resolve("run"), "TETHER_CONFIG=" + home.resolve("targets.properties"),
                TetherHome.tether().toString(), "run", "-t", target.url(), "-i", key.toString(), "--known-hosts",
                home.resolve("known_hosts").toString(), "--control", "no", "-r", lockedRoot.toString(), "--", "/bin/true"));
        ProcessBuilder pb = new ProcessBuilder(argv).directory(home.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        Exec.Result r;
        try (Exec.Running run = Exec.start(pb)) {
            r = run.await(Duration.ofSeconds(90));
        }
        assertEquals(255, r.exit(), r::toString);
        ExitStatusTest.assertTetherMessage(r.err());
        assertTrue(r.err().contains(lockedRoot.toString()), () -> "the message names the rootfs: " + r.err());
    }

    @Test
    void aFileThatVanishesOnTheHostMidRunGivesTheProgramEnoentOrEstale() throws Exception {
        Path dir = hostDir("vanish");
        Files.writeString(dir.resolve("f"), "present\n");
        Files.writeString(dir.resolve("g"), "also present\n");
        Files.writeString(dir.resolve("keep"), "kept\n");
        String program = """
                import errno, os, sys
                d = '/mnt/vanish'
                fd = os.open(d + '/f', os.O_RDONLY)
                print(os.read(fd, 100).decode().strip(), sorted(os.listdir(d)), os.stat(d + '/g').st_size, flush=True)
                sys.stdin.readline()
                def attempt(what, fn):
                    try:
                        print(what, 'ok', fn(), flush=True)
                    except OSError as e:
                        print(what, errno.errorcode[e.errno], flush=True)
                attempt('open', lambda: open(d + '/f').read())
                attempt('stat', lambda: os.stat(d + '/g').st_size)
                attempt('list', lambda: sorted(os.listdir(d)))
                try:
                    os.lseek(fd, 0, os.SEEK_SET)
                    print('fd', os.read(fd, 100).decode().strip(), flush=True)
                except OSError as e:
                    print('fd', errno.errorcode[e.errno], flush=True)
                """;
        try (Exec.Running run = tether(target, "python3", "-c", program).start()) {
            SignalForwardingTest.awaitOutput(run, "present ['f', 'g', 'keep'] 13\n");
            Files.delete(dir.resolve("f"));
            Files.delete(dir.resolve("g"));
            // The program's next opens come after the host change; allow push invalidation a second to arrive.
            Thread.sleep(1000);
            OutputStream in = run.stdin();
            TetherRun.writeAll(in, "go\n".getBytes(StandardCharsets.UTF_8));
            run.closeStdin();
            Exec.Result r = run.await(T);
            assertEquals(0, r.exit(), r::toString);
            String[] lines = r.out().split("\n");
            assertEquals(5, lines.length, r::toString);
            assertTrue(lines[1].matches("open (ENOENT|ESTALE)"), r::toString);
            assertTrue(lines[2].matches("stat (ENOENT|ESTALE)"), r::toString);
            assertEquals("list ok ['keep']", lines[3], r::toString);
            // An fd opened before the removal keeps its data (POSIX unlink semantics) or reports ESTALE.
            assertTrue(lines[4].matches("fd (present|ESTALE)"), r::toString);
        }
        assertTrue(target.daemonAlive(), "the daemon survived");
    }

    @Test
    @Timeout(value = 6, unit = TimeUnit.MINUTES)
    void aFullCacheDirectoryEvictsAndTheRunStillSucceeds() throws IOException {
        // 92 MB of libraries through a 16 MiB cache, twice (the largest file is 8 MB).
        String[] cmd = {"/bin/sh", "-c", "find /usr/lib/x86_64-linux-gnu -type f | sort | xargs cat | sha256sum; "
                + "find /usr/lib/x86_64-linux-gnu -type f | wc -l"};
        Exec.Result expected = fs.chroot(T, cmd);
        assertEquals(0, expected.exit(), expected::toString);
        try (TargetHost small = startTarget("NoNfsTest-small-cache", "--cache-size", "16M")) {
            for (int round = 1; round <= 2; round++) {
                int n = round;
                Exec.Result r = tether(small, cmd).exec(T);
                assertEquals(expected.out(), r.out(), () -> "round " + n + ": " + r + "\n--- tetherd log ---\n" + small.daemonLogTail());
                assertEquals(0, r.exit(), r::toString);
                long used = diskUsage(small.cacheDir);
                assertTrue(used < 48L << 20, () -> "round " + n + ": the cache directory holds " + used + " bytes, over 16M + slack");
            }
        }
    }

    /**
     * Trees are bounded by the device's disk, not only contents by --cache-size: every rootfs or bind path a
     * daemon serves has a tree of placeholders (an inode each). On a cache disk that holds the rootfs and one
     * big bind's tree but not two, each run over the other bind gets the room of the idle one (least recently
     * used first) and sees every one of its files.
     */
    @Test
    @Timeout(value = 6, unit = TimeUnit.MINUTES)
    void aCacheDiskOutOfInodesDropsIdleTreesAndEveryRunSeesAllItsFiles() throws IOException {
        // Hidden from the daemon, and outside the /mnt bind (whose own tree they would grow).
        List<Path> binds = List.of(fs.hostSide.resolve("trees-a"), fs.hostSide.resolve("trees-b"));
        for (Path d : binds) {
            if (Files.exists(d)) Exec.check(Duration.ofSeconds(60), "rm", "-rf", d.toString());
            for (int i = 0; i < 300; i++) {
                Path sub = Files.createDirectories(d.resolve("d" + i));
                for (int j = 0; j < 100; j++) Files.createFile(sub.resolve("f" + j));
            }
        }
        // The rootfs's ~11k entries + one bind's 30301 + slack, under two binds' 60602.
        try (TargetHost small = TargetHost.setup("NoNfsTest-inodes").hide(fs.hiddenFromTarget().toArray(Path[]::new))
                .cacheDisk("size=512m,nr_inodes=48000").start()) {
            for (Path d : List.of(binds.get(0), binds.get(1), binds.get(0))) {
                Exec.Result r = tether(small, "/bin/sh", "-c", "find /x | wc -l").option("-b", d + ":/x").exec(T);
                assertEquals("30301\n", r.out(), () -> d + ": " + r + "\n--- tetherd log ---\n" + small.daemonLogTail());
                assertEquals(0, r.exit(), r::toString);
            }
            String log = Files.readString(small.daemonLog);
            assertTrue(log.contains("dropped the tree of"), () -> "no tree dropped\n--- tetherd log ---\n" + small.daemonLogTail());
            assertFalse(log.contains("cannot mirror"), () -> "names lost\n--- tetherd log ---\n" + small.daemonLogTail());
        }
    }

    @Test
    @Timeout(value = 6, unit = TimeUnit.MINUTES)
    void aLostConnectionGivesTheProgramEioAndTetherExits255WithAMessage() throws Exception {
        Path dir = hostDir("lost");
        Files.writeString(dir.resolve("unread"), "never fetched\n");
        // The guest's /dev is the target's: a /dev/shm directory is where the program can report once the link is gone.
        Path shm = Files.createDirectories(Path.of("/dev/shm", "tether-nonfs-" + ProcessHandle.current().pid() + "-" + System.nanoTime()));
        String program = """
                import errno, os, signal, sys, time
                signal.signal(signal.SIGHUP, signal.SIG_IGN)
                shm = sys.argv[1]
                print('ready', flush=True)
                while not os.path.exists(shm + '/go'):
                    time.sleep(0.05)
                def attempt(what, fn):
                    try:
                        fn()
                        r = 'ok'
                    except OSError as e:
                        r = errno.errorcode[e.errno]
                    with open(shm + '/result', 'a') as f:
                        f.write(what + ' ' + r + '\\n')
                attempt('read', lambda: open('/mnt/lost/unread').read())
                attempt('create', lambda: open('/mnt/lost/new', 'w').close())
                """;
        try (TargetHost lossy = startTarget("NoNfsTest-lost")) {
            // Through the front door, the warm path: the door's connection and file server are the ones lost.
            boolean door = warmDoor(lossy);
            try (Exec.Running run = viaDoor(tether(lossy, "python3", "-c", program, shm.toString())).startNoInput()) {
                lostMidRun(lossy, run, door, dir, shm);
            }
        } finally {
            Exec.run(Duration.ofSeconds(10), "rm", "-rf", shm.toString());
        }
    }

    private static void lostMidRun(TargetHost lossy, Exec.Running run, boolean door, Path dir, Path shm) throws IOException {
        SignalForwardingTest.awaitOutput(run, "ready\n");
        if (door) Poll.until(Duration.ofSeconds(10), () -> run.errSoFar().contains(DOOR), () -> "not the door's: " + run.errSoFar());
        lossy.linkDown();
        Files.writeString(shm.resolve("go"), "");
        Exec.Result r = run.await(Duration.ofSeconds(180));
        assertEquals(255, r.exit(), r::toString);
        assertEquals("ready\n", r.out(), r::toString);
        ExitStatusTest.assertTetherMessage(r.err().replaceFirst(java.util.regex.Pattern.quote(DOOR) + "[^\n]*\n", ""));
        Path result = shm.resolve("result");
        Poll.until(Duration.ofSeconds(90), () -> lines(result) >= 2, () -> "the program never reported: " + read(result)
                + "\n--- tetherd log ---\n" + lossy.daemonLogTail());
        assertEquals("read EIO\ncreate EIO\n", read(result));
        assertFalse(Files.exists(dir.resolve("new")), "nothing was created on the host");
    }

    private static String perms(Path p) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p, java.nio.file.LinkOption.NOFOLLOW_LINKS));
    }

    private static Set<String> names(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).collect(Collectors.toSet());
        } catch (IOException e) {
            return Set.of("(unlistable: " + e + ")");
        }
    }

    private static int firstByte(Path file) {
        try (var in = Files.newInputStream(file)) {
            return in.read();
        } catch (IOException e) {
            return -2;
        }
    }

    private static long lines(Path file) {
        return read(file).lines().count();
    }

    private static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file) : "";
        } catch (IOException e) {
            return "(unreadable: " + e + ")";
        }
    }

    private static String tail(Path file) {
        String s = read(file);
        return s.length() <= 3000 ? s : s.substring(s.length() - 3000);
    }

    /** Blocks in use, not apparent size: an evicted file stays as a sparse placeholder of its size. */
    private static long diskUsage(Path dir) {
        Exec.Result r = Exec.run(Duration.ofSeconds(30), "du", "-s", "--block-size=1", dir.toString());
        return r.exit() == 0 ? Long.parseLong(r.out().split("\\s+")[0]) : -1;
    }
}
