package io.tether.daemon.tracer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * AF_UNIX path addresses in both directions (unix_sockets.c) print the same under the tracer as under
 * a real chroot of the same rootfs; and the socket traps cost what SeccompProgram promises.
 */
class UnixSocketPathsTest {
    @TempDir Path tmp;
    TracedRun t;

    @BeforeEach
    void rootfs() throws Exception {
        t = new TracedRun(tmp);
    }

    @Test
    void socketAddressesShowGuestPathsAsUnderARealChroot() throws Exception {
        assumeTrue(new ProcessBuilder("id", "-u").start().inputReader().readLine().equals("0"), "chroot needs root");
        TracerProgramsTest.compile(tmp, t, "unix_sockets.c", "unix_sockets");
        Files.createDirectories(t.rootfs.resolve("tmp/socks"));
        Process chroot = new ProcessBuilder("chroot", t.rootfs.toString(), "/bin/unix_sockets", "/tmp/socks")
                .redirectErrorStream(true).start();
        String expected = new String(chroot.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
        assumeTrue(chroot.waitFor(60, TimeUnit.SECONDS), "chroot timed out");
        assumeTrue(expected.endsWith("done\n"), "reference run incomplete: " + expected);
        TracedRun.Result traced = t.run("/bin/unix_sockets", "/tmp/socks");
        assertEquals(expected, traced.output());
        assertEquals(0, traced.exitCode());
        // The comparison must not be vacuous: the host paths were long, the guest ones are these.
        assertTrue(traced.output().contains("getsockname srv: len=22 path=/tmp/socks/srv.sock\n"), traced.output());
        assertTrue(traced.output().contains("getsockname truncated: len=22 bytes=/tmp/soc rest=#\n"), traced.output());
        assertTrue(traced.output().contains("recvmsg from: len=21 path=/tmp/socks/d2.sock\n"), traced.output());
        assertTrue(Files.exists(t.rootfs.resolve("tmp/socks/srv.sock")), "bound inside the rootfs");
    }

    @Test
    void sendAndRecvWithoutAddressesNeverStop() throws Exception {
        TracerProgramsTest.compile(tmp, t, "socket_stops.c", "socket_stops");
        TracedRun.Result r = t.run("/bin/socket_stops", "plain");
        assertEquals("ok 1000\n", r.output());
        // 4000 socket calls; start-up costs a few dozen stops.
        assertTrue(r.stops() < 500, "send/recv must not stop: saw " + r.stops() + " stops");
    }

    @Test
    void addressesOnInetSocketsCostOneStopAndNoExitStop() throws Exception {
        TracerProgramsTest.compile(tmp, t, "socket_stops.c", "socket_stops");
        TracedRun.Result r = t.run("/bin/socket_stops", "inet");
        assertEquals("ok 1000\n", r.output());
        // 1000 sendto + 1000 recvfrom with an address: one entry stop each; exit stops would double it.
        assertTrue(r.stops() >= 2000, "sendto/recvfrom with an address must stop: saw " + r.stops());
        assertTrue(r.stops() < 2500, "no exit stops on a UDP socket: saw " + r.stops());
    }
}
