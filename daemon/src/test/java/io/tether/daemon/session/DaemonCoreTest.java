package io.tether.daemon.session;

import io.tether.posix.Errno;
import io.tether.posix.Signals;
import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.Direction;
import io.tether.protocol.proto.ExitStatus;
import io.tether.protocol.proto.FdSpec;
import io.tether.protocol.proto.FdStream;
import io.tether.protocol.proto.PtySpec;
import io.tether.protocol.proto.ResetCode;
import io.tether.protocol.proto.RunRequest;
import io.tether.protocol.proto.SessionMessage;
import io.tether.protocol.proto.Signal;
import io.tether.protocol.proto.StreamOpen;
import io.tether.protocol.proto.WindowSize;
import io.tether.protocol.transport.BytePipe;
import io.tether.protocol.transport.Transport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

@Timeout(60)
class DaemonCoreTest {
    static final List<String> ENV = List.of("PATH=/usr/bin:/bin");

    @TempDir
    Path tmp;
    DaemonCore core;
    Transport clientSide;
    Mux client;

    @BeforeEach
    void start() throws Exception {
        core = new DaemonCore(DaemonOptions.defaults().withRunDir(tmp.resolve("run")).withHome(tmp)
                .withKillGrace(Duration.ofMillis(500)));
        Transport[] t = BytePipe.duplex(1 << 16);
        clientSide = t[0];
        core.serve(t[1]);
        client = Mux.start(clientSide, Mux.Role.CLIENT, MuxConfig.defaults("test/0"), null);
        client.awaitReady();
    }

    @AfterEach
    void stop() {
        client.close();
        core.close();
    }

    /** A client-side session: stdout and stderr collected, stdin optional. */
    final class Run {
        final MuxStream run;
        final MuxStream stdin;
        final CompletableFuture<byte[]> outBytes;
        final CompletableFuture<String> out;
        final CompletableFuture<String> err;

        Run(RunRequest.Builder req, boolean withStdin) throws IOException {
            MuxStream in = withStdin ? fd(req, 0, Direction.TO_PROCESS) : null;
            MuxStream o = fd(req, 1, Direction.FROM_PROCESS);
            MuxStream e = fd(req, 2, Direction.FROM_PROCESS);
            stdin = in;
            outBytes = collectBytes(o);
            out = outBytes.thenApply(b -> new String(b, StandardCharsets.UTF_8));
            err = collect(e);
            run = client.open(StreamOpen.newBuilder().setRun(req).build());
        }

        SessionMessage next() throws IOException {
            return run.receive(SessionMessage.parser());
        }

        int started() throws IOException {
            SessionMessage m = next();
            assertTrue(m.hasStarted(), m.toString());
            return m.getStarted().getPid();
        }

        ExitStatus exit() throws IOException {
            SessionMessage m = next();
            assertTrue(m.hasExit(), m.toString());
            return m.getExit();
        }
    }

    MuxStream fd(RunRequest.Builder req, int target, Direction d) throws IOException {
        MuxStream s = client.open(StreamOpen.newBuilder().setFd(FdStream.getDefaultInstance()).build());
        req.addFds(FdSpec.newBuilder().setTargetFd(target).setDirection(d).setStreamId(s.id()));
        return s;
    }

