package io.tether.daemon.mirror;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.protobuf.ByteString;
import io.tether.daemon.session.DaemonCore;
import io.tether.daemon.session.DaemonOptions;
import io.tether.daemon.tracer.arch.Arches;
import io.tether.posix.Errno;
import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.Direction;
import io.tether.protocol.proto.Export;
import io.tether.protocol.proto.FdSpec;
import io.tether.protocol.proto.FdStream;
import io.tether.protocol.proto.FilesOpen;
import io.tether.protocol.proto.GuestSpec;
import io.tether.protocol.proto.RunRequest;
import io.tether.protocol.proto.SessionMessage;
import io.tether.protocol.proto.StreamOpen;
import io.tether.protocol.transport.BytePipe;
import io.tether.protocol.transport.Transport;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A "No NFS" guest session end to end inside the daemon: RunRequest.guest.files_stream, the session
 * wiring, the tracer's hooks and the mirror, over a host file server serving a local directory
 * (DirectoryHostFiles standing in for the client). What the program does reaches the host before the
 * exit status; the host's errno is the program's; a failed write-back is reported, not hidden.
 */
@Timeout(60)
class MirrorGuestSessionTest {
    @TempDir Path tmp;
    Path host;
    DirectoryHostFiles files;
    DaemonCore core;
    Mux client;

