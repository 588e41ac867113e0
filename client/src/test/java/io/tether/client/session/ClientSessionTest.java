package io.tether.client.session;

import io.tether.posix.Errno;
import io.tether.posix.Signals;
import io.tether.posix.Terminal;
import io.tether.protocol.proto.Direction;
import io.tether.protocol.proto.ExitStatus;
import io.tether.protocol.proto.ResetCode;
import io.tether.protocol.proto.RunRequest;
import io.tether.protocol.proto.SessionMessage;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ClientSessionTest {
    private LocalPipes pipes;
    private final List<FakeDaemon> daemons = new ArrayList<>();

    @BeforeEach
    void pipes() throws Exception {
        pipes = new LocalPipes();
    }

    @AfterEach
    void close() {
        daemons.forEach(FakeDaemon::close);
        pipes.close();
    }

    private FakeDaemon daemon(FakeDaemon.Script script) throws IOException {
        FakeDaemon d = new FakeDaemon(script);
        daemons.add(d);
        return d;
    }

    private int run(FakeDaemon d, RunSpec spec) {
        return ClientSession.run(d.client, spec, "fake", pipes.io());
    }

    private static RunSpec spec(String... argv) {
        return new RunSpec(List.of(argv), List.of("PATH=/bin", "TERM=vt100"), null, false, 022, RunSpec.TtyMode.NEVER, List.of());
    }

    @Test
    void exitCodeOfTheCommandIsReturnedAndStdoutArrives() throws Exception {
        FakeDaemon d = daemon(s -> {
            s.started();
            s.write(1, "hello\n".getBytes());
            s.write(2, "warn\n".getBytes());
            s.exit(42);
        });
        pipes.closeStdin();
        assertEquals(42, run(d, spec("hello")));
        assertEquals("hello\n", pipes.stdoutText());
        assertEquals("warn\n", pipes.stderrText());
    }

    @Test
    void requestCarriesArgvEnvCwdUmaskAndStdioDirections() throws Exception {
        FakeDaemon d = daemon(s -> s.exit(0));
        pipes.closeStdin();
        RunSpec spec = new RunSpec(List.of("ls", "-l"), List.of("A=1"), "/tmp", true, 027, RunSpec.TtyMode.NEVER, List.of());
        assertEquals(0, run(d, spec));
        RunRequest r = d.session().request;
        assertEquals(List.of("ls", "-l"), r.getArgvList());
        assertEquals(List.of("A=1"), r.getEnvList());
        assertEquals("/tmp", r.getCwd());
        assertTrue(r.getCwdRequired());
        assertEquals(027, r.getUmask());
        assertFalse(r.hasPty());
        assertEquals(List.of(Direction.TO_PROCESS, Direction.FROM_PROCESS, Direction.FROM_PROCESS),
                r.getFdsList().stream().map(f -> f.getDirection()).toList());
        assertEquals(List.of(0, 1, 2), r.getFdsList().stream().map(f -> f.getTargetFd()).toList());
    }

    @Test
    void killedBySignalExitsWith128PlusTheLocalNumberOfItsName() throws Exception {
        // The target's number (99 here) is informational: the name decides.
        FakeDaemon d = daemon(s -> s.killed("TERM", 99));
        pipes.closeStdin();
        assertEquals(128 + Signals.SIGTERM, run(d, spec("sleep", "100")));
    }

    @Test
    void exitStatusMappingCoversCodesSignalsAndUnknownNames() {
        assertEquals(0, ClientSession.exitCode(ExitStatus.newBuilder().setCode(0).build()));
        assertEquals(3, ClientSession.exitCode(ExitStatus.newBuilder().setCode(3).build()));
        assertEquals(137, ClientSession.exitCode(ExitStatus.newBuilder().setSignal("KILL").setSignalNumber(9).build()));
        assertEquals(128 + 34 + 2, ClientSession.exitCode(ExitStatus.newBuilder().setSignal("RTMIN+2").build()));
        assertEquals(128 + 7, ClientSession.exitCode(ExitStatus.newBuilder().setSignal("NOSUCH").setSignalNumber(7).build()));
        assertEquals(255, ClientSession.exitCode(ExitStatus.getDefaultInstance()));
    }

    @Test
    void commandNotFoundExits127WithOneStrerrorLine() throws Exception {
        FakeDaemon d = daemon(s -> s.fail(Errno.ENOENT, "execve nosuch: ENOENT", true));
        pipes.closeStdin();
        assertEquals(127, run(d, spec("nosuch", "arg")));
        assertEquals("tether: nosuch: No such file or directory\n", pipes.stderrText());
    }

    @Test
    void commandNotExecutableExits126() throws Exception {
        FakeDaemon d = daemon(s -> s.fail(Errno.EACCES, "", true));
        pipes.closeStdin();
        assertEquals(126, run(d, spec("/etc/passwd")));
        assertEquals("tether: /etc/passwd: Permission denied\n", pipes.stderrText());
    }

    @Test
    void daemonRefusingTheRequestExits255WithOneLine() throws Exception {
        FakeDaemon d = daemon(s -> s.fail(Errno.ENOENT, "cannot change to /nowhere: No such file or directory", false));
        pipes.closeStdin();
        assertEquals(255, run(d, spec("true")));
        String err = pipes.stderrText();
        assertEquals("tether: fake: cannot change to /nowhere: No such file or directory\n", err);
    }

    @Test
    void runStreamResetByTheDaemonExits255AsARefusal() throws Exception {
        FakeDaemon d = daemon(s -> s.run.reset(ResetCode.RESET_REFUSED, "too many sessions"));
        pipes.closeStdin();
        assertEquals(255, run(d, spec("true")));
        String err = pipes.stderrText();
        assertTrue(err.startsWith("tether: fake refused the session: ") && err.contains("too many sessions"), err);
        assertEquals(1, err.lines().count(), err);
    }

    @Test
    void connectionLostMidSessionExits255WithOneLine() throws Exception {
        FakeDaemon d = daemon(s -> {
            s.started();
            s.write(1, "partial".getBytes());
            Thread.sleep(100);
            s.run.mux().transport().close();
        });
        assertEquals(255, run(d, spec("sleep", "100")));
        String err = pipes.stderrText();
        assertTrue(err.startsWith("tether: lost the connection to fake: connection to memory lost"), err);
        assertEquals(1, err.lines().count(), err);
    }

    @Test
    void runStreamEndingWithoutExitStatusIsAProtocolError() throws Exception {
        FakeDaemon d = daemon(s -> s.run.closeWrite());
        pipes.closeStdin();
        assertEquals(255, run(d, spec("true")));
        assertTrue(pipes.stderrText().startsWith("tether: protocol error"));
    }

    @Test
    void stdinIsRelayedBinarySafeAndItsEofReachesTheProcess() throws Exception {
        byte[] all = new byte[256 * 1024];
        new Random(1).nextBytes(all);
        for (int i = 0; i < 256; i++) all[i] = (byte) i; // every byte value, NUL and ^D included
        FakeDaemon d = daemon(s -> {
            byte[] got = FakeDaemon.Session.readAll(s.fd(0)); // returns only at EOF
            s.write(1, got);
            s.exit(0);
        });
        CompletableFuture.runAsync(() -> {
            try {
                pipes.writeStdin(all);
                pipes.closeStdin();
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        assertEquals(0, run(d, spec("cat")));
        assertArrayEquals(all, pipes.stdoutBytes());
    }

    @Test
    void outputIsDrainedBeforeReturningThoughTheExitOvertakesIt() throws Exception {
        int size = 8 << 20;
        FakeDaemon d = daemon(s -> {
            byte[] chunk = new byte[32 * 1024];
            Arrays.fill(chunk, (byte) 'x');
            for (int i = 0; i < size / chunk.length; i++) s.write(1, chunk);
            s.exit(0);
        });
        pipes.closeStdin();
        assertEquals(0, run(d, spec("yes")));
        // The session's own copy of the write end is ours only: nothing arrives after run() returned.
        byte[] out = pipes.stdoutBytes();
        assertEquals(size, out.length);
    }

    @Test
    void largeStdinIsBackPressuredEndToEnd() throws Exception {
        long total = 256L << 20; // far beyond every window and buffer on the path
        FakeDaemon d = daemon(s -> {
            long n = FakeDaemon.Session.count(s.fd(0));
            s.write(1, (n + "\n").getBytes());
            s.exit(0);
        });
        CompletableFuture.runAsync(() -> {
            try {
                byte[] zeros = new byte[1 << 20];
                for (long sent = 0; sent < total; sent += zeros.length) pipes.writeStdin(zeros);
                pipes.closeStdin();
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        assertEquals(0, run(d, spec("wc", "-c")));
        assertEquals(total + "\n", pipes.stdoutText());
    }

    @Test
    void brokenStdoutResetsTheStreamSoTheProcessSeesEpipe() throws Exception {
        int[] closedOut = pipes.track(Terminal.pipe());
        pipes.close(closedOut[0]); // nobody reads our stdout any more (`| head -1` exited)
        CompletableFuture<Boolean> writerSawReset = new CompletableFuture<>();
        FakeDaemon d = daemon(s -> {
            byte[] chunk = new byte[32 * 1024];
            try {
                for (int i = 0; i < 10_000; i++) s.write(1, chunk);
                writerSawReset.complete(false);
            } catch (IOException e) {
                writerSawReset.complete(true);
            }
            s.killed("PIPE", 13);
        });
        pipes.closeStdin();
        ClientSession.LocalIo io = new ClientSession.LocalIo(pipes.stdin[0], closedOut[1], pipes.stderr[1], false);
        assertEquals(128 + 13, ClientSession.run(d.client, spec("yes"), "fake", io));
        assertTrue(writerSawReset.get(5, TimeUnit.SECONDS));
        assertEquals("", pipes.stderrText());
    }

    @Test
    void extraFdsKeepTheirNumbersAndDirections() throws Exception {
        int[] input = pipes.track(Terminal.pipe());   // `N<input`: we hold the read end
        int[] log = pipes.track(Terminal.pipe());     // `M>log`: we hold the write end
        int[] sock = pipes.track(Terminal.socketpair());
        int inFd = input[0];
        int logFd = log[1];
        int sockFd = sock[0];
        CompletableFuture<byte[]> logged = pipes.collect(log[0]);
        FakeDaemon d = daemon(s -> {
            byte[] in = FakeDaemon.Session.readAll(s.fd(inFd));
            s.write(logFd, in);
            s.write(sockFd, "to socket".getBytes());
            s.exit(0);
        });
        pipes.closeStdin();
        Terminal.writeFully(input[1], "from input".getBytes());
        pipes.close(input[1]);
        RunSpec spec = new RunSpec(List.of("make"), List.of(), null, false, 022, RunSpec.TtyMode.NEVER,
                List.of(sockFd, logFd, inFd, 1 /* stdio is never an extra fd */));
        assertEquals(0, run(d, spec));

        FakeDaemon.Session s = d.session();
        assertEquals(Direction.TO_PROCESS, s.directions.get(inFd));
        assertEquals(Direction.FROM_PROCESS, s.directions.get(logFd));
        assertEquals(Direction.BOTH, s.directions.get(sockFd));
        assertEquals(6, s.request.getFdsCount());
        pipes.close(log[1]);
        assertEquals("from input", new String(logged.get(5, TimeUnit.SECONDS), StandardCharsets.UTF_8));
        byte[] fromSocket = new byte[64];
        try (com.sun.jna.Memory m = new com.sun.jna.Memory(64)) {
            int n = Terminal.read(sock[1], com.sun.jna.Pointer.nativeValue(m), 64);
            m.read(0, fromSocket, 0, n);
            assertEquals("to socket", new String(fromSocket, 0, n, StandardCharsets.UTF_8));
            assertEquals(0, Terminal.read(sock[1], com.sun.jna.Pointer.nativeValue(m), 64), "half-closed at EOF");
        }
    }

    @Test
    void closedExtraFdIsNotForwarded() throws Exception {
        int[] p = Terminal.pipe();
        Terminal.close(p[0]);
        Terminal.close(p[1]);
        FakeDaemon d = daemon(s -> s.exit(0));
        pipes.closeStdin();
        RunSpec spec = new RunSpec(List.of("true"), List.of(), null, false, 022, RunSpec.TtyMode.NEVER, List.of(p[0]));
        assertEquals(0, run(d, spec));
        assertEquals(3, d.session().request.getFdsCount());
    }

    @Test
    void directionComesFromTheAccessMode() throws Exception {
        int[] p = pipes.track(Terminal.pipe());
        int[] sp = pipes.track(Terminal.socketpair());
        assertEquals(Direction.TO_PROCESS, ForwardedFd.directionOf(p[0]));
        assertEquals(Direction.FROM_PROCESS, ForwardedFd.directionOf(p[1]));
        assertEquals(Direction.BOTH, ForwardedFd.directionOf(sp[0]));
        pipes.close(p[0]);
        io.tether.posix.ErrnoException e = assertThrows(io.tether.posix.ErrnoException.class, () -> ForwardedFd.directionOf(p[0]));
        assertEquals(Errno.EBADF, e.errno());
    }

    @Test
    void forcedPtyRequestsTermAndSizeAndRelaysItsStreams() throws Exception {
        FakeDaemon d = daemon(s -> {
            byte[] keys = FakeDaemon.Session.readAll(s.ptyIn);
            s.ptyOut.out().write(("echo:" + new String(keys)).getBytes());
            s.exit(0);
        });
        pipes.writeStdin("ls\r".getBytes());
        pipes.closeStdin();
        RunSpec spec = new RunSpec(List.of("sh"), List.of("TERM=vt100"), null, false, 022, RunSpec.TtyMode.FORCE, List.of());
        assertEquals(0, run(d, spec));
        RunRequest r = d.session().request;
        assertTrue(r.hasPty());
        assertEquals("vt100", r.getPty().getTerm());
        assertEquals(24, r.getPty().getRows()); // pipes have no size: the classic default
        assertEquals(80, r.getPty().getCols());
        assertEquals(0, r.getFdsCount(), "with a pty, fds 0-2 are its slave");
        assertEquals("echo:ls\r", pipes.stdoutText());
    }

    @Test
    void autoModeUsesPipesWhenStdinIsNotATerminal() throws Exception {
        FakeDaemon d = daemon(s -> s.exit(0));
        pipes.closeStdin();
        RunSpec spec = new RunSpec(List.of("true"), List.of(), null, false, 022, RunSpec.TtyMode.AUTO, List.of());
        assertEquals(0, run(d, spec));
        assertFalse(d.session().request.hasPty());
    }

    @Test
    void localSignalsAreForwardedByName() throws Exception {
        // Skipped visibly where the JVM refuses the handlers (-Xrs).
        org.junit.jupiter.api.Assumptions.assumeFalse(SignalRelay.unavailable().contains("USR1"));
        CompletableFuture<List<String>> seen = new CompletableFuture<>();
        FakeDaemon d = daemon(s -> {
            s.started();
            List<String> names = new ArrayList<>();
            SessionMessage m;
            while (names.size() < 2 && (m = s.next()) != null) {
                if (m.hasSignal()) names.add(m.getSignal().getName());
                if (m.hasWindowSize()) names.add("size " + m.getWindowSize().getRows() + "x" + m.getWindowSize().getCols());
            }
            seen.complete(names);
            s.killed("USR1", 10);
        });
        pipes.closeStdin();
        RunSpec spec = new RunSpec(List.of("sh"), List.of(), null, false, 022, RunSpec.TtyMode.FORCE, List.of());
        ClientSession.LocalIo io = new ClientSession.LocalIo(pipes.stdin[0], pipes.stdout[1], pipes.stderr[1], true);
        CompletableFuture<Integer> status = CompletableFuture.supplyAsync(() -> ClientSession.run(d.client, spec, "fake", io));
        d.session();
        Thread.sleep(200); // handlers are installed before the run stream opens; let the daemon get going
        Terminal.kill(Terminal.pid(), Signals.SIGUSR1);
        Thread.sleep(200);
        Terminal.kill(Terminal.pid(), Signals.SIGWINCH);
        // Each delivery runs on its own JDK thread: the order between the two is not promised.
        assertEquals(java.util.Set.of("USR1", "size 24x80"), java.util.Set.copyOf(seen.get(10, TimeUnit.SECONDS)));
        assertEquals(128 + Signals.SIGUSR1, status.get(10, TimeUnit.SECONDS));
    }

    @Test
    void streamsAreClosedWhenTheSessionEnds() throws Exception {
        FakeDaemon d = daemon(s -> {
            s.started();
            s.exit(0);
        });
        pipes.closeStdin();
        assertEquals(0, run(d, spec("true")));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (d.client.streamCount() > 0 && System.nanoTime() < deadline) Thread.sleep(10);
        assertEquals(0, d.client.streamCount());
    }
}
