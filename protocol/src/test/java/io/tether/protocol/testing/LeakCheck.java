package io.tether.protocol.testing;

import io.netty.buffer.AbstractByteBuf;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Fails a test class whose code leaked a Netty buffer. Surefire runs with
 * {@code io.netty.leakDetection.level=paranoid}, so every pooled buffer is tracked; this
 * listens to the ByteBuf leak detector, and after the class forces collections and
 * allocations so that leaked buffers are reported.
 */
public final class LeakCheck implements BeforeAllCallback, AfterAllCallback {
    private static final List<String> LEAKS = new ArrayList<>();
    private static boolean installed;

    /** Starts listening (idempotent). */
    public static synchronized void install() {
        if (installed) return;
        try {
            Field f = AbstractByteBuf.class.getDeclaredField("leakDetector");
            f.setAccessible(true);
            @SuppressWarnings("unchecked")
            ResourceLeakDetector<ByteBuf> detector = (ResourceLeakDetector<ByteBuf>) f.get(null);
            detector.setLeakListener((type, records) -> {
                synchronized (LEAKS) {
                    LEAKS.add(type + ": " + records);
                }
            });
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot hook Netty's leak detector", e);
        }
        installed = true;
    }

    /** Leaks reported since the last call, after giving the collector a chance to find them. */
    public static List<String> collect() {
        install();
        for (int i = 0; i < 5; i++) {
            System.gc();
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            // The detector reports when the next buffer is tracked.
            for (int j = 0; j < 16; j++) ByteBufAllocator.DEFAULT.heapBuffer(16).release();
        }
        synchronized (LEAKS) {
            List<String> out = new ArrayList<>(LEAKS);
            LEAKS.clear();
            return out;
        }
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        install();
        collect(); // earlier classes answer for their own leaks
    }

    @Override
    public void afterAll(ExtensionContext context) {
        List<String> leaks = collect();
        assertEquals(List.of(), leaks, "Netty buffers leaked in " + context.getDisplayName());
    }
}
