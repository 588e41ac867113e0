package io.tether.client.session;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.tether.client.files.FileServer;
import io.tether.client.files.HostExports;
import io.tether.daemon.session.DaemonCore;
import io.tether.daemon.session.DaemonOptions;
import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.transport.BytePipe;
import io.tether.protocol.transport.Transport;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * "No NFS" through the client session: the guest tree is served from this host by a
 * {@link FileServer} over the files stream, and the real daemon core (mirror cache and tracer)
 * runs the command in it. The host's own "/" is the rootfs, so the programs exist.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ClientSessionHostFilesTest {
    @TempDir Path dir;
    DaemonCore core;
    Mux mux;
    LocalPipes pipes;
    FileServer files;

    @BeforeEach
    void start() throws Exception {
        Assumptions.assumeTrue(System.getProperty("os.name").equals("Linux"), "the tracer is Linux-only");
        core = new DaemonCore(DaemonOptions.defaults().withRunDir(dir.resolve("run")).withCacheDir(dir.resolve("cache"))
                .withHome(dir).withKillGrace(Duration.ofMillis(500)));
        Transport[] pair = BytePipe.duplex(1 << 20);
        core.serve(pair[1]);
        mux = Mux.start(pair[0], Mux.Role.CLIENT, MuxConfig.defaults("tether-test/0"), null);
        mux.awaitReady();
        pipes = new LocalPipes();
    }

    @AfterEach
    void stop() {
        if (files != null) files.close();
        if (mux != null) mux.close();
        if (core != null) core.close();
        if (pipes != null) pipes.close();
    }

    @Test
    void aCommandRunsInTheHostsTreeAndItsWritesLandOnTheHost() throws Exception {
        Path work = Files.createDirectory(dir.resolve("work"));
        Files.writeString(work.resolve("input.txt"), "from the host\n");
        RunSpec.Guest guest = new RunSpec.Guest("/", List.of(work + ":/work"), false);
        files = FileServer.open(HostExports.of(guest.root(), guest.binds()), FileServer.Options.DEFAULTS.withGuestUmask(022));
        RunSpec spec = new RunSpec(List.of("/bin/sh", "-c",
                        "cat /work/input.txt; echo made > /work/out.txt; chmod 640 /work/out.txt; echo x > /work/plain; mkdir /work/d"),
                List.of("PATH=/usr/bin:/bin"), "/work", true, 022, RunSpec.TtyMode.NEVER, List.of()).withGuest(guest);
        pipes.closeStdin();
        int status = ClientSession.run(mux, spec, "test", pipes.io(), files);
        assertEquals("", pipes.stderrText());
        assertEquals(0, status);
        assertEquals("from the host\n", pipes.stdoutText());
        assertEquals("made\n", Files.readString(work.resolve("out.txt")));
        assertEquals("rw-r-----", PosixFilePermissions.toString(Files.getPosixFilePermissions(work.resolve("out.txt"))));
        assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(work.resolve("plain"))), "umask 022");
        assertEquals("rwxr-xr-x", PosixFilePermissions.toString(Files.getPosixFilePermissions(work.resolve("d"))));
    }
}