    @BeforeEach
    void start() throws Exception {
        assumeTrue(Arches.host().orElse(null) == Arches.X86_64, "tracer runs on x86_64");
        Path busybox = Path.of("/usr/bin/busybox");
        assumeTrue(Files.isExecutable(busybox), "static busybox not installed (apt-get install busybox-static)");
        host = Files.createDirectories(tmp.resolve("host-rootfs"));
        Path bin = Files.createDirectories(host.resolve("bin"));
        Files.copy(busybox, bin.resolve("busybox"));
        for (String applet : List.of("sh", "cat", "mkdir", "chmod", "ln", "rm", "mv", "sleep", "echo", "ls")) {
            Files.createSymbolicLink(bin.resolve(applet), Path.of("busybox"));
        }
        Files.createDirectories(host.resolve("etc"));
        Files.writeString(host.resolve("etc/passwd"), "root:x:0:0:guest root:/root:/bin/sh\n");
        Files.writeString(host.resolve("etc/gone"), "bye\n");
        Files.writeString(host.resolve("etc/a"), "a\n");
        Files.createDirectories(host.resolve("tmp"));
        files = new DirectoryHostFiles(host, "rootfs-key");
        core = new DaemonCore(DaemonOptions.defaults().withCacheDir(tmp.resolve("cache")).withHome(tmp)
                .withKillGrace(Duration.ofMillis(500)), (stream, open, data) -> files);
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

    private record Run(MuxStream run, CompletableFuture<String> out) {
        SessionMessage next() throws IOException {
            return run.receive(SessionMessage.parser());
        }
    }

    private Run sh(String script) throws IOException {
        MuxStream filesStream = client.open(StreamOpen.newBuilder().setFiles(FilesOpen.newBuilder().setHostArch("x86_64")
                .addExports(Export.newBuilder().setId(0).setGuestPath(ByteString.copyFromUtf8("/")).setCacheKey("rootfs-key")))
                .build());
        MuxStream out = client.open(StreamOpen.newBuilder().setFd(FdStream.getDefaultInstance()).build());
        RunRequest req = RunRequest.newBuilder().addArgv("sh").addArgv("-c").addArgv(script).addEnv("PATH=/bin").setUmask(022)
                .addFds(FdSpec.newBuilder().setTargetFd(1).setDirection(Direction.FROM_PROCESS).setStreamId(out.id()))
                .addFds(FdSpec.newBuilder().setTargetFd(2).setDirection(Direction.FROM_PROCESS).setStreamId(out.id() + 2))
                .setGuest(GuestSpec.newBuilder().setFilesStream(filesStream.id())).build();
        MuxStream err = client.open(StreamOpen.newBuilder().setFd(FdStream.getDefaultInstance()).build());
        assertEquals(out.id() + 2, err.id());
        CompletableFuture<String> text = CompletableFuture.supplyAsync(() -> {
            try {
                return new String(out.in().readAllBytes()) + new String(err.in().readAllBytes());
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        return new Run(client.open(StreamOpen.newBuilder().setRun(req).build()), text);
    }

    @Test
    void whatTheProgramWritesAndChangesIsOnTheHostWhenTheExitStatusArrives() throws Exception {
        Run r = sh("cat /etc/passwd; echo new > /tmp/out; mkdir /d; chmod 700 /d; ln -s x /l; rm /etc/gone; mv /etc/a /etc/b; exit 4");
        assertTrue(r.next().hasStarted());
        SessionMessage exit = r.next();
        // Checked at once: the flush came before the exit status, not at some later close.
        assertEquals(4, exit.getExit().getCode(), exit.toString());
        assertEquals("new\n", Files.readString(host.resolve("tmp/out")));
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(host.resolve("d"))));
        assertEquals(Path.of("x"), Files.readSymbolicLink(host.resolve("l")));
        assertFalse(Files.exists(host.resolve("etc/gone"), LinkOption.NOFOLLOW_LINKS));
        assertEquals("a\n", Files.readString(host.resolve("etc/b")));
        assertEquals("root:x:0:0:guest root:/root:/bin/sh\n", r.out().get(10, TimeUnit.SECONDS));
    }

    /**
     * A stat of a bare name in the cwd is the kernel's own in a listed directory (no translation), but
     * never in one the host changed since: that is listed again first.
     */
    @Test
    void aBareNameIsTheKernelsToLookUpOnlyWhereTheMirrorHoldsTheWholeListing() throws Exception {
        Run first = sh("cd /etc && ls -ln passwd");
        assertTrue(first.next().hasStarted());
        assertEquals(0, first.next().getExit().getCode());
        String out = first.out().get(10, TimeUnit.SECONDS);
        assertTrue(out.matches("(?s).* 36 .*passwd\n"), out);
        Files.writeString(host.resolve("etc/late"), "late\n"); // the next run's validation finds /etc changed
        Run second = sh("cd /etc && ls -ln late passwd");
        assertTrue(second.next().hasStarted());
        assertEquals(0, second.next().getExit().getCode());
        out = second.out().get(10, TimeUnit.SECONDS);
        assertTrue(out.matches("(?s).* 5 .*late\n.* 36 .*passwd\n"), out);
    }

    @Test
    void aModeSetAfterTheLastCloseSurvivesTheWriteBack() throws Exception {
        // As ld does: write the output, close it, then chmod it executable by path.
        Run r = sh("i=0; while [ $i -lt 20 ]; do cat /bin/busybox > /tmp/x$i; chmod 751 /tmp/x$i; i=$((i+1)); done");
        assertTrue(r.next().hasStarted());
        assertEquals(0, r.next().getExit().getCode());
        for (int i = 0; i < 20; i++) {
            assertEquals("rwxr-x--x", PosixFilePermissions.toString(Files.getPosixFilePermissions(host.resolve("tmp/x" + i))), "x" + i);
            assertEquals(Files.size(host.resolve("bin/busybox")), Files.size(host.resolve("tmp/x" + i)), "x" + i);
        }
    }

    @Test
    void aUnixSocketTheProgramBindsIsItsToRemove() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/gcc")), "gcc not installed");
        Path src = tmp.resolve("sock.c");
        Files.writeString(src, String.join("\n", "#define _GNU_SOURCE", "#include <errno.h>", "#include <stdio.h>",
                "#include <string.h>", "#include <sys/socket.h>", "#include <sys/un.h>", "#include <unistd.h>",
                "int main(void) {", "    int s = socket(AF_UNIX, SOCK_STREAM, 0);",
                "    struct sockaddr_un a = {.sun_family = AF_UNIX};", "    strcpy(a.sun_path, \"/tmp/sock\");",
                "    printf(\"bind %s\\n\", bind(s, (struct sockaddr *) &a, sizeof a) == 0 ? \"ok\" : strerrorname_np(errno));",
                "    close(s);",
                "    printf(\"unlink %s\\n\", unlink(\"/tmp/sock\") == 0 ? \"ok\" : strerrorname_np(errno));",
                "    return 0;", "}", ""));
        Process cc = new ProcessBuilder("gcc", "-static", "-O2", "-o", host.resolve("bin/sock").toString(), src.toString())
                .redirectErrorStream(true).start();
        String ccOut = new String(cc.getInputStream().readAllBytes());
        assumeTrue(cc.waitFor(120, TimeUnit.SECONDS) && cc.exitValue() == 0, "static compile failed: " + ccOut);
        Run r = sh("/bin/sock");
        assertTrue(r.next().hasStarted());
        assertEquals(0, r.next().getExit().getCode());
        assertEquals("bind ok\nunlink ok\n", r.out().get(10, TimeUnit.SECONDS));
        assertFalse(Files.exists(host.resolve("tmp/sock"), LinkOption.NOFOLLOW_LINKS), "the socket never went to the host");
    }

    @Test
    void theHostsErrnoIsTheProgramsAndTheMirrorStaysAsTheHost() throws Exception {
        files.failNext("mkdir", Errno.EACCES);
        Run r = sh("mkdir /x; echo $?; ls -d /x");
        assertTrue(r.next().hasStarted());
        assertEquals(1, r.next().getExit().getCode());
        String out = r.out().get(10, TimeUnit.SECONDS);
        assertTrue(out.contains("Permission denied"), out);
        assertTrue(out.contains("1\n"), out);
        assertTrue(out.contains("No such file"), "the kernel never made /x in the mirror: " + out);
        assertFalse(Files.exists(host.resolve("x")));
    }

    @Test
    void aWriteBackThatFailsIsAFailureInsteadOfTheExitStatus() throws Exception {
        // The file is created on the host at its open; its contents go back when the program ends (fd 3
        // stays open till then), by which time the host is gone for good.
        Run r = sh("exec 3>/tmp/o2; echo lost >&3; sleep 1");
        assertTrue(r.next().hasStarted());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!Files.exists(host.resolve("tmp/o2")) && System.nanoTime() < deadline) Thread.sleep(10);
        files.failEverything(Errno.EIO);
        SessionMessage m = r.next();
        assertTrue(m.hasFailure(), m.toString());
        assertEquals(Errno.EIO, m.getFailure().getErrno());
        assertTrue(m.getFailure().getMessage().contains("did not all reach the host"), m.toString());
        assertTrue(m.getFailure().getMessage().contains("exited with 0"), m.toString());
        assertFalse(m.getFailure().getExec());
    }

    @Test
    void aLostHostGivesTheProgramEio() throws Exception {
        Run r = sh("sleep 0.5; cat /etc/passwd || echo cat failed");
        assertTrue(r.next().hasStarted());
        files.failEverything(Errno.EIO);
        SessionMessage exit = r.next();
        assertTrue(exit.hasExit(), exit.toString());
        String out = r.out().get(10, TimeUnit.SECONDS);
        assertTrue(out.contains("Input/output error") && out.contains("cat failed"), out);
    }
}
