package io.tether.daemon.tracer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tether.daemon.guest.Bind;
import io.tether.daemon.guest.GuestView;
import io.tether.daemon.guest.OpenGate;
import io.tether.daemon.mirror.FirstOpens;
import io.tether.daemon.tracer.arch.Arches;
import io.tether.daemon.tracer.handler.Handlers;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The open gate of a kernel-rooted run (FirstOpens over fanotify): a read-only open runs without a stop, the kernel
 * holds a file's first open until the access has its contents in place, later opens of the same inode are not held
 * again until a write (in this run or the next), a file under a bind is named by its source, and a refusal reaches
 * the program as an error, never as the placeholder's zeros.
 */
class OpenGateRunTest {
    @TempDir Path tmp;
    TracedRun t;
    Path hostW;
    FirstOpens gate;

    @BeforeEach
    void rootfs() throws Exception {
        assumeTrue(new ProcessBuilder("id", "-u").start().inputReader().readLine().equals("0"), "chroot and fanotify need root");
        t = new TracedRun(tmp);
        for (String d : List.of("dev", "proc", "sys", "w")) Files.createDirectories(t.rootfs.resolve(d));
        hostW = Files.createDirectories(tmp.resolve("host-w")).toRealPath();
        gate = FirstOpens.open();
        assumeTrue(gate != null, "no fanotify permission events here");
    }

    @AfterEach
    void closeGate() {
        if (gate != null) gate.close();
    }

    /** A hooked access over local files whose placeholders (sparse files) get their contents at first open. */
    static final class GatedAccess extends HookedLocalAccess {
        final Map<String, byte[]> contents = new ConcurrentHashMap<>();
        final Set<String> refused = ConcurrentHashMap.newKeySet();
        final List<String> held = Collections.synchronizedList(new ArrayList<>());
        final List<String> stopped = Collections.synchronizedList(new ArrayList<>());
        String mirrored = "/";
        FirstOpens gate;
        volatile OpenGate made;

        void placeholder(Path file, String text) throws IOException {
            byte[] b = text.getBytes(StandardCharsets.ISO_8859_1);
            Files.deleteIfExists(file);
            try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
                f.setLength(b.length); // sparse: reads as zeros until filled
            }
            contents.put(file.toRealPath().toString(), b);
        }

