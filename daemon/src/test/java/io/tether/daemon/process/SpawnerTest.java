package io.tether.daemon.process;

import com.sun.jna.Memory;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.posix.LibC;
import io.tether.posix.Signals;
import io.tether.posix.WaitStatus;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.*;

@Timeout(60)
class SpawnerTest {
    static final List<String> ENV = List.of("PATH=/usr/bin:/bin", "FOO=bar baz");

    @TempDir
    Path tmp;
    Spawner spawner;

    @BeforeEach
    void start() throws Exception {
        spawner = new Spawner(tmp.resolve("run"));
    }

    @AfterEach
    void stop() {
        spawner.close();
    }

    /** Runs sh -c script with stdout (and stderr) on a pipe; returns {output, status}. */
    private Object[] sh(String script, String cwd, int umask) throws Exception {
        int[] p = LibC.pipe(LibC.O_CLOEXEC);
        ChildProcess c;
        try {
            c = spawner.spawn(SpawnSpec.of("/bin/sh", List.of("sh", "-c", script), ENV, cwd).withUmask(umask)
                    .withFds(Map.of(1, p[1], 2, p[1])));
        } finally {
            LibC.close(p[1]);
        }
        String out = readAll(p[0]);
        LibC.close(p[0]);
        return new Object[] {out, c.exit().get(20, TimeUnit.SECONDS)};
    }

