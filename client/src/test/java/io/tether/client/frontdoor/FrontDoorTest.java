package io.tether.client.frontdoor;

import com.sun.jna.Memory;
import io.tether.client.control.ControlPaths;
import io.tether.posix.LibC;
import io.tether.posix.Terminal;
import io.tether.posix.UnixRights;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The door's side of the socket with real descriptors: requests it sends back, failures it reports itself. */
class FrontDoorTest {
    @TempDir
    Path dir;
    private FrontDoor door;
    private ControlPaths paths;
    private final List<Integer> open = new ArrayList<>();

    @BeforeEach
    void start() throws Exception {
        assumeTrue(UnixRights.supported(), "descriptor passing is implemented for 64-bit Linux");
        paths = new ControlPaths(dir.resolve("ctl"), "frontdoor-test");
        paths.prepare();
        door = new FrontDoor(paths, Duration.ofSeconds(60));
        door.start();
    }

    @AfterEach
    void stop() {
        if (door != null) door.close();
        open.forEach(LibC::closeQuietly);
    }

    private int[] pipe() throws Exception {
        int[] p = LibC.pipe(LibC.O_CLOEXEC);
        open.add(p[0]);
        open.add(p[1]);
        return p;
    }

    /** Connects and sends {@code args} with {@code stdio} as the front end's 0, 1, 2. */
    private int request(String namespaces, int[] stdio, String... args) throws Exception {
        int sock = UnixRights.connect(paths.socket().toString());
        open.add(sock);
        FrontDoorRequest r = new FrontDoorRequest(List.of(0, 1, 2), 0, 022, "/", namespaces, List.of(args),
                List.of("PATH=/bin", "XDG_RUNTIME_DIR=" + dir, "TETHER_CONFIG=" + dir.resolve("none")));
        byte[] wire = r.encode();
        UnixRights.send(sock, Arrays.copyOf(wire, FrontDoorRequest.HEADER), stdio);
        UnixRights.send(sock, Arrays.copyOfRange(wire, FrontDoorRequest.HEADER, wire.length), new int[0]);
        return sock;
    }

    private static byte[] record(int sock) throws Exception {
        byte[] r = new byte[0];
        while (r.length < 8) {
            byte[] got = UnixRights.receive(sock, 8 - r.length, 1).data();
            if (got.length == 0) break;
            byte[] both = Arrays.copyOf(r, r.length + got.length);
            System.arraycopy(got, 0, both, r.length, got.length);
            r = both;
        }
        return r;
    }

    private static String readAll(int fd) throws Exception {
        StringBuilder s = new StringBuilder();
        try (Memory m = new Memory(4096)) {
            int n;
            while ((n = LibC.read(fd, m, 4096)) > 0) s.append(new String(m.getByteArray(0, n), StandardCharsets.UTF_8));
        }
        return s.toString();
    }

    @Test
    void localTargetRunsInTheDoorsOwnDaemonOnThePassedFds() throws Exception {
        int[] in = pipe();
        int[] out = pipe();
        int[] err = pipe();
        int sock = request(FrontDoorPaths.identity(), new int[] {in[0], out[1], err[1]},
                "run", "-t", "local", "--", "sh", "-c", "echo out; echo err >&2; exit 3");
        assertEquals('A', record(sock)[0]);
        byte[] exit = record(sock);
        assertEquals('X', exit[0]);
        assertEquals(3, exit[7] & 0xff);
        LibC.close(out[1]);
        LibC.close(err[1]);
        open.removeAll(List.of(out[1], err[1]));
        assertEquals("out\n", readAll(out[0]));
        assertEquals("err\n", readAll(err[0]));
    }

    @Test
    void localTargetWithJvmSettingsGoesBackToTheJvmClientUntouched() throws Exception {
        int[] out = pipe();
        int sock = UnixRights.connect(paths.socket().toString());
        open.add(sock);
        FrontDoorRequest r = new FrontDoorRequest(List.of(0, 1, 2), 0, 022, "/", FrontDoorPaths.identity(),
                List.of("run", "-t", "local", "--", "true"), List.of("PATH=/bin", "TETHER_JAVA_OPTS=-Dtetherd.tracer.refuse=mkdir"));
        byte[] wire = r.encode();
        UnixRights.send(sock, Arrays.copyOf(wire, FrontDoorRequest.HEADER), new int[] {out[0], out[1], out[1]});
        UnixRights.send(sock, Arrays.copyOfRange(wire, FrontDoorRequest.HEADER, wire.length), new int[0]);
        assertEquals('F', record(sock)[0]);
    }

    @Test
    void frontEndOfAnotherIdentityGoesBackToTheJvmClient() throws Exception {
        int[] out = pipe();
        int sock = request(FrontDoorPaths.identity().replaceFirst("net:\\[\\d+]", "net:[1]"), new int[] {out[0], out[1], out[1]}, "run", "-t", "ssh://h", "--", "true");
        assertEquals('F', record(sock)[0]);
    }

    @Test
    void badTargetIsReportedOnThePassedStderrThenExit255AndTheDoorLetsGoOfTheFds() throws Exception {
        int[] in = pipe();
        int[] out = pipe();
        int[] err = pipe();
        int sock = request(FrontDoorPaths.identity(), new int[] {in[0], out[1], err[1]}, "run", "-t", "bad target!", "--", "true");
        assertEquals('A', record(sock)[0]);
        byte[] exit = record(sock);
        assertEquals('X', exit[0]);
        assertEquals(255, exit[7] & 0xff);
        // Our write ends closed, EOF proves the door holds no copy any more.
        LibC.close(out[1]);
        LibC.close(err[1]);
        open.removeAll(List.of(out[1], err[1]));
        assertTrue(readAll(err[0]).startsWith("tether: bad target 'bad target!'"));
        assertEquals("", readAll(out[0]));
    }

    @Test
    void aProbeThatSendsNothingIsDropped() throws Exception {
        int sock = UnixRights.connect(paths.socket().toString());
        Terminal.shutdownWrite(sock);
        assertEquals(0, UnixRights.receive(sock, 8, 1).data().length);
        UnixRights.close(sock);
    }
}
