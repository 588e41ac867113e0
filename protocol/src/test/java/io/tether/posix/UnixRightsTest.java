package io.tether.posix;

import com.sun.jna.Memory;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class UnixRightsTest {
    @BeforeEach
    void linux64() {
        assumeTrue(UnixRights.supported(), "SCM_RIGHTS binding is for 64-bit Linux");
    }

    @Test
    void passedPipeEndIsTheSameFileUnderANewNumber() throws Exception {
        int[] pair = Terminal.socketpair();
        int[] pipe = LibC.pipe(LibC.O_CLOEXEC);
        try {
            assertEquals(3, UnixRights.send(pair[0], "abc".getBytes(), new int[] {pipe[1], pipe[0]}));
            UnixRights.Received r = UnixRights.receive(pair[1], 16, 4);
            assertEquals("abc", new String(r.data(), StandardCharsets.US_ASCII));
            assertFalse(r.truncated());
            int[] fds = r.fds();
            assertEquals(2, fds.length);
            assertNotEquals(pipe[1], fds[0]);
            // Write through the received write end, read through the original read end.
            LibC.writeFully(fds[0], "via copy".getBytes(), 0, 8);
            try (Memory m = new Memory(16)) {
                assertEquals(8, LibC.read(pipe[0], m, 16));
                assertEquals("via copy", new String(m.getByteArray(0, 8), StandardCharsets.US_ASCII));
            }
            assertEquals(LibC.O_WRONLY, Terminal.statusFlags(fds[0]) & Terminal.O_ACCMODE);
            assertEquals(LibC.O_RDONLY, Terminal.statusFlags(fds[1]) & Terminal.O_ACCMODE);
            assertNotEquals(0, LibC.fcntl(fds[0], LibC.F_GETFD, 0) & LibC.FD_CLOEXEC, "received close-on-exec");
            for (int fd : fds) LibC.close(fd);
        } finally {
            for (int fd : new int[] {pair[0], pair[1], pipe[0], pipe[1]}) LibC.closeQuietly(fd);
        }
    }

    @Test
    void moreDescriptorsThanRoomAreReportedTruncated() throws Exception {
        int[] pair = Terminal.socketpair();
        int[] pipe = LibC.pipe(LibC.O_CLOEXEC);
        try {
            UnixRights.send(pair[0], new byte[] {1}, new int[] {pipe[0], pipe[1], pipe[0]});
            UnixRights.Received r = UnixRights.receive(pair[1], 1, 1);
            assertTrue(r.truncated());
            assertTrue(r.fds().length <= 2, "only what fit (the kernel closes the rest)");
            for (int fd : r.fds()) LibC.close(fd);
        } finally {
            for (int fd : new int[] {pair[0], pair[1], pipe[0], pipe[1]}) LibC.closeQuietly(fd);
        }
    }

    @Test
    void endOfStreamIsZeroBytesAndNoDescriptors() throws Exception {
        int[] pair = Terminal.socketpair();
        LibC.close(pair[0]);
        UnixRights.Received r = UnixRights.receive(pair[1], 8, 2);
        assertEquals(0, r.data().length);
        assertEquals(0, r.fds().length);
        LibC.close(pair[1]);
    }

    @Test
    void listenAcceptConnectWithPeerCredentials(@TempDir Path dir) throws Exception {
        String path = dir.resolve("s.sock").toString();
        int server = UnixRights.listen(path, 4);
        int client = UnixRights.connect(path);
        int accepted = UnixRights.accept(server);
        try {
            UnixRights.Credentials c = UnixRights.peer(accepted);
            assertEquals(LibC.getuid(), c.uid());
            assertEquals(LibC.getpid(), c.pid());
            UnixRights.send(client, "x".getBytes(), new int[0]);
            assertArrayEquals("x".getBytes(), UnixRights.receive(accepted, 4, 1).data());
            ErrnoException e = assertThrows(ErrnoException.class, () -> UnixRights.listen(path, 1));
            assertEquals(98, e.errno()); // EADDRINUSE
        } finally {
            UnixRights.close(accepted);
            UnixRights.close(client);
            UnixRights.close(server);
        }
    }
}