    static String readAll(int fd) throws ErrnoException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (Memory m = new Memory(4096)) {
            while (true) {
                int n;
                try {
                    n = LibC.read(fd, m, 4096);
                } catch (ErrnoException e) {
                    if (e.errno() == Errno.EIO) break; // pty: every slave closed
                    throw e;
                }
                if (n == 0) break;
                out.write(m.getByteArray(0, n), 0, n);
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void childGetsExactEnvCwdAndUmaskAndTheDaemonKeepsItsOwn() throws Exception {
        int daemonUmask = LibC.umask(022);
        LibC.umask(daemonUmask);
        Object[] r = sh("echo \"$FOO\"; pwd; umask; env | sort", "/tmp", 027);
        int after = LibC.umask(daemonUmask);
        assertEquals(daemonUmask, after);
        assertEquals("bar baz\n/tmp\n0027\nFOO=bar baz\nPATH=/usr/bin:/bin\nPWD=/tmp\n", r[0]);
        assertEquals(0, ((WaitStatus) r[1]).exitCode());
    }

    @Test
    void exitCodeIsReported() throws Exception {
        WaitStatus s = (WaitStatus) sh("exit 42", null, 022)[1];
        assertTrue(s.exited());
        assertEquals(42, s.exitCode());
    }

    @Test
    void childHasOnlyItsMappedFdsAndClearSignalState() throws Exception {
        int[] p = LibC.pipe(LibC.O_CLOEXEC);
        int[] leaky = LibC.pipe(0); // not CLOEXEC: must still not reach the child
        ChildProcess c = spawner.spawn(SpawnSpec.of("/bin/sleep", List.of("sleep", "30"), ENV, null).withFds(Map.of(7, p[1])));
        try {
            // spawn() returns once the gate is open: the child may still be on its way to execve, holding the gate's fd.
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!Files.readString(Path.of("/proc/" + c.pid() + "/comm")).trim().equals("sleep")) {
                if (System.nanoTime() > end) throw new AssertionError("the child never exec'd sleep");
                Thread.sleep(2);
            }
            // Its loader still opens (and closes) ld.so.cache and libc at fd 3 after exec: a leak is what stays.
            Set<Integer> fds = fdsOf(c.pid());
            end = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (!fds.equals(Set.of(0, 1, 2, 7)) && System.nanoTime() < end) {
                Thread.sleep(2);
                fds = fdsOf(c.pid());
            }
            assertEquals(Set.of(0, 1, 2, 7), fds);
            String status = Files.readString(Path.of("/proc/" + c.pid() + "/status"));
            assertEquals(0L, sigField(status, "SigBlk"), status);
            // Signals 1-31 all default; glibc keeps its internal 32/33 ignored, which its programs reset.
            assertEquals(0L, sigField(status, "SigIgn") & 0x7fffffffL, status);
        } finally {
            c.signalGroup(Signals.SIGKILL);
            for (int fd : new int[] {p[0], p[1], leaky[0], leaky[1]}) LibC.close(fd);
        }
        assertEquals(Signals.SIGKILL, c.exit().get(20, TimeUnit.SECONDS).termSignal());
    }

    private static Set<Integer> fdsOf(int pid) throws java.io.IOException {
        Set<Integer> fds = new TreeSet<>();
        try (var dir = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            dir.forEach(f -> fds.add(Integer.parseInt(f.getFileName().toString())));
        }
        return fds;
    }

    static long sigField(String status, String name) {
        for (String line : status.split("\n")) {
            if (line.startsWith(name + ":")) return Long.parseUnsignedLong(line.substring(name.length() + 1).trim(), 16);
        }
        throw new AssertionError(name + " missing");
    }

    @Test
    void fdMappingsThatCrossDoNotClobberEachOther() throws Exception {
        int[] a = LibC.pipe(LibC.O_CLOEXEC);
        int[] b = LibC.pipe(LibC.O_CLOEXEC);
        // a's write end goes to b's write end's number and vice versa.
        ChildProcess c = spawner.spawn(SpawnSpec.of("/bin/bash", List.of("bash", "-c", "echo A >&" + b[1] + "; echo B >&" + a[1]),
                ENV, null).withFds(Map.of(b[1], a[1], a[1], b[1])));
        LibC.close(a[1]);
        LibC.close(b[1]);
        assertEquals("A\n", readAll(a[0]));
        assertEquals("B\n", readAll(b[0]));
        LibC.close(a[0]);
        LibC.close(b[0]);
        assertEquals(0, c.exit().get(20, TimeUnit.SECONDS).exitCode());
    }

    @Test
    void ptySlaveIsTheControllingTerminalWithTheGivenSize() throws Exception {
        try (Pty pty = Pty.open(24, 80)) {
            ChildProcess c = spawner.spawn(SpawnSpec.of("/bin/sh", List.of("sh", "-c",
                    "tty; stty size; exec 3</dev/tty && echo ctty-ok"), ENV, null).withPty(pty));
            String out = readAll(pty.masterFd()).replace("\r", "");
            assertEquals(0, c.exit().get(20, TimeUnit.SECONDS).exitCode());
            assertEquals(pty.slavePath() + "\n24 80\nctty-ok\n", out);
        }
    }

    @Test
    void ptyResizeReachesTheChild() throws Exception {
        try (Pty pty = Pty.open(24, 80)) {
            ChildProcess c = spawner.spawn(SpawnSpec.of("/bin/sh", List.of("sh", "-c",
                    "trap 'stty size; exit 0' WINCH; echo ready; while :; do sleep 0.05; done"), ENV, null).withPty(pty));
            StringBuilder seen = new StringBuilder();
            try (Memory m = new Memory(256)) {
                while (!seen.toString().contains("ready")) {
                    int n = LibC.read(pty.masterFd(), m, 256);
                    seen.append(new String(m.getByteArray(0, n), StandardCharsets.UTF_8));
                }
            }
            pty.resize(40, 132);
            String out = readAll(pty.masterFd()).replace("\r", "");
            assertEquals(0, c.exit().get(20, TimeUnit.SECONDS).exitCode());
            assertTrue(out.contains("40 132"), out);
        }
    }

    @Test
    void signalGroupReachesBackgroundChildrenToo() throws Exception {
        int[] p = LibC.pipe(LibC.O_CLOEXEC);
        ChildProcess c = spawner.spawn(SpawnSpec.of("/bin/sh", List.of("sh", "-c", "sleep 100 & echo $!; wait"), ENV, null)
                .withFds(Map.of(1, p[1])));
        LibC.close(p[1]);
        StringBuilder line = new StringBuilder();
        try (Memory m = new Memory(1)) {
            while (LibC.read(p[0], m, 1) == 1 && m.getByte(0) != '\n') line.append((char) m.getByte(0));
        }
        int bg = Integer.parseInt(line.toString());
        assertTrue(c.signalGroup(Signals.SIGTERM));
        WaitStatus s = c.exit().get(20, TimeUnit.SECONDS);
        assertTrue(s.signaled(), s.toString());
        assertEquals(Signals.SIGTERM, s.termSignal());
        LibC.close(p[0]);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (alive(bg) && System.nanoTime() < deadline) Thread.sleep(20);
        assertFalse(alive(bg), "background sleep " + bg + " survived");
    }

    static boolean alive(int pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            return !stat.substring(stat.lastIndexOf(')') + 2).startsWith("Z") && stat.contains("(sleep)");
        } catch (Exception e) {
            return false;
        }
    }

    @Test
    void missingProgramFailsWithEnoent() {
        ErrnoException e = assertThrows(ErrnoException.class,
                () -> spawner.spawn(SpawnSpec.of("/no/such/program", List.of("x"), ENV, null)));
        assertEquals(Errno.ENOENT, e.errno());
    }