        private int fill(String hostPath) {
            byte[] b = contents.remove(hostPath);
            if (b == null) return 0;
            try {
                Files.write(Path.of(hostPath), b); // in place: the inode being opened gets them
                return 0;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        @Override
        public void beforeOpen(String hostPath, int flags, int mode) throws ErrnoException {
            stopped.add(hostPath);
            if (refused.contains(hostPath)) throw new ErrnoException(Errno.ENOENT, "open", hostPath);
            fill(hostPath);
        }

        @Override
        public void beforeExec(String hostPath) throws ErrnoException {
            stopped.add("exec " + hostPath);
            fill(hostPath);
        }

        @Override
        public OpenGate openGate(int rootPid, String rootHostPath, Map<String, String> bindsSeenAt) {
            if (gate == null) return null;
            Map<String, String> ours = new java.util.HashMap<>(bindsSeenAt);
            ours.values().removeIf(source -> !source.startsWith(mirrored)); // /proc, /dev, /sys: local
            made = gate.admit(rootPid, rootHostPath, ours, (hostPath, ino, exec, mayWait) -> {
                if (!mayWait && contents.containsKey(hostPath)) return FirstOpens.WAIT; // a fetch: on a thread that may wait
                held.add(exec ? "exec " + hostPath : hostPath);
                return refused.contains(hostPath) ? Errno.ENOENT : fill(hostPath);
            });
            return made;
        }

        long count(List<String> list, String hostPath) {
            synchronized (list) {
                return list.stream().filter(hostPath::equals).count();
            }
        }
    }

    private TracedRun.Result run(GatedAccess access, String script) throws Exception {
        return run(access, script, gate);
    }

    private TracedRun.Result run(GatedAccess access, String script, FirstOpens gate) throws Exception {
        t.kernelRooted = true;
        access.mirrored = hostW.toString();
        access.gate = gate;
        GuestView view = GuestView.builder(t.rootfs.toString()).glueDir(t.work.resolve("glue").toString())
                .bind(new Bind(hostW.toString(), "/w")).fileAccess(access).build();
        return t.run(view, Handlers.standard(Arches.X86_64), "/", c -> { }, "/bin/sh", "-c", script);
    }

    @Test
    void readOnlyOpensPassTheKernelHoldsOnlyAFilesFirstOpenAndABindsFileIsNamedByItsSource() throws Exception {
        String script = "cat /etc/data /etc/data /etc/data; cat /w/keep; echo more >> /etc/data; cat /etc/data";
        GatedAccess access = new GatedAccess();
        String data = t.rootfs.toRealPath().resolve("etc/data").toString(), keep = hostW.resolve("keep").toString();
        access.placeholder(Path.of(data), "first\n");
        access.placeholder(Path.of(keep), "kept\n");
        TracedRun.Result gated = run(access, script);
        assertTrue(gated.kernelRooted());
        assertNotNull(access.made, "the gate went up");
        assertEquals("first\nfirst\nfirst\nkept\nfirst\nmore\n", gated.output());
        // Held once, then ignored by the kernel until the append; the append's open stopped (a write).
        assertEquals(2, access.count(access.held, data), access.held.toString());
        assertEquals(1, access.count(access.held, keep), "by its source, never the mountpoint's path: " + access.held);
        assertEquals(1, access.count(access.stopped, data), "only the write open stopped: " + access.stopped);
        assertEquals(0, access.count(access.stopped, keep), access.stopped.toString());
        assertEquals(0, FirstOpens.counts(access.made)[1]);

        // The marks outlive the run: the next run's opens of the same inodes are not held at all.
        GatedAccess next = new GatedAccess();
        TracedRun.Result again = run(next, "cat /etc/data /w/keep");
        assertEquals("first\nmore\nkept\n", again.output());
        assertEquals(0, next.count(next.held, data) + next.count(next.held, keep), next.held.toString());

        GatedAccess ungated = new GatedAccess();
        ungated.placeholder(Path.of(data), "first\n");
        ungated.placeholder(Path.of(keep), "kept\n");
        TracedRun.Result stopping = run(ungated, script, null);
        assertEquals(gated.output(), stopping.output());
        assertEquals(5, ungated.count(ungated.stopped, data), ungated.stopped.toString());
        assertTrue(gated.stops() + 4 <= stopping.stops(), "gated " + gated.stops() + " stops, ungated " + stopping.stops());
    }

    /**
     * An exec behind the gate does not stop: the kernel's open of the program (a placeholder) is held as an exec's,
     * the program gets its contents there and runs; the next exec of it is not held at all.
     */
    @Test
    void anExecRunsWithoutAStopItsProgramHeldAtTheGate() throws Exception {
        GatedAccess access = new GatedAccess();
        Path program = t.rootfs.resolve("bin/busybox2");
        access.placeholder(program, Files.readString(Path.of("/usr/bin/busybox"), StandardCharsets.ISO_8859_1));
        Files.setPosixFilePermissions(program, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        String host = program.toRealPath().toString();
        TracedRun.Result r = run(access, "/bin/busybox2 echo one; /bin/busybox2 echo two");
        assertTrue(r.kernelRooted());
        assertEquals("one\ntwo\n", r.output());
        assertEquals(1, access.count(access.held, "exec " + host), access.held.toString());
        assertEquals(0, access.count(access.stopped, "exec " + host), "no execve stop: " + access.stopped);
    }

    @Test
    void aRefusedFirstOpenFailsTheOpenAndNeverShowsThePlaceholdersZeros() throws Exception {
        GatedAccess access = new GatedAccess();
        Path gone = t.rootfs.resolve("etc/gone");
        access.placeholder(gone, "never read\n");
        access.refused.add(gone.toRealPath().toString());
        TracedRun.Result r = run(access, "cat /etc/gone; echo rc=$?");
        assertTrue(r.kernelRooted());
        // EIO where the kernel takes an errno from the gate (6.14 on), EPERM before.
        assertTrue(r.output().matches("(?s).*(Input/output error|Operation not permitted).*rc=1\n"), r.output());
        assertFalse(r.output().contains("\0"), "no zeros: " + r.output());
        assertEquals(1, FirstOpens.counts(access.made)[1]);
    }
}
