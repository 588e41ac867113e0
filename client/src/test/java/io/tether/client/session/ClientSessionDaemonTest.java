package io.tether.client.session;

import io.tether.daemon.session.DaemonCore;
import io.tether.daemon.session.DaemonOptions;
import io.tether.posix.Signals;
import io.tether.posix.Terminal;
import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.transport.BytePipe;
import io.tether.protocol.transport.Transport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Real processes: the client session against the real daemon core over an in-memory pipe. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ClientSessionDaemonTest {
    @TempDir
    Path dir;

    private DaemonCore core;
    private Transport clientSide;
    private Mux mux;
    private LocalPipes pipes;

    @BeforeEach
    void start() throws Exception {
        core = new DaemonCore(DaemonOptions.defaults().withRunDir(dir.resolve("run")).withKillGrace(Duration.ofMillis(500)));
        Transport[] pair = BytePipe.duplex(64 * 1024);
        core.serve(pair[1]);
        clientSide = pair[0];
        mux = Mux.start(clientSide, Mux.Role.CLIENT, MuxConfig.defaults("tether-test/0"), null);
        mux.awaitReady();
        pipes = new LocalPipes();
    }

    @AfterEach
    void stop() {
        mux.close();
        core.close();
        pipes.close();
    }

    private static RunSpec spec(RunSpec.TtyMode tty, List<Integer> fds, String... argv) {
        return new RunSpec(List.of(argv), List.of("PATH=/usr/bin:/bin", "TERM=vt100"), null, false, 022, tty, fds);
    }

    private int run(String... argv) {
        return ClientSession.run(mux, spec(RunSpec.TtyMode.NEVER, List.of(), argv), "local", pipes.io());
    }

    @Test
    void stdinToStdoutAndTheExitCode() throws Exception {
        pipes.writeStdin("abc".getBytes());
        pipes.closeStdin();
        assertEquals(7, run("/bin/sh", "-c", "cat; echo err >&2; exit 7"));
        assertEquals("abc", pipes.stdoutText());
        assertEquals("err\n", pipes.stderrText());
    }

    @Test
    void killedBySignalGives128PlusN() throws Exception {
        pipes.closeStdin();
        assertEquals(128 + Signals.SIGTERM, run("/bin/sh", "-c", "kill -TERM $$"));
    }

    @Test
    void missingCommandGives127AndOneLine() throws Exception {
        pipes.closeStdin();
        assertEquals(127, run("/nonexistent/tether-test-cmd"));
        assertEquals("tether: /nonexistent/tether-test-cmd: No such file or directory\n", pipes.stderrText());
    }

    @Test
    void nonExecutableCommandGives126() throws Exception {
        pipes.closeStdin();
        assertEquals(126, run("/etc/hostname"));
        assertTrue(pipes.stderrText().startsWith("tether: /etc/hostname: "));
    }

    @Test
    void stdinEofEndsTheProcessInput() throws Exception {
        CompletableFuture.runAsync(() -> {
            try {
                pipes.writeStdin(new byte[1 << 20]);
                pipes.closeStdin();
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        assertEquals(0, run("wc", "-c"));
        assertEquals("1048576", pipes.stdoutText().trim());
    }

    @Test
    void largeOutputIsCompleteWhenRunReturns() throws Exception {
        pipes.closeStdin();
        assertEquals(0, run("head", "-c", "16777216", "/dev/zero"));
        assertEquals(16 << 20, pipes.stdoutBytes().length);
    }

    @Test
    void umaskAndCwdReachTheProcess() throws Exception {
        pipes.closeStdin();
        RunSpec spec = new RunSpec(List.of("/bin/sh", "-c", "umask; pwd"), List.of(), "/tmp", true, 027, RunSpec.TtyMode.NEVER, List.of());
        assertEquals(0, ClientSession.run(mux, spec, "local", pipes.io()));
        assertEquals("0027\n/tmp\n", pipes.stdoutText());
    }

    @Test
    void forwardedFdsKeepNumbersAndDirections() throws Exception {
        int[] input = pipes.track(Terminal.pipe());
        int[] log = pipes.track(Terminal.pipe());
        CompletableFuture<byte[]> logged = pipes.collect(log[0]);
        Terminal.writeFully(input[1], "via fds".getBytes());
        pipes.close(input[1]);
        pipes.closeStdin();
        int in = input[0];
        int out = log[1];
        int status = ClientSession.run(mux, spec(RunSpec.TtyMode.NEVER, List.of(in, out),
                "bash", "-c", "tr a-z A-Z <&" + in + " >&" + out), "local", pipes.io());
        assertEquals(0, status);
        pipes.close(log[1]);
        assertEquals("VIA FDS", new String(logged.get(10, TimeUnit.SECONDS), StandardCharsets.UTF_8));
    }

    @Test
    void aJobserverPipePairKeepsEveryTokenTheProcessDidNotTake() throws Exception {
        // make's jobserver: tokens in a pipe passed read-only and write-only. The process takes
        // one and puts it back; the client read all four eagerly, so three come back from the
        // daemon and the fourth through the write end: the pipe must hold four again.
        int[] tokens = pipes.track(Terminal.pipe());
        Terminal.writeFully(tokens[1], "abcd".getBytes(StandardCharsets.US_ASCII));
        pipes.closeStdin();
        int in = tokens[0];
        int out = tokens[1];
        int status = ClientSession.run(mux, spec(RunSpec.TtyMode.NEVER, List.of(in, out),
                "bash", "-c", "dd bs=1 count=1 <&" + in + " >&" + out + " 2>/dev/null"), "local", pipes.io());
        assertEquals(0, status);
        StringBuilder left = new StringBuilder();
        try (com.sun.jna.Memory buf = new com.sun.jna.Memory(16)) {
            while (left.length() < 4 && Terminal.poll(in, Terminal.POLLIN, 1000) != 0) {
                int n = Terminal.read(in, com.sun.jna.Pointer.nativeValue(buf), 16);
                for (int i = 0; i < n; i++) left.append((char) buf.getByte(i));
            }
        }
        char[] sorted = left.toString().toCharArray();
        java.util.Arrays.sort(sorted);
        assertEquals("abcd", new String(sorted));
    }

    @Test
    void forcedPtyGivesTheProcessATerminalOfTheDefaultSize() throws Exception {
        pipes.closeStdin();
        int status = ClientSession.run(mux, spec(RunSpec.TtyMode.FORCE, List.of(), "/bin/sh", "-c", "tty; stty size; echo $TERM"),
                "local", pipes.io());
        assertEquals(0, status);
        String out = pipes.stdoutText();
        assertTrue(out.contains("/dev/pts/"), out);
        assertTrue(out.contains("24 80"), out);
        assertTrue(out.contains("vt100"), out);
    }

    @Test
    void terminalStdinGetsARemotePtyOfItsSizeAndIsRestoredAfterwards() throws Exception {
        int master = io.tether.posix.LibC.openPtyMaster(io.tether.posix.LibC.O_RDWR | io.tether.posix.LibC.O_NOCTTY | io.tether.posix.LibC.O_CLOEXEC);
        int slave = io.tether.posix.LibC.open(io.tether.posix.LibC.ptsname(master),
                io.tether.posix.LibC.O_RDWR | io.tether.posix.LibC.O_NOCTTY | io.tether.posix.LibC.O_CLOEXEC, 0);
        try {
            io.tether.posix.LibC.setWindowSize(master, 33, 111);
            byte[] cooked = Terminal.getAttributes(slave);
            ClientSession.LocalIo io = new ClientSession.LocalIo(slave, pipes.stdout[1], pipes.stderr[1], false);
            int status = ClientSession.run(mux, spec(RunSpec.TtyMode.AUTO, List.of(), "stty", "size"), "local", io);
            assertEquals(0, status);
            assertEquals("33 111", pipes.stdoutText().trim());
            assertEquals(java.util.HexFormat.of().formatHex(cooked), java.util.HexFormat.of().formatHex(Terminal.getAttributes(slave)));
        } finally {
            Terminal.closeQuietly(master); // the stdin pump's read on the slave ends with EIO
            Terminal.closeQuietly(slave);
        }
    }

    @Test
    void closedStdoutReaderKillsAWriterWithSigpipe() throws Exception {
        int[] out = pipes.track(Terminal.pipe());
        pipes.close(out[0]);
        pipes.closeStdin();
        ClientSession.LocalIo io = new ClientSession.LocalIo(pipes.stdin[0], out[1], pipes.stderr[1], false);
        int status = ClientSession.run(mux, spec(RunSpec.TtyMode.NEVER, List.of(), "yes"), "local", io);
        assertEquals(128 + Signals.SIGPIPE, status);
    }

    @Test
    void forwardedSignalReachesTheRemoteProcess() throws Exception {
        Assumptions.assumeFalse(SignalRelay.unavailable().contains("USR1"), "this JVM refuses a USR1 handler");
        ClientSession.LocalIo io = new ClientSession.LocalIo(pipes.stdin[0], pipes.stdout[1], pipes.stderr[1], true);
        CompletableFuture<Integer> status = CompletableFuture.supplyAsync(() -> ClientSession.run(mux,
                spec(RunSpec.TtyMode.NEVER, List.of(), "/bin/sh", "-c", "trap 'echo got; exit 42' USR1; echo ready; while :; do sleep 0.05; done"),
                "local", io));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!pipes.stdoutSoFar().contains("ready") && System.nanoTime() < deadline) Thread.sleep(10);
        Terminal.kill(Terminal.pid(), Signals.SIGUSR1);
        assertEquals(42, status.get(10, TimeUnit.SECONDS));
        pipes.closeStdin();
        assertEquals("ready\ngot\n", pipes.stdoutText());
    }

    @Test
    void droppedConnectionGives255AndOneLine() throws Exception {
        CompletableFuture<Integer> status = CompletableFuture.supplyAsync(() -> run("/bin/sh", "-c", "echo ready; exec sleep 30"));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!pipes.stdoutSoFar().contains("ready") && System.nanoTime() < deadline) Thread.sleep(10);
        clientSide.close();
        assertEquals(255, status.get(10, TimeUnit.SECONDS));
        String err = pipes.stderrText();
        assertTrue(err.startsWith("tether: lost the connection to local: "), err);
        assertEquals(1, err.lines().count(), err);
    }
}
