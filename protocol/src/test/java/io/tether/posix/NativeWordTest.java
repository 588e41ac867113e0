package io.tether.posix;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.sun.jna.Memory;
import org.junit.jupiter.api.Test;

class NativeWordTest {
    @Test
    void iovecsAreTwoWordsOfThePlatformsSize() {
        try (Memory m = new Memory(32)) {
            m.clear();
            NativeWord.iovec(m, 1, 0x1122334455667788L, 0x99, 8);
            assertEquals(0, m.getLong(0));
            assertEquals(0x1122334455667788L, m.getLong(16));
            assertEquals(0x99, m.getLong(24));

            m.clear();
            // 32-bit ARM: struct iovec {void *base; size_t len} is 8 bytes, the second one at 8.
            NativeWord.iovec(m, 1, 0xbeef1000L, 4096, 4);
            assertArrayEquals(new int[] {0, 0, 0xbeef1000, 4096, 0, 0, 0, 0}, m.getIntArray(0, 8));
        }
    }

    @Test
    void aThirtyTwoBitWordReadsBackZeroExtended() {
        try (Memory m = new Memory(8)) {
            m.setLong(0, -1L);
            NativeWord.put(m, 0, 0xfffffff0L, 4);
            assertEquals(0xfffffff0L, NativeWord.get(m, 0, 4));
            assertEquals(-1, m.getInt(4), "the word after is untouched");
        }
    }

    @Test
    void thisPlatformsWordIsTheJvmsPointerSize() {
        assertEquals(System.getProperty("os.arch").contains("64") ? 8 : 4, NativeWord.SIZE);
        assertEquals(NativeWord.SIZE == 8, NativeWord.LP64);
    }
}
