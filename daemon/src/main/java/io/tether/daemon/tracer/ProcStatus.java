package io.tether.daemon.tracer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A number from /proc/PID/status (Tgid, TracerPid, Umask): what the tracer learns of a task without stopping it. */
public final class ProcStatus {
    private ProcStatus() {}

    /**
     * Field {@code name} ("Tgid", "Umask") of task {@code pid}, parsed in {@code radix}; {@code absent} when the task is
     * gone or the kernel does not show the field.
     */
    public static int field(int pid, String name, int radix, int absent) {
        String prefix = name + ":";
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                if (line.startsWith(prefix)) return Integer.parseInt(line.substring(prefix.length()).trim(), radix);
            }
        } catch (IOException | RuntimeException e) {
            // gone, or an old kernel
        }
        return absent;
    }
}
