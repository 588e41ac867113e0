package io.tether.daemon;

import io.tether.daemon.session.DaemonCore;
import io.tether.daemon.session.DaemonOptions;
import io.tether.daemon.ssh.TetherSshServer;
import io.tether.protocol.mux.Mux;
import io.tether.protocol.transport.Transport;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.net.BindException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * {@code tetherd}: the target-side daemon. Either an SSH server of its own
 * ({@code --listen}) or the protocol on stdin/stdout ({@code --stdio}, for a stock OpenSSH
 * "Subsystem" line or exec). Logs go to stderr only: stdout may carry the protocol.
 */
@Command(name = "tetherd", mixinStandardHelpOptions = true, versionProvider = Tetherd.VersionProvider.class,
        description = "Tether daemon: runs processes for a tether client on this machine (the target).",
        footer = {"%nExamples:",
                "  tetherd --listen 0.0.0.0:2222 --host-key ~/.tether/host_key \\",
                "          --authorized-keys ~/.ssh/authorized_keys",
                "  tetherd --stdio",
                "      in sshd_config: Subsystem tether /path/to/bin/tetherd --stdio"},
        exitCodeOnInvalidInput = 2, exitCodeOnExecutionException = 1)
public final class Tetherd implements Callable<Integer> {
    static final class Mode {
        @Option(names = "--listen", paramLabel = "ADDR:PORT", description = "Run an SSH server on this address (e.g. 0.0.0.0:2222, [::1]:2222).")
        String listen;

        @Option(names = "--stdio", description = "Speak the protocol on stdin/stdout (hosted by OpenSSH or another transport).")
        boolean stdio;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Mode mode;

    @Option(names = "--host-key", paramLabel = "FILE", description = "SSH host key (OpenSSH format); created if missing. With --listen.")
    Path hostKey;

    @Option(names = "--authorized-keys", paramLabel = "FILE", description = "Public keys allowed to log in (authorized_keys format). With --listen.")
    Path authorizedKeys;

    @Option(names = "--cache-dir", paramLabel = "DIR",
            description = "Target-side cache (mirror of host files) and run directory (default: $XDG_CACHE_HOME/tetherd or ~/.cache/tetherd; /var/cache/tetherd as root).")
    Path cacheDir;

    @Option(names = "--cache-size", paramLabel = "SIZE", defaultValue = "2G",
            description = "Bound of cached file contents, with K, M or G (default: ${DEFAULT-VALUE}); least recently used files are evicted. "
                    + "The mirrors themselves are bounded by the cache's disk: below 5% free blocks or inodes (unless other files "
                    + "fill it), or on ENOSPC, the least recently used trees no run holds are dropped.")
    String cacheSize;

    @Option(names = "--log-level", paramLabel = "LEVEL", defaultValue = "info",
            description = "error, warn, info, debug or trace (default: ${DEFAULT-VALUE}).")
    String logLevel;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        // Before anything creates a logger: slf4j-simple must never write to stdout.
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
        System.exit(run(args));
    }

    /** Runs tetherd with {@code args} and returns its exit status (for tests and embedding). */
    public static int run(String... args) {
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
        CommandLine cl = new CommandLine(new Tetherd());
        cl.setErr(new java.io.PrintWriter(System.err, true));
        cl.setParameterExceptionHandler((e, a) -> {
            e.getCommandLine().getErr().println("tetherd: " + e.getMessage() + " (see tetherd --help)");
            return 2;
        });
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            cmd.getErr().println("tetherd: " + e.getMessage());
            return 1;
        });
        return cl.execute(args);
    }

    @Override
    public Integer call() throws Exception {
        String level = logLevel.toLowerCase();
        if (!level.matches("error|warn|info|debug|trace")) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--log-level must be error, warn, info, debug or trace, not " + logLevel);
        }
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", level);
        System.setProperty("org.slf4j.simpleLogger.showDateTime", "true");
        System.setProperty("org.slf4j.simpleLogger.dateTimeFormat", "yyyy-MM-dd'T'HH:mm:ss.SSSZ");
        if (!level.equals("debug") && !level.equals("trace")) {
            System.setProperty("org.slf4j.simpleLogger.log.org.apache.sshd", "warn");
            System.setProperty("org.slf4j.simpleLogger.log.io.netty", "warn");
        }
        JitPolicy.apply();
        DaemonOptions options = DaemonOptions.defaults();
        if (cacheDir != null) options = options.withCacheDir(cacheDir);
        try {
            options = options.withCacheSize(io.tether.daemon.mirror.MirrorCache.parseSize(cacheSize));
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--cache-size: " + e.getMessage());
        }
        return mode.stdio ? serveStdio(options) : listen(options);
    }

    private int listen(DaemonOptions options) throws Exception {
        if (hostKey == null || authorizedKeys == null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--listen needs --host-key FILE and --authorized-keys FILE");
        }
        String[] hp = splitAddress(mode.listen);
        int port;
        try {
            port = Integer.parseInt(hp[1]);
            if (port < 0 || port > 65535) throw new NumberFormatException();
        } catch (NumberFormatException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), "bad port in --listen " + mode.listen);
        }
        DaemonCore core = new DaemonCore(options);
        TetherSshServer server;
        try {
            server = TetherSshServer.start(core, hp[0], port, hostKey, authorizedKeys);
        } catch (BindException e) {
            core.close();
            System.err.println("tetherd: cannot listen on " + mode.listen + ": " + (e.getMessage() == null ? "address in use" : e.getMessage()));
            return 1;
        } catch (java.io.IOException e) {
            core.close();
            System.err.println("tetherd: " + e.getMessage());
            return 1;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                server.close();
            } catch (Exception ignored) {
                // exiting anyway
            }
            core.close();
            stopped.countDown();
        }, "tetherd-shutdown"));
        System.err.println("tetherd " + Version.VERSION + " listening on " + server.address().getHostString() + ":" + server.address().getPort());
        stopped.await();
        return 0;
    }

    private int serveStdio(DaemonOptions options) throws Exception {
        // Keep the protocol stream for the mux alone; stray prints go to stderr.
        FileOutputStream protocolOut = new FileOutputStream(FileDescriptor.out);
        FileInputStream protocolIn = new FileInputStream(FileDescriptor.in);
        System.setOut(new PrintStream(new FileOutputStream(FileDescriptor.err), true));
        DaemonCore core = new DaemonCore(options);
        Runtime.getRuntime().addShutdownHook(new Thread(core::close, "tetherd-shutdown"));
        Mux mux = core.serve(Transport.of(protocolIn, protocolOut, "stdio", null));
        try {
            mux.terminated().join();
            return 0;
        } catch (Exception e) {
            return 0; // the client went away: its sessions are killed below
        } finally {
            core.close();
        }
    }

    /** "host:port", "[v6]:port", ":port" (all addresses). */
    static String[] splitAddress(String addr) {
        if (addr.startsWith("[")) {
            int end = addr.indexOf("]:");
            if (end < 0) return new String[] {addr, ""};
            return new String[] {addr.substring(1, end), addr.substring(end + 2)};
        }
        int colon = addr.lastIndexOf(':');
        if (colon < 0) return new String[] {"0.0.0.0", addr};
        String host = addr.substring(0, colon);
        return new String[] {host.isEmpty() ? "0.0.0.0" : host, addr.substring(colon + 1)};
    }

    static final class VersionProvider implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"tetherd " + Version.VERSION + " (protocol " + io.tether.protocol.frame.Limits.MAJOR + "."
                    + io.tether.protocol.frame.Limits.MINOR + ", Java " + System.getProperty("java.version") + ")"};
        }
    }
}
