package io.tether.client.cli;

import io.tether.client.Connector;
import io.tether.client.TetherException;
import io.tether.client.connect.Connection;
import io.tether.client.connect.SshConnection;
import io.tether.client.targets.Target;
import io.tether.client.targets.TargetResolver;
import io.tether.protocol.mux.Mux;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * {@code tether ping} (hidden, diagnostics and bench/channel.sh): connects as {@code tether run}
 * does and times mux PING round trips, one at a time, after a short warm-up. Through the control
 * agent (--control auto) the agent answers, so that measures the local hop; --control no
 * measures the connection to the daemon itself (over SSH for ssh:// targets).
 */
@Command(name = "ping", hidden = true, mixinStandardHelpOptions = true, sortOptions = false,
        versionProvider = io.tether.client.Tether.VersionProvider.class,
        description = {"Times mux PING round trips to the target (or to its control agent with --control auto)",
                "and prints min/median/p99/max in microseconds."})
public final class PingCommand implements java.util.concurrent.Callable<Integer> {
    private static final long TIMEOUT_SECONDS = 10;

    @Option(names = {"-t", "--target"}, paramLabel = "TARGET", description = "as for tether run")
    String target;

    @Option(names = {"-i", "--identity"}, paramLabel = "KEYFILE")
    Path identity;

    @Option(names = "--known-hosts", paramLabel = "FILE")
    Path knownHosts;

    @Option(names = "--accept-new-host-key")
    boolean acceptNewHostKey;

    @Option(names = "--stdio-command", paramLabel = "CMD")
    String stdioCommand;

    @Option(names = "--control", paramLabel = "auto|no", description = "auto: ping the control agent; no (default): the daemon")
    String control = "no";

    @Option(names = "--control-persist", paramLabel = "SECONDS")
    Integer controlPersist;

    @Option(names = "--log-level", paramLabel = "LEVEL")
    String logLevel;

    @Option(names = {"-n", "--count"}, paramLabel = "COUNT", description = "round trips to time (default 1000)")
    int count = 1000;

    @Override
    public Integer call() throws TetherException {
        if (count < 1) throw new TetherException("--count must be at least 1");
        Map<String, String> env = System.getenv();
        String spec = target != null ? target : env.getOrDefault("TETHER_TARGET", "local");
        Target t = TargetResolver.forCurrentUser(env).resolve(spec,
                new TargetResolver.Overrides(identity, knownHosts, acceptNewHostKey, stdioCommand, controlPersist));
        Connector.ControlMode mode = switch (control) {
            case "auto" -> Connector.ControlMode.AUTO;
            case "no" -> Connector.ControlMode.NO;
            default -> throw new TetherException("--control must be auto or no, not '" + control + "'");
        };
        try (Connection c = Connector.connect(t, mode, logLevel == null ? "info" : logLevel)) {
            Mux mux = c.mux();
            // Warm-up: the JIT and the first frames' allocation are not the round trip.
            for (int i = 0; i < Math.min(200, count); i++) roundTrip(mux);
            long[] rtt = new long[count];
            for (int i = 0; i < count; i++) rtt[i] = roundTrip(mux);
            String via = c instanceof SshConnection ssh ? " over SSH (" + ssh.cipher() + ")" : "";
            System.out.println(summary(rtt, c.describe() + via));
            return 0;
        }
    }

    private static long roundTrip(Mux mux) throws TetherException {
        try {
            return mux.ping().get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TetherException("interrupted");
        } catch (ExecutionException e) {
            throw new TetherException("ping failed: " + e.getCause().getMessage());
        } catch (TimeoutException e) {
            throw new TetherException("no PING answer within " + TIMEOUT_SECONDS + " s");
        }
    }

    /** One line: count, min, median, p99, max in microseconds. Sorts {@code nanos}. */
    static String summary(long[] nanos, String what) {
        Arrays.sort(nanos);
        int n = nanos.length;
        return String.format(Locale.ROOT, "ping %s: %d round trips, min %.1f us, median %.1f us, p99 %.1f us, max %.1f us",
                what, n, nanos[0] / 1e3, nanos[(n - 1) / 2] / 1e3, nanos[Math.min(n - 1, (int) Math.ceil(n * 0.99) - 1)] / 1e3,
                nanos[n - 1] / 1e3);
    }
}
