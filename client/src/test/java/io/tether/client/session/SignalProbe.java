package io.tether.client.session;

import io.tether.posix.Terminal;

import java.nio.charset.StandardCharsets;
import java.util.TreeSet;

/** Run in a child JVM by {@link SignalRelayTest}: reports every signal the relay dispatches. */
public final class SignalProbe {
    public static void main(String[] args) throws Exception {
        SignalRelay.add(name -> {
            System.out.println("got " + name);
            System.out.flush();
        });
        System.out.println("unavailable " + new TreeSet<>(SignalRelay.unavailable()));
        if (args.length > 0) {
            // The caller's fd 3, wherever the QUIT relay moved it.
            Terminal.writeFully(QuitRelay.localFd(3), (args[0] + "\n").getBytes(StandardCharsets.UTF_8));
        }
        System.out.println("ready");
        System.out.flush();
        while (System.in.read() >= 0) {
            // until the test closes our stdin
        }
    }
}