    static CompletableFuture<String> collect(MuxStream s) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return readAll(s.in());
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
    }

    static CompletableFuture<byte[]> collectBytes(MuxStream s) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return s.in().readAllBytes();
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
    }

    static String readAll(InputStream in) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        in.transferTo(b);
        return b.toString(StandardCharsets.UTF_8);
    }

    static RunRequest.Builder sh(String script) {
        return RunRequest.newBuilder().addArgv("sh").addArgv("-c").addArgv(script).addAllEnv(ENV).setUmask(022);
    }

    @Test
    void stdoutStderrAndExitCodeArriveSeparately() throws Exception {
        Run r = new Run(sh("printf out; printf err >&2; exit 3"), false);
        assertTrue(r.started() > 0);
        assertEquals(3, r.exit().getCode());
        assertEquals("out", r.out.get(10, TimeUnit.SECONDS));
        assertEquals("err", r.err.get(10, TimeUnit.SECONDS));
    }

    @Test
    void stdinReachesTheProcessAndEofEndsIt() throws Exception {
        Run r = new Run(RunRequest.newBuilder().addArgv("wc").addArgv("-c").addAllEnv(ENV), true);
        r.started();
        byte[] block = new byte[100_000];
        for (int i = 0; i < 30; i++) r.stdin.out().write(block);
        r.stdin.closeWrite();
        assertEquals(0, r.exit().getCode());
        assertEquals("3000000", r.out.get(10, TimeUnit.SECONDS).trim());
    }

    @Test
    void bytesTheProcessLeftUnreadInAnInputPipeComeBackBeforeTheExit() throws Exception {
        // A make jobserver pipe: the process takes one token of four; the other three must return.
        RunRequest.Builder req = sh("dd bs=1 count=1 <&6 >/dev/null 2>&1");
        MuxStream tokens = fd(req, 6, Direction.TO_PROCESS);
        Run r = new Run(req, false);
        r.started();
        tokens.out().write("abcd".getBytes(StandardCharsets.US_ASCII));
        assertEquals(0, r.exit().getCode());
        tokens.closeWrite(); // the client ends its direction at the exit; the daemon then ends its own
        assertEquals("bcd", readAll(tokens.in()));
    }

    @Test
    void killedBySignalIsReportedByName() throws Exception {
        Run r = new Run(sh("kill -TERM $$"), false);
        r.started();
        ExitStatus e = r.exit();
        assertEquals("TERM", e.getSignal());
        assertEquals(15, e.getSignalNumber());
        assertFalse(e.getCoreDumped());
    }

    @Test
    void signalMessageReachesTheProcessGroup() throws Exception {
        Run r = new Run(sh("sleep 100 & wait"), false);
        int pid = r.started();
        int bg = sleeperInSession(pid);
        r.run.send(SessionMessage.newBuilder().setSignal(Signal.newBuilder().setName("INT")).build());
        assertGone(pid);
        assertFalse(r.out.isDone(), "stdout ended while the background sleep holds it");
        // A non-interactive shell's background jobs ignore SIGINT: the sleep still holds stdout.
        assertTrue(running(bg));
        r.run.send(SessionMessage.newBuilder().setSignal(Signal.newBuilder().setName("TERM")).build());
        assertEquals("INT", r.exit().getSignal());
        assertEquals("", r.out.get(10, TimeUnit.SECONDS));
    }

    @Test
    void tstpStopsAProgramWithDefaultActionAndContResumesIt() throws Exception {
        // The child leads its own session: the kernel would discard a plain TSTP to its orphaned group.
        Run r = new Run(RunRequest.newBuilder().addArgv("sleep").addArgv("100").addAllEnv(ENV), false);
        int pid = r.started();
        r.run.send(SessionMessage.newBuilder().setSignal(Signal.newBuilder().setName("TSTP")).build());
        assertEquals('T', awaitState(pid, 'T'));
        r.run.send(SessionMessage.newBuilder().setSignal(Signal.newBuilder().setName("CONT")).build());
        assertEquals('S', awaitState(pid, 'S'));
        r.run.send(SessionMessage.newBuilder().setSignal(Signal.newBuilder().setName("TERM")).build());
        assertEquals("TERM", r.exit().getSignal());
    }

    @Test
    void tstpIsOnlyDeliveredToAProgramThatCatchesIt() throws Exception {
        java.nio.file.Path told = tmp.resolve("usr1");
        Run r = new Run(sh("trap 'echo caught' TSTP; trap ': > " + told + "' USR1; echo ready; while :; do sleep 0.05; done"),
                false);
        int pid = r.started();
        // Started comes before the shell sets its traps: TSTP sent sooner would (rightly) stop it.
        awaitCatches(pid, Signals.SIGTSTP);
        awaitCatches(pid, Signals.SIGUSR1);
        r.run.send(SessionMessage.newBuilder().setSignal(Signal.newBuilder().setName("TSTP")).build());
        // Signals are delivered in order: once the shell ran its USR1 trap, a SIGSTOP the TSTP wrongly
        // brought would have stopped it first (and the trap would never run).
        r.run.send(SessionMessage.newBuilder().setSignal(Signal.newBuilder().setName("USR1")).build());
        for (int i = 0; i < 200 && !java.nio.file.Files.exists(told); i++) Thread.sleep(50);
        assertTrue(java.nio.file.Files.exists(told), "the USR1 trap ran within 10 s");
        assertEquals('S', awaitState(pid, 'S'), "a program that handles TSTP decides itself");
        r.run.send(SessionMessage.newBuilder().setSignal(Signal.newBuilder().setName("KILL")).build());
        assertEquals("KILL", r.exit().getSignal());
        assertTrue(r.out.get(10, TimeUnit.SECONDS).contains("caught"));
    }

    /** Waits (hang guard 10 s) until {@code pid} has a handler for {@code signo}. */
    static void awaitCatches(int pid, int signo) throws InterruptedException {
        for (int i = 0; i < 200 && !Session.catches(pid, signo); i++) Thread.sleep(50);
        assertTrue(Session.catches(pid, signo), "pid " + pid + " catches signal " + signo + " within 10 s");
    }

    /** Waits (hang guard 10 s) until /proc/PID/stat shows {@code want}; returns the last state seen. */
    static char awaitState(int pid, char want) throws Exception {
        char state = '?';
        for (int i = 0; i < 200 && state != want; i++) {
            String stat = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/" + pid + "/stat"));
            state = stat.charAt(stat.lastIndexOf(')') + 2);
            if (state != want) Thread.sleep(50);
        }
        return state;
    }

    @Test
    void missingProgramIsAnExecFailureWithEnoent() throws Exception {
        Run r = new Run(RunRequest.newBuilder().addArgv("no-such-program-xyz").addAllEnv(ENV), false);
        SessionMessage m = r.next();
        assertTrue(m.hasFailure(), m.toString());
        assertEquals(Errno.ENOENT, m.getFailure().getErrno());
        assertTrue(m.getFailure().getExec());
        assertNull(r.next());
        assertEquals("", r.out.get(10, TimeUnit.SECONDS));
    }

    @Test
    void requiredMissingCwdFailsAndOptionalOneFallsBackToHome() throws Exception {
        Run r = new Run(sh("pwd").setCwd("/no/such/dir").setCwdRequired(true), false);
        SessionMessage m = r.next();
        assertEquals(Errno.ENOENT, m.getFailure().getErrno());
        assertEquals("no such directory on the target: /no/such/dir", m.getFailure().getMessage());
        assertFalse(m.getFailure().getExec());

        Run home = new Run(sh("pwd").setCwd("/no/such/dir"), false);
        home.started();
        assertEquals(0, home.exit().getCode());
        assertEquals(tmp.toString(), home.out.get(10, TimeUnit.SECONDS).trim());

        Run given = new Run(sh("pwd").setCwd("/usr"), false);
        given.started();
        given.exit();
        assertEquals("/usr", given.out.get(10, TimeUnit.SECONDS).trim());
    }

    @Test
    void resetOfTheRunStreamKillsTheWholeGroupEvenIfItIgnoresHup() throws Exception {
        Run r = new Run(sh("trap '' HUP; sleep 100 & wait"), false);
        int pid = r.started();
        int bg = sleeperInSession(pid);
        r.run.reset(ResetCode.RESET_CANCEL, "client gave up");
        assertGone(pid);
        assertGone(bg);
    }

    @Test
    void lostConnectionKillsItsSessions() throws Exception {
        Run r = new Run(sh("sleep 100 & wait"), false);
        int pid = r.started();
        int bg = sleeperInSession(pid);
        clientSide.close();
        assertGone(pid);
        assertGone(bg);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (core.activeSessions() > 0 && System.nanoTime() < deadline) Thread.sleep(20);
        assertEquals(0, core.activeSessions());
    }

    /** The background sleep of the session led by {@code leader}. */
    static int sleeperInSession(int leader) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            try (var procs = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
                for (Path p : procs) {
                    try {
                        String stat = Files.readString(p.resolve("stat"));
                        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                        if (stat.contains("(sleep)") && Integer.parseInt(f[3]) == leader) {
                            return Integer.parseInt(p.getFileName().toString());
                        }
                    } catch (IOException ignored) {
                        // gone
                    }
                }
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no background sleep in session " + leader);
    }

    static void assertGone(int pid) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            if (!running(pid)) return;
            Thread.sleep(20);
        }
        fail("pid " + pid + " still running");
    }

    static boolean running(int pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            return !stat.substring(stat.lastIndexOf(')') + 2).startsWith("Z");
        } catch (IOException e) {
            return false;
        }
    }

    @Test
    void manySessionsRunConcurrentlyOnOneConnection() throws Exception {
        List<Run> runs = new ArrayList<>();
        for (int i = 0; i < 30; i++) runs.add(new Run(sh("sleep 0.2; echo " + i), false));
        for (int i = 0; i < runs.size(); i++) {
            Run r = runs.get(i);
            r.started();
            assertEquals(0, r.exit().getCode());
            assertEquals(i + "\n", r.out.get(10, TimeUnit.SECONDS));
        }
    }

    @Test
    void ptySessionHasATerminalAndFollowsWindowSize() throws Exception {
        RunRequest.Builder req = sh("tty; stty size; trap 'stty size; exit 7' WINCH; echo ready; while :; do sleep 0.05; done");
        MuxStream in = client.open(StreamOpen.newBuilder().setFd(FdStream.getDefaultInstance()).build());
        MuxStream out = client.open(StreamOpen.newBuilder().setFd(FdStream.getDefaultInstance()).build());
        req.setPty(PtySpec.newBuilder().setTerm("xterm").setRows(24).setCols(80).setInStream(in.id()).setOutStream(out.id()));
        MuxStream run = client.open(StreamOpen.newBuilder().setRun(req).build());
        assertTrue(run.receive(SessionMessage.parser()).hasStarted());
        StringBuilder seen = new StringBuilder();
        byte[] buf = new byte[256];
        while (!seen.toString().contains("ready")) {
            int n = out.in().read(buf);
            assertTrue(n > 0);
            seen.append(new String(buf, 0, n, StandardCharsets.UTF_8));
        }
        run.send(SessionMessage.newBuilder().setWindowSize(WindowSize.newBuilder().setRows(50).setCols(120)).build());
        seen.append(readAll(out.in()));
        SessionMessage m = run.receive(SessionMessage.parser());
        assertEquals(7, m.getExit().getCode());
        String text = seen.toString().replace("\r", "");
        assertTrue(text.startsWith("/dev/pts/"), text);
        assertTrue(text.contains("\n24 80\n"), text);
        assertTrue(text.contains("50 120"), text);
    }

    @Test
    void readWriteFdIsASocketBothWays() throws Exception {
        RunRequest.Builder req = sh("read x <&5; echo \"got $x\" >&5");
        MuxStream both = fd(req, 5, Direction.BOTH);
        Run r = new Run(req, false);
        r.started();
        both.out().write("hi\n".getBytes());
        both.closeWrite();
        assertEquals("got hi\n", readAll(both.in()));
        assertEquals(0, r.exit().getCode());
    }

    @Test
    void bytesAreCarriedUnchangedBothWays() throws Exception {
        Run r = new Run(RunRequest.newBuilder().addArgv("cat").addAllEnv(ENV), true);
        r.started();
        byte[] data = new byte[3 << 20];
        new java.util.Random(7).nextBytes(data);
        r.stdin.out().write(data);
        r.stdin.closeWrite();
        assertEquals(0, r.exit().getCode());
        assertArrayEquals(data, r.outBytes.get(20, TimeUnit.SECONDS));
    }

    @Test
    void finishedSessionsLeaveNoDaemonFdsOpen() throws Exception {
        // warm up lazily opened JVM and JNA files first
        Run warm = new Run(sh("true"), true);
        warm.started();
        warm.exit();
        Thread.sleep(200);
        long before = openFds();
        for (int i = 0; i < 10; i++) {
            RunRequest.Builder req = sh("echo x; echo y >&2; read a <&5; echo z >&5");
            MuxStream sock = fd(req, 5, Direction.BOTH);
            Run r = new Run(req, true);
            r.started();
            sock.out().write("q\n".getBytes());
            sock.closeWrite();
            r.stdin.closeWrite();
            assertEquals("z\n", readAll(sock.in()));
            assertEquals(0, r.exit().getCode());
            r.out.get(10, TimeUnit.SECONDS);
            r.run.closeWrite();
        }
        RunRequest.Builder req = sh("tty");
        MuxStream in = client.open(StreamOpen.newBuilder().setFd(FdStream.getDefaultInstance()).build());
        MuxStream out = client.open(StreamOpen.newBuilder().setFd(FdStream.getDefaultInstance()).build());
        req.setPty(PtySpec.newBuilder().setRows(24).setCols(80).setInStream(in.id()).setOutStream(out.id()));
        MuxStream run = client.open(StreamOpen.newBuilder().setRun(req).build());
        assertTrue(run.receive(SessionMessage.parser()).hasStarted());
        readAll(out.in());
        assertTrue(run.receive(SessionMessage.parser()).hasExit());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (openFds() > before && System.nanoTime() < deadline) Thread.sleep(50);
        assertEquals(before, openFds());
    }

    /** Session-shaped fds (pipes, sockets, ptys): the JVM opening a jar lazily must not count. */
    static long openFds() throws IOException {
        try (var s = Files.list(Path.of("/proc/self/fd"))) {
            return s.filter(fd -> {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    return target.startsWith("pipe:") || target.startsWith("socket:") || target.startsWith("/dev/pts")
                            || target.equals("/dev/ptmx") || target.startsWith("anon_inode:");
                } catch (IOException gone) {
                    return false;
                }
            }).count();
        }
    }
}
