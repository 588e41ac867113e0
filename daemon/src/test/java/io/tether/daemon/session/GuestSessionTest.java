package io.tether.daemon.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tether.daemon.tracer.arch.Arches;
import io.tether.posix.Errno;
import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.Direction;
import io.tether.protocol.proto.FdSpec;
import io.tether.protocol.proto.FdStream;
import io.tether.protocol.proto.GuestSpec;
import io.tether.protocol.proto.RunRequest;
import io.tether.protocol.proto.SessionMessage;
import io.tether.protocol.proto.Signal;
import io.tether.protocol.proto.StreamOpen;
import io.tether.protocol.transport.BytePipe;
import io.tether.protocol.transport.Transport;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** RunRequest.guest: the session runs the command under the tracer with the rootfs as its "/". */
@Timeout(60)
class GuestSessionTest {
    @TempDir Path tmp;
    Path rootfs;
    DaemonCore core;
    Mux client;

    @BeforeEach
    void start() throws Exception {
        assumeTrue(Arches.host().orElse(null) == Arches.X86_64, "tracer runs on x86_64");
        Path busybox = Path.of("/usr/bin/busybox");
        assumeTrue(Files.isExecutable(busybox), "static busybox not installed (apt-get install busybox-static)");
        rootfs = Files.createDirectories(tmp.resolve("rootfs"));
        Path bin = Files.createDirectories(rootfs.resolve("bin"));
        Files.copy(busybox, bin.resolve("busybox"));
        for (String applet : List.of("sh", "cat", "pwd", "sleep", "ls")) Files.createSymbolicLink(bin.resolve(applet), Path.of("busybox"));
        Files.createDirectories(rootfs.resolve("etc"));
        Files.writeString(rootfs.resolve("etc/passwd"), "root:x:0:0:guest root:/root:/bin/sh\n");
        Files.createDirectories(rootfs.resolve("home/user"));
        core = new DaemonCore(DaemonOptions.defaults().withRunDir(tmp.resolve("run")).withHome(tmp)
                .withKillGrace(Duration.ofMillis(500)));
        Transport[] t = BytePipe.duplex(1 << 16);
        core.serve(t[1]);
        client = Mux.start(t[0], Mux.Role.CLIENT, MuxConfig.defaults("test/0"), null);
        client.awaitReady();
    }

    @AfterEach
    void stop() {
        if (client != null) client.close();
        if (core != null) core.close();
    }

    private RunRequest.Builder guestSh(String script) {
        return RunRequest.newBuilder().addArgv("sh").addArgv("-c").addArgv(script).addEnv("PATH=/bin").setUmask(022)
                .setGuest(GuestSpec.newBuilder().setRoot(rootfs.toString()));
    }

    private record Opened(MuxStream run, CompletableFuture<String> out) {
        SessionMessage next() throws IOException {
            return run.receive(SessionMessage.parser());
        }
    }

    private Opened open(RunRequest.Builder req) throws IOException {
        MuxStream out = client.open(StreamOpen.newBuilder().setFd(FdStream.getDefaultInstance()).build());
        MuxStream err = client.open(StreamOpen.newBuilder().setFd(FdStream.getDefaultInstance()).build());
        req.addFds(FdSpec.newBuilder().setTargetFd(1).setDirection(Direction.FROM_PROCESS).setStreamId(out.id()));
        req.addFds(FdSpec.newBuilder().setTargetFd(2).setDirection(Direction.FROM_PROCESS).setStreamId(err.id()));
        CompletableFuture<String> text = CompletableFuture.supplyAsync(() -> {
            try {
                return new String(out.in().readAllBytes()) + new String(err.in().readAllBytes());
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        return new Opened(client.open(StreamOpen.newBuilder().setRun(req).build()), text);
    }

    @Test
    void theCommandSeesTheRootfsAsRootWithAGuestCwdAndItsExitCodeComesBack() throws Exception {
        Opened o = open(guestSh("cat /etc/passwd; pwd; echo $PWD; exit 3").setCwd("/home/user").setCwdRequired(true));
        assertTrue(o.next().hasStarted());
        SessionMessage exit = o.next();
        assertEquals(3, exit.getExit().getCode(), exit.toString());
        assertEquals("root:x:0:0:guest root:/root:/bin/sh\n/home/user\n/home/user\n", o.out().get(10, TimeUnit.SECONDS));
    }

    @Test
    void aMissingRootfsFailsBeforeAnythingRuns() throws Exception {
        RunRequest.Builder req = guestSh("true").setGuest(GuestSpec.newBuilder().setRoot(tmp.resolve("nowhere").toString()));
        SessionMessage m = open(req).next();
        assertTrue(m.hasFailure(), m.toString());
        assertEquals(Errno.ENOENT, m.getFailure().getErrno());
        assertTrue(m.getFailure().getMessage().contains("rootfs " + tmp.resolve("nowhere")), m.toString());
        assertFalse(m.getFailure().getExec());
    }

    @Test
    void aRootfsThatIsAFileOrABindFromNowhereFails() throws Exception {
        RunRequest.Builder file = guestSh("true").setGuest(GuestSpec.newBuilder().setRoot(rootfs.resolve("etc/passwd").toString()));
        assertEquals(Errno.ENOTDIR, open(file).next().getFailure().getErrno());
        RunRequest.Builder bind = guestSh("true").setGuest(GuestSpec.newBuilder().setRoot(rootfs.toString())
                .addBinds(tmp.resolve("nowhere") + ":/mnt"));
        SessionMessage m = open(bind).next();
        assertEquals(Errno.ENOENT, m.getFailure().getErrno(), m.toString());
        assertTrue(m.getFailure().getMessage().contains("bind"), m.toString());
    }

    @Test
    void aCommandMissingFromTheGuestIsAnExecFailure() throws Exception {
        RunRequest.Builder req = RunRequest.newBuilder().addArgv("no-such-command").addEnv("PATH=/bin")
                .setGuest(GuestSpec.newBuilder().setRoot(rootfs.toString()));
        SessionMessage m = open(req).next();
        assertEquals(Errno.ENOENT, m.getFailure().getErrno(), m.toString());
        assertTrue(m.getFailure().getExec());
    }

    @Test
    void aMissingGuestCwdFallsBackToRootUnlessRequired() throws Exception {
        Opened optional = open(guestSh("pwd; echo $PWD").setCwd("/no/such/dir").addEnv("PWD=/no/such/dir"));
        assertTrue(optional.next().hasStarted());
        assertEquals(0, optional.next().getExit().getCode());
        assertEquals("/\n/\n", optional.out().get(10, TimeUnit.SECONDS));
        SessionMessage m = open(guestSh("pwd").setCwd("/no/such/dir").setCwdRequired(true)).next();
        assertEquals(Errno.ENOENT, m.getFailure().getErrno(), m.toString());
        assertFalse(m.getFailure().getExec());
    }

    @Test
    void aSignalReachesTheTracedProcessGroup() throws Exception {
        Opened o = open(guestSh("sleep 30 & wait"));
        assertTrue(o.next().hasStarted());
        Thread.sleep(300);
        o.run().send(SessionMessage.newBuilder().setSignal(Signal.newBuilder().setName("TERM")).build(), false);
        SessionMessage exit = o.next();
        assertEquals("TERM", exit.getExit().getSignal(), exit.toString());
    }
}
