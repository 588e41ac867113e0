package io.tether.client.cli;

import io.tether.client.Tether;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PingCommandTest {
    @Test
    void summaryGivesMinMedianP99AndMaxInMicroseconds() {
        long[] nanos = new long[100];
        for (int i = 0; i < 100; i++) nanos[i] = (100 - i) * 1000L; // 100..1 us, unsorted
        assertEquals("ping x: 100 round trips, min 1.0 us, median 50.0 us, p99 99.0 us, max 100.0 us",
                PingCommand.summary(nanos, "x"));
        assertEquals("ping y: 1 round trips, min 7.0 us, median 7.0 us, p99 7.0 us, max 7.0 us",
                PingCommand.summary(new long[] {7000}, "y"));
    }

    @Test
    void pingsTheInProcessDaemonAndPrintsOneLine() {
        PrintStream old = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int status;
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            status = Tether.execute(new String[] {"ping", "-t", "local", "-n", "50"});
        } finally {
            System.setOut(old);
        }
        String line = out.toString(StandardCharsets.UTF_8);
        assertEquals(0, status, line);
        assertTrue(line.matches("ping .*: 50 round trips, min [0-9.]+ us, median [0-9.]+ us, p99 [0-9.]+ us, max [0-9.]+ us\\n"), line);
    }

    @Test
    void aCountBelowOneIsRefused() {
        assertEquals(255, Tether.execute(new String[] {"ping", "-t", "local", "-n", "0"}));
    }
}
