package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code tether run -r} against a real chroot of the same rootfs for AF_UNIX socket addresses (the
 * tracer's unix_sockets.c: bind, connect, sendto, sendmsg in; getsockname, getpeername, accept,
 * accept4, recvfrom, recvmsg out), and directory listings of the parents of binds onto missing
 * guest locations.
 */
@Timeout(120)
class TracerSocketsAndListingsTest {
    static GuestRootfs fs;

    @BeforeAll
    static void rootfs() {
        fs = GuestRootfs.build("tracer-sockets");
        fs.compile(TetherHome.root().resolve("daemon/src/test/resources/tracer/unix_sockets.c"), "unix_sockets");
    }

    private static Exec.Result same(String... argv) {
        Exec.Result expected = fs.chroot(argv);
        Exec.Result traced = fs.tether(argv);
        assertEquals(expected.out(), traced.out(), () -> "stdout differs from chroot's; tether " + traced + "\nchroot " + expected);
        assertEquals(expected.exit(), traced.exit(), () -> "exit differs from chroot's; tether " + traced + "\nchroot " + expected);
        return traced;
    }

    @Test
    void unixSocketAddressesShowGuestPathsAsUnderChroot() {
        Exec.Result r = same("/bin/sh", "-c", "mkdir -p /tmp/socks && /bin/unix_sockets /tmp/socks");
        assertTrue(r.out().contains("getsockname srv: len=22 path=/tmp/socks/srv.sock\n"), r::toString);
        assertTrue(r.out().contains("recvfrom from: len=21 path=/tmp/socks/d2.sock\n"), r::toString);
        assertTrue(r.out().contains("recvmsg from: len=21 path=/tmp/socks/d2.sock\n"), r::toString);
        assertTrue(r.out().endsWith("done\n"), r::toString);
    }

    @Test
    void socketsInABindShowTheirGuestPathsAndLiveInTheHostDirectory() throws Exception {
        Path host = Files.createDirectories(fs.dir.resolve("host-socks"));
        Exec.Result expected = fs.chroot("/bin/sh", "-c", "mkdir -p /tmp/socks && /bin/unix_sockets /tmp/socks");
        // /mnt/socks has the length of /tmp/socks, so lengths and truncated bytes must agree too.
        Exec.Result traced = fs.tether(List.of("-b", host + ":/mnt/socks"), Map.of(), "/bin/unix_sockets", "/mnt/socks");
        assertEquals(expected.out().replace("/tmp", "/mnt"), traced.out(), traced::toString);
        assertEquals(0, traced.exit(), traced::toString);
        assertTrue(Files.exists(host.resolve("srv.sock")) && Files.exists(host.resolve("d1.sock")), "bound in the host dir");
    }

    @Test
    void lsShowsBindsOntoMissingLocationsInTheirParents() throws Exception {
        Path data = Files.createDirectories(fs.dir.resolve("listed"));
        Files.writeString(data.resolve("file"), "x\n");
        Exec.Result plain = fs.chroot("/bin/ls", "/");
        assertEquals(0, plain.exit(), plain::toString);
        Exec.Result r = fs.tether(List.of("-b", data + ":/a/b/c", "-b", data + ":/newdir", "-b", data + ":/etc"), Map.of(),
                "/bin/sh", "-c", "ls /; echo --; ls /a; echo --; ls /a/b; echo --; ls /a/b/c; echo --; ls -d /a/ /newdir/; "
                        + "ls -la / | grep -c ' etc$'; cd /a && ls -a | tr '\\n' ' '");
        assertEquals(0, r.exit(), r::toString);
        List<String> names = new java.util.ArrayList<>(List.of(plain.out().split("\n")));
        names.add("a");
        names.add("newdir");
        java.util.Collections.sort(names);
        assertEquals(String.join("\n", names) + "\n--\nb\n--\nc\n--\nfile\n--\n/a/\n/newdir/\n1\n. .. b ", r.out(), r::toString);
        assertTrue(!Files.exists(fs.root.resolve("a")) && !Files.exists(fs.root.resolve("newdir")), "the rootfs is untouched");
    }
}
