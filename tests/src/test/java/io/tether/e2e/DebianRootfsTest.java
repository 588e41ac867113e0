package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real distribution under {@code bin/tether run -r}: Debian bookworm minbase with gcc and python3,
 * made by tests/rootfs/make-debian-rootfs.sh and cached under /var/cache/tether-test (a cold build
 * takes about a minute; skipped visibly when it cannot be built: not root, no network to the Debian mirror).
 * Each command must print the same and exit the same as under a real {@code chroot} of that rootfs.
 * A host work directory is bound at guest /mnt both ways, so the cached rootfs is never written.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class DebianRootfsTest {
    private static final Logger log = LoggerFactory.getLogger(DebianRootfsTest.class);
    private static final Duration T = Duration.ofMinutes(4);
    private static final List<String> GUEST_ENV = List.of("/usr/bin/env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin",
            "HOME=/root", "LC_ALL=C");

    static Path rootfs;
    static Path work;

    @BeforeAll
    @Timeout(value = 25, unit = TimeUnit.MINUTES)
    static void debianRootfs() throws IOException {
        assumeTrue("x86_64".equals(System.getProperty("os.arch")) || "amd64".equals(System.getProperty("os.arch")),
                "the tracer runs on x86_64 here");
        assumeTrue("0".equals(Exec.run(Duration.ofSeconds(10), "id", "-u").out().trim()),
                "debootstrap and the chroot comparison need root");
        for (String tool : List.of("chroot", "unshare", "mount")) assumeTrue(TargetHost.onPath(tool), tool + " is not installed");
        TetherHome.ensureBuilt();
        Path script = TetherHome.root().resolve("tests/rootfs/make-debian-rootfs.sh");
        long t0 = System.nanoTime();
        Exec.Result made = Exec.run(Duration.ofMinutes(20), script.toString());
        assumeTrue(made.exit() != 3, () -> "no Debian rootfs here: " + made.err().strip());
        assertEquals(0, made.exit(), () -> "make-debian-rootfs.sh failed: " + made);
        if (!made.err().isBlank()) log.info("{} ({} s)", made.err().strip(), (System.nanoTime() - t0) / 1_000_000_000L);
        String[] lines = made.out().strip().split("\n");
        rootfs = Path.of(lines[lines.length - 1]);
        assertTrue(Files.isRegularFile(rootfs.resolve("usr/bin/python3")) || Files.isSymbolicLink(rootfs.resolve("usr/bin/python3")),
                () -> rootfs + " has no python3");
        assertTrue(Files.isDirectory(rootfs.resolve("mnt")), () -> rootfs + " has no /mnt to bind the work directory at");
        work = TetherHome.workDir("debian-rootfs");
    }

    /** The reference: chroot in a private mount namespace with the host's /proc, /dev and /sys (the tracer's default binds). */
    private static Exec.Result chroot(String... argv) {
        List<String> cmd = new ArrayList<>(List.of("unshare", "--mount", "--propagation", "private", "sh", "-c",
                "for d in proc dev sys; do mount --bind /$d \"$0/$d\" || exit 125; done; mount --bind \"$1\" \"$0/mnt\" || exit 125; "
                        + "shift; exec chroot \"$0\" \"$@\"", rootfs.toString(), work.toString()));
        cmd.addAll(GUEST_ENV);
        cmd.addAll(List.of(argv));
        return Exec.run(T, cmd);
    }

    /**
     * The same command under {@code tether run -r}. The client runs in {@code work}, which the bind shows
     * at /mnt (and a cwd inside a bind is kept there); {@code -w /} gives chroot's cwd.
     */
    private static Exec.Result tether(String... argv) {
        List<String> cmd = new ArrayList<>(List.of(TetherHome.tether().toString(), "run", "-r", rootfs.toString(),
                "-b", work + ":/mnt", "-w", "/", "--"));
        cmd.addAll(GUEST_ENV);
        cmd.addAll(List.of(argv));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(work.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        pb.environment().put("PWD", work.toString());
        try (Exec.Running r = Exec.start(pb)) {
            return r.await(T);
        }
    }

    private static Exec.Result same(String... argv) {
        Exec.Result expected = chroot(argv);
        Exec.Result traced = tether(argv);
        assertEquals(expected.out(), traced.out(), () -> "stdout differs from chroot's; tether " + traced + "\nchroot " + expected);
        assertEquals(expected.exit(), traced.exit(), () -> "exit differs from chroot's; tether " + traced + "\nchroot " + expected);
        assertTrue(!traced.err().contains("tether:"), () -> "tether complained: " + traced);
        return traced;
    }

    @Test
    void python3ImportsJsonAndEmailAndPrintsAsUnderChroot() {
        Exec.Result r = same("python3", "-c", "import json, email.parser, os, sys\n"
                + "m = email.parser.Parser().parsestr('From: a@example.org\\nSubject: tracer\\n\\nbody\\n')\n"
                + "print(json.dumps({'subject': m['Subject'], 'body': m.get_payload(), 'exe': os.path.realpath(sys.executable),"
                + " 'prefix': sys.prefix, 'cwd': os.getcwd(), 'json': json.__file__, 'path': sys.path[1:]}, sort_keys=True))");
        assertTrue(r.out().contains("\"subject\": \"tracer\"") && r.out().contains("/usr/lib/python3"), r::toString);
        assertEquals(0, r.exit(), r::toString);
    }

    @Test
    void gccCompilesHelloAndTheProgramRunsAsUnderChroot() throws IOException {
        Files.writeString(work.resolve("hello.c"), """
                #include <stdio.h>
                #include <limits.h>
                #include <unistd.h>
                int main(int argc, char **argv) {
                    char exe[PATH_MAX], cwd[PATH_MAX];
                    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
                    exe[n < 0 ? 0 : n] = 0;
                    printf("hello from %s: exe %s, cwd %s\\n", argv[0], exe, getcwd(cwd, sizeof cwd));
                    return argc == 1 ? 0 : 4;
                }
                """);
        Exec.Result r = same("/bin/sh", "-c", "cd /mnt && rm -f a.out && gcc hello.c 2>&1 && ./a.out && ./a.out again; echo status $?");
        assertEquals("hello from ./a.out: exe /mnt/a.out, cwd /mnt\nhello from ./a.out: exe /mnt/a.out, cwd /mnt\nstatus 4\n",
                r.out(), r::toString);
        assertTrue(Files.isRegularFile(work.resolve("a.out")), "gcc under tether wrote a.out through the bind");
    }

    @Test
    void aShellScriptWithPipesMatchesChroot() throws IOException {
        Path script = work.resolve("pipes.sh");
        Files.writeString(script, """
                #!/bin/sh
                . /etc/os-release; echo "$ID $VERSION_CODENAME"
                dpkg-query -W -f '${Package}\\n' gcc-12 python3 make busybox libc6-dev | sort | tr '\\n' ' '; echo
                dpkg-query -W | wc -l
                ls /usr/bin | grep -E '^(gcc|python3|make|busybox)$' | sort | xargs echo
                find /usr/lib/python3.11/json -name '*.py' | sort | xargs cat | wc -l
                cut -d: -f1,7 /etc/passwd | grep -v nologin | sort | head -3
                seq 1 100 | paste -sd+ | python3 -c 'import sys; print(eval(sys.stdin.read()))'
                echo tracer | busybox tr a-z A-Z | rev | tee /tmp/../mnt/tee.out | wc -c
                readlink /proc/self/exe | xargs basename
                bash -c 'set -o pipefail; false | cat; echo pipefail=$?'
                ls -l /proc/$$/cwd | sed 's/.* -> //'
                exit 6
                """);
        assumeTrue(script.toFile().setExecutable(true, false), "chmod " + script);
        Exec.Result r = same("/mnt/pipes.sh");
        assertEquals(6, r.exit(), r::toString);
        assertTrue(r.out().startsWith("debian bookworm\nbusybox gcc-12 libc6-dev make python3 \n"), r::toString);
        assertTrue(r.out().contains("\n5050\n7\nreadlink\npipefail=1\n/\n"), r::toString);
    }
}
