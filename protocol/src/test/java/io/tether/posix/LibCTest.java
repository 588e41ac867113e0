package io.tether.posix;

import com.sun.jna.Memory;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class LibCTest {
    @Test
    void pipeCarriesBytesAndReadsEofAfterWriterCloses() throws Exception {
        int[] p = LibC.pipe(LibC.O_CLOEXEC);
        LibC.writeFully(p[1], "hello".getBytes(), 0, 5);
        LibC.close(p[1]);
        try (Memory m = new Memory(16)) {
            assertEquals(5, LibC.read(p[0], m, 16));
            assertEquals("hello", new String(m.getByteArray(0, 5)));
            assertEquals(0, LibC.read(p[0], m, 16));
        }
        LibC.close(p[0]);
    }

    @Test
    void failingCallThrowsErrnoWithSubject() {
        ErrnoException e = assertThrows(ErrnoException.class, () -> LibC.open("/no/such/file", LibC.O_RDONLY, 0));
        assertEquals(Errno.ENOENT, e.errno());
        assertEquals("open", e.op());
        assertEquals("/no/such/file", e.subject());
        assertEquals(Errno.EBADF, assertThrows(ErrnoException.class, () -> LibC.close(987654)).errno());
    }

    @Test
    void gettidNamesAThreadOfThisProcess() throws Exception {
        int tid = LibC.gettid();
        assertTrue(Files.isDirectory(Path.of("/proc/self/task/" + tid)), "tid " + tid);
        assertEquals(ProcessHandle.current().pid(), LibC.getpid());
    }

    @Test
    void ptyMasterHasSlavePathAndWindowSize() throws Exception {
        int master = LibC.openPtyMaster(LibC.O_RDWR | LibC.O_NOCTTY | LibC.O_CLOEXEC);
        try {
            assertTrue(LibC.ptsname(master).startsWith("/dev/pts/"), LibC.ptsname(master));
            LibC.setWindowSize(master, 33, 101);
            assertArrayEquals(new int[] {33, 101}, LibC.getWindowSize(master));
        } finally {
            LibC.close(master);
        }
    }

    @Test
    void socketpairIsBidirectional() throws Exception {
        int[] s = LibC.socketpair(LibC.AF_UNIX, LibC.SOCK_STREAM | LibC.SOCK_CLOEXEC, 0);
        LibC.writeFully(s[1], new byte[] {7}, 0, 1);
        LibC.writeFully(s[0], new byte[] {9}, 0, 1);
        try (Memory m = new Memory(4)) {
            assertEquals(1, LibC.read(s[0], m, 4));
            assertEquals(7, m.getByte(0));
            assertEquals(1, LibC.read(s[1], m, 4));
            assertEquals(9, m.getByte(0));
        }
        LibC.close(s[0]);
        LibC.close(s[1]);
    }
}
