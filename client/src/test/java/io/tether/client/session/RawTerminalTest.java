package io.tether.client.session;

import io.tether.posix.LibC;
import io.tether.posix.Terminal;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Raw mode on a real terminal (a pty slave of our own) and its restoration. */
class RawTerminalTest {
    private int master = -1;
    private int slave = -1;

    @BeforeEach
    void openPty() throws Exception {
        master = LibC.openPtyMaster(LibC.O_RDWR | LibC.O_NOCTTY | LibC.O_CLOEXEC);
        slave = LibC.open(LibC.ptsname(master), LibC.O_RDWR | LibC.O_NOCTTY | LibC.O_CLOEXEC, 0);
        LibC.setWindowSize(master, 33, 111);
    }

    @AfterEach
    void close() {
        if (slave >= 0) Terminal.closeQuietly(slave);
        if (master >= 0) Terminal.closeQuietly(master);
    }

    private byte[] settings() throws Exception {
        return Terminal.getAttributes(slave);
    }

    @Test
    void enterSetsRawModeAndCloseRestoresTheSavedSettings() throws Exception {
        assertTrue(Terminal.isTerminal(slave));
        byte[] cooked = settings();
        try (RawTerminal t = RawTerminal.enter(slave)) {
            assertArrayEquals(Terminal.makeRaw(cooked), settings());
            assertFalse(java.util.Arrays.equals(cooked, settings()));
        }
        assertArrayEquals(cooked, settings());
    }

    @Test
    void restoreForAStopAndReenterForTheContinue() throws Exception {
        byte[] cooked = settings();
        try (RawTerminal t = RawTerminal.enter(slave)) {
            t.restore();
            assertArrayEquals(cooked, settings());
            t.reenter();
            assertArrayEquals(Terminal.makeRaw(cooked), settings());
        }
        assertArrayEquals(cooked, settings());
    }

    @Test
    void windowSizeIsReadFromTheTerminalAndNullForAPipe() throws Exception {
        int[] size = Terminal.windowSize(slave);
        assertNotNull(size);
        assertEquals(33, size[0]);
        assertEquals(111, size[1]);
        int[] p = Terminal.pipe();
        try {
            assertEquals(null, Terminal.windowSize(p[0]));
            assertFalse(Terminal.isTerminal(p[0]));
        } finally {
            Terminal.closeQuietly(p[0]);
            Terminal.closeQuietly(p[1]);
        }
    }
}
