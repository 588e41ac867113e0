package io.tether.client.frontdoor;

import io.tether.client.control.ControlPaths;
import io.tether.posix.LibC;
import io.tether.posix.UnixRights;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The door's name: which builds and callers share a door, and that tether-fe.c finds the same one. */
class FrontDoorPathsTest {
    @TempDir
    Path home;

    private void build(String... libs) throws Exception {
        Files.createDirectories(home.resolve("client/target/lib"));
        Files.writeString(FrontDoorPaths.jar(home), "jar");
        for (String lib : libs) Files.writeString(home.resolve("client/target/lib").resolve(lib), lib);
    }

    private void touch(String lib, long seconds) throws Exception {
        Files.setLastModifiedTime(home.resolve("client/target/lib").resolve(lib), FileTime.from(seconds, TimeUnit.SECONDS));
    }

    @Test
    void aRebuiltDaemonOrProtocolJarNamesAnotherDoorButOtherLibrariesDoNot() throws Exception {
        build("tether-daemon-0.1.0-SNAPSHOT.jar", "tether-protocol-0.1.0-SNAPSHOT.jar", "jna-5.15.0.jar");
        String key = FrontDoorPaths.key(home);
        assertTrue(key.matches("frontdoor-[0-9a-f]+-3-[0-9a-f]{16}"), key);
        touch("jna-5.15.0.jar", 1000);
        assertEquals(key, FrontDoorPaths.key(home));
        touch("tether-daemon-0.1.0-SNAPSHOT.jar", 1000);
        assertNotEquals(key, FrontDoorPaths.key(home));
    }

    @Test
    void theIdentityNamesNamespacesCredentialsLimitsAndCgroup() {
        String id = FrontDoorPaths.identity();
        for (String part : List.of("ns net:[", " mnt:[", " pid:[", "\nroot ", "\nUid:", "\nGroups:", "\nCapEff:", "\nlimits ",
                "\ncgroup ")) {
            assertTrue(id.contains(part), () -> part + " in " + id);
        }
        assertEquals(id, FrontDoorPaths.identity());
    }

    @Test
    void theNativeFrontEndComputesTheSameSocketAndSendsTheSameIdentity() throws Exception {
        Path src = Path.of(System.getProperty("user.dir")).resolve("src/main/c/tether-fe.c");
        String cc = List.of("/usr/bin/cc", "/usr/bin/gcc").stream().filter(p -> Files.isExecutable(Path.of(p))).findFirst().orElse(null);
        assumeTrue(cc != null && Files.exists(src) && UnixRights.supported(), "no C compiler or no tether-fe.c here");
        build("tether-daemon-0.1.0-SNAPSHOT.jar", "tether-protocol-0.1.0-SNAPSHOT.jar");
        Path fe = home.resolve("tether-fe");
        Process gcc = new ProcessBuilder(cc, "-O2", "-o", fe.toString(), src.toString()).inheritIO().start();
        assertEquals(0, gcc.waitFor());
        Path xdg = Files.createDirectories(home.resolve("xdg"), PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        ControlPaths paths = FrontDoorPaths.of(Map.of("XDG_RUNTIME_DIR", xdg.toString()), FrontDoorPaths.key(home));
        paths.prepare();
        int listen = UnixRights.listen(paths.socket().toString(), 4);
        List<Integer> open = new ArrayList<>(List.of(listen));
        try {
            ProcessBuilder pb = new ProcessBuilder(fe.toString(), home.toString(), "run", "--", "true");
            pb.environment().put("XDG_RUNTIME_DIR", xdg.toString());
            pb.redirectError(ProcessBuilder.Redirect.INHERIT);
            Process p = pb.start();
            int sock = UnixRights.accept(listen); // a front end that computed another name would never come
            open.add(sock);
            ByteArrayOutputStream in = new ByteArrayOutputStream();
            int length = -1;
            while (length < 0 || in.size() < FrontDoorRequest.HEADER + length) {
                UnixRights.Received r = UnixRights.receive(sock, 1 << 16, UnixRights.MAX_FDS);
                for (int fd : r.fds()) open.add(fd);
                assertTrue(r.data().length > 0, "the front end hung up");
                in.writeBytes(r.data());
                if (length < 0 && in.size() >= FrontDoorRequest.HEADER) {
                    length = FrontDoorRequest.bodyLength(java.util.Arrays.copyOf(in.toByteArray(), FrontDoorRequest.HEADER));
                }
            }
            byte[] all = in.toByteArray();
            FrontDoorRequest req = FrontDoorRequest.decode(java.util.Arrays.copyOfRange(all, FrontDoorRequest.HEADER, all.length));
            assertEquals(FrontDoorPaths.identity(), req.identity());
            assertEquals(List.of("run", "--", "true"), req.args());
            UnixRights.send(sock, ByteBuffer.allocate(8).put((byte) 'A').putInt(4, 0).array(), new int[0]);
            UnixRights.send(sock, ByteBuffer.allocate(8).put((byte) 'X').putInt(4, 7).array(), new int[0]);
            assertTrue(p.waitFor(20, TimeUnit.SECONDS));
            assertEquals(7, p.exitValue());
        } finally {
            open.forEach(LibC::closeQuietly);
        }
    }
}
