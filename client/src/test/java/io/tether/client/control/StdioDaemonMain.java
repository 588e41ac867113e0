package io.tether.client.control;

import io.tether.daemon.session.DaemonCore;
import io.tether.daemon.session.DaemonOptions;
import io.tether.protocol.mux.Mux;
import io.tether.protocol.transport.Transport;

import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A stand-in for {@code tetherd --stdio} in tests: DaemonCore on stdin/stdout. Appends its
 * pid to {@code args[0]} when it starts, so tests can count upstream connections.
 */
public final class StdioDaemonMain {
    private StdioDaemonMain() {}

    public static void main(String[] args) throws Exception {
        FileOutputStream protocolOut = new FileOutputStream(FileDescriptor.out);
        System.setOut(System.err);
        Files.writeString(Path.of(args[0]), ProcessHandle.current().pid() + "\n", StandardCharsets.UTF_8,
                StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        DaemonCore core = new DaemonCore(DaemonOptions.defaults().withRunDir(Path.of(args[1])));
        Mux mux = core.serve(Transport.of(new FileInputStream(FileDescriptor.in), protocolOut, "stdio", null));
        try {
            mux.terminated().join();
        } catch (RuntimeException ignored) {
            // connection lost: exit all the same
        }
        core.close();
        System.exit(0);
    }
}
