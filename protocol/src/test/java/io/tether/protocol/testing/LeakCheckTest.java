package io.tether.protocol.testing;

import io.netty.buffer.ByteBufAllocator;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertFalse;

/** The leak check itself can fail: a buffer dropped unreleased is reported. */
class LeakCheckTest {
    @Test
    void anUnreleasedBufferIsReported() {
        LeakCheck.collect();
        leakOne();
        List<String> leaks = LeakCheck.collect();
        assertFalse(leaks.isEmpty(), "the detector missed a deliberate leak");
    }

    private static void leakOne() {
        ByteBufAllocator.DEFAULT.heapBuffer(128).writeInt(42); // never released, on purpose
    }
}