    @Test
    void nonExecutableFailsWithEaccesAndGarbageWithEnoexec() throws Exception {
        Path plain = Files.writeString(tmp.resolve("plain"), "echo hi\n");
        ErrnoException e = assertThrows(ErrnoException.class,
                () -> spawner.spawn(SpawnSpec.of(plain.toString(), List.of("plain"), ENV, null)));
        assertEquals(Errno.EACCES, e.errno());
        Path garbage = Files.write(tmp.resolve("garbage"), new byte[] {1, 2, 3, 4, 5, 6, 7, 8});
        Files.setPosixFilePermissions(garbage, PosixFilePermissions.fromString("rwxr-xr-x"));
        e = assertThrows(ErrnoException.class, () -> spawner.spawn(SpawnSpec.of(garbage.toString(), List.of("g"), ENV, null)));
        assertEquals(Errno.ENOEXEC, e.errno());
        // and the spawner still works afterwards
        assertEquals(0, ((WaitStatus) sh("true", null, 022)[1]).exitCode());
    }

    @Test
    void hookRunsWhileTheChildIsBlockedBeforeExec() throws Exception {
        AtomicReference<String> exeAtHook = new AtomicReference<>();
        AtomicReference<Integer> pidAtHook = new AtomicReference<>();
        try (Spawner hooked = new Spawner(tmp.resolve("run2"), pid -> {
            pidAtHook.set(pid);
            exeAtHook.set(Files.readSymbolicLink(Path.of("/proc/" + pid + "/exe")).toString());
        }, new ThreadReaper())) {
            ChildProcess c = hooked.spawn(SpawnSpec.of("/bin/true", List.of("true"), ENV, null));
            assertEquals(0, c.exit().get(20, TimeUnit.SECONDS).exitCode());
            assertEquals(c.pid(), pidAtHook.get());
            assertFalse(exeAtHook.get().endsWith("/true"), "hook ran after exec: " + exeAtHook.get());
        }
    }

    @Test
    void failingHookFailsTheSpawnAndKillsTheChild() {
        try (Spawner hooked = new Spawner(tmp.resolve("run3"), pid -> { throw new IllegalStateException("no tracer"); }, new ThreadReaper())) {
            IOException e = assertThrows(IOException.class,
                    () -> hooked.spawn(SpawnSpec.of("/bin/sleep", List.of("sleep", "100"), ENV, null)));
            assertInstanceOf(IllegalStateException.class, e.getCause());
            assertEquals("no tracer", e.getCause().getMessage());
        } catch (Exception e) {
            fail(e);
        }
    }

    @Test
    void staleGateDirectoriesOfDeadDaemonsAreRemoved() throws Exception {
        Path run = tmp.resolve("run4");
        Path stale = Files.createDirectories(run.resolve("999999999-1"));
        LibC.mkfifo(stale.resolve("gate-3").toString(), 0600);
        Path live = Files.createDirectories(run.resolve(LibC.getpid() + "-999"));
        try (Spawner s = new Spawner(run)) {
            assertFalse(Files.exists(stale));
            assertTrue(Files.exists(live));
            assertTrue(Files.isDirectory(s.gateDir()));
        }
    }

    @Test
    void threeHundredSpawnsUnderGcChurnNeverHang() throws Exception {
        AtomicBoolean stop = new AtomicBoolean();
        Thread churn = new Thread(() -> {
            List<byte[]> keep = new ArrayList<>();
            long n = 0;
            while (!stop.get()) {
                keep.add(new byte[16 * 1024]);
                if (keep.size() > 500) keep.clear();
                if (++n % 20_000 == 0) System.gc();
            }
        });
        churn.start();
        try {
            List<ChildProcess> children = new ArrayList<>();
            for (int i = 0; i < 300; i++) {
                children.add(spawner.spawn(SpawnSpec.of("/bin/true", List.of("true"), ENV, null)));
            }
            for (ChildProcess c : children) assertEquals(0, c.exit().get(20, TimeUnit.SECONDS).exitCode());
        } finally {
            stop.set(true);
            churn.join();
        }
    }

    @Test
    void programSearchUsesTheChildsPath() throws Exception {
        assertEquals("/bin/sh", ProgramPath.resolve("sh", List.of("PATH=/bin"), null));
        assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class,
                () -> ProgramPath.resolve("sh", List.of("PATH=" + tmp), null)).errno());
        Files.writeString(tmp.resolve("tool"), "x");
        assertEquals(Errno.EACCES, assertThrows(ErrnoException.class,
                () -> ProgramPath.resolve("tool", List.of("PATH=" + tmp), null)).errno());
        assertEquals("./x", ProgramPath.resolve("./x", List.of(), null));
    }
}
