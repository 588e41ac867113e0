package io.tether.client.hostexec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tether.client.files.FileExport;
import io.tether.daemon.tracer.hostexec.HostCommand;
import io.tether.daemon.tracer.hostexec.HostExit;
import io.tether.daemon.tracer.hostexec.HostProcess;
import io.tether.daemon.tracer.hostexec.RemoteHostExecutor;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.posix.LibC;
import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.transport.BytePipe;
import io.tether.protocol.transport.Transport;
import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The daemon's {@link RemoteHostExecutor} against the client's {@link HostExecServer} over an in-memory
 * mux: the protocol of a host exec without a tracer. The "target fds" are pipes of this test.
 */
@Timeout(60)
class HostExecChannelTest {
    @TempDir
    Path dir;
    Mux daemon, client;
    HostExecServer server;
    RemoteHostExecutor executor;
    static final int FILES_STREAM = 1;

    @BeforeEach
    void connect() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/bin/sh")) && Files.isExecutable(Path.of("/usr/bin/tr")), "no /bin/sh or /usr/bin/tr");
        Files.createDirectories(dir.resolve("rootfs/tmp"));
        Transport[] t = BytePipe.duplex(1 << 20);
        daemon = Mux.start(t[0], Mux.Role.SERVER, MuxConfig.defaults("tetherd/test"), (s, o) -> s.reset(
                io.tether.protocol.proto.ResetCode.RESET_REFUSED, "test"));
        client = Mux.start(t[1], Mux.Role.CLIENT, MuxConfig.defaults("tether/test"), null);
        client.awaitReady();
        daemon.awaitReady();
        List<FileExport> exports = List.of(new FileExport(dir.resolve("rootfs"), "/", false),
                new FileExport(Path.of("/usr/bin"), "/host/bin", false), new FileExport(Path.of("/bin"), "/host/sbin", false));
        server = new HostExecServer(FILES_STREAM, exports, List.of("/host/bin/*", "/host/sbin/sh"), "x86_64");
        client.acceptWith(server);
        executor = new RemoteHostExecutor(daemon, FILES_STREAM);
    }

    @AfterEach
    void close() {
        if (executor != null) executor.close();
        if (client != null) client.close();
        if (daemon != null) daemon.close();
    }

    private static HostCommand command(String guestPath, List<String> argv, Map<Integer, Integer> fds) {
        return new HostCommand(guestPath, guestPath, argv, List.of("PATH=/usr/bin:/bin"), "/tmp", 022, fds);
    }

    @Test
    void bytesGoThroughTheTargetFdsBothWaysAndTheExitCodeComesBack() throws Exception {
        int[] in = LibC.pipe(LibC.O_CLOEXEC), out = LibC.pipe(LibC.O_CLOEXEC);
        try (FileOutputStream feed = new FileOutputStream(fdPath(in[1]).toFile());
             FileInputStream result = new FileInputStream(fdPath(out[0]).toFile())) {
            LibC.closeQuietly(in[1]);
            LibC.closeQuietly(out[0]);
            HostProcess p = executor.start(command("/host/sbin/sh", List.of("sh", "-c", "tr a-z A-Z; echo \"in $PWD\"; exit 3"),
                    Map.of(0, in[0], 1, out[1])));
            feed.write("hello\n".getBytes(StandardCharsets.US_ASCII));
            feed.close();
            HostExit exit = p.exit().get(30, TimeUnit.SECONDS);
            assertEquals(HostExit.exited(3), exit);
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            result.transferTo(got); // EOF: the executor closed its copies, the client its pipes
            assertEquals("HELLO\nin " + dir.resolve("rootfs/tmp").toRealPath() + "\n", got.toString(StandardCharsets.US_ASCII));
        }
    }

    @Test
    void aSignalIsForwardedAndDeathBySignalComesBack() throws Exception {
        int[] out = LibC.pipe(LibC.O_CLOEXEC);
        try (FileInputStream ready = new FileInputStream(fdPath(out[0]).toFile())) {
            LibC.closeQuietly(out[0]);
            HostProcess p = executor.start(command("/host/sbin/sh", List.of("sh", "-c", "echo ready; exec sleep 60"), Map.of(1, out[1])));
            assertEquals('r', ready.read()); // it runs: the signal cannot overtake its start
            p.signal(15);
            assertEquals(HostExit.killed(15), p.exit().get(30, TimeUnit.SECONDS));
        }
    }

    @Test
    void theEndOfTheClientsSessionKillsAHostProgramStillRunningAndRefusesNewOnes() throws Exception {
        int[] out = LibC.pipe(LibC.O_CLOEXEC);
        try (FileInputStream ready = new FileInputStream(fdPath(out[0]).toFile())) {
            LibC.closeQuietly(out[0]);
            HostProcess p = executor.start(command("/host/sbin/sh", List.of("sh", "-c", "trap '' TERM INT HUP; echo ready; exec sleep 60"),
                    Map.of(1, out[1])));
            assertEquals('r', ready.read());
            server.close();
            assertEquals(HostExit.killed(9), p.exit().get(30, TimeUnit.SECONDS));
            assertEquals(Errno.EIO, assertThrows(ErrnoException.class,
                    () -> executor.start(command("/host/sbin/sh", List.of("sh", "-c", "exit 0"), Map.of()))).errno());
        }
    }

    @Test
    void theClientRefusesWhatItsOwnGlobsDoNotAllowWithEacces() {
        // The daemon asks for a program in an export but outside the client's globs: the client says no.
        ErrnoException e = assertThrows(ErrnoException.class, () -> executor.start(command("/host/sbin/ls", List.of("ls"), Map.of())));
        assertEquals(Errno.EACCES, e.errno());
        ErrnoException missing = assertThrows(ErrnoException.class,
                () -> executor.start(command("/host/bin/no-such-tool-here", List.of("x"), Map.of())));
        assertEquals(Errno.ENOENT, missing.errno());
    }

    private static Path fdPath(int fd) {
        return Path.of("/proc/self/fd/" + fd);
    }
}
