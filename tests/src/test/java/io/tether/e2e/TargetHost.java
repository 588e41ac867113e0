package io.tether.e2e;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.HexFormat;
import java.util.Set;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A simulated target device: {@code bin/tetherd} listening in a network namespace of its own,
 * reached over a veth pair with loopback-range addresses (127.A.B.1 host side, 127.A.B.2 target
 * side), as ../shared/bench/target-netns.sh does. The client side of the veth lives in a second
 * namespace rather than the root one: a 127.x address is only routable off-lo when lo is shrunk
 * to 127.0.0.1/32, and shrinking the root namespace's lo would break every other process on the
 * machine. So {@code bin/tether} runs under {@code nsenter --net=<host namespace>}.
 *
 * <p>Everything made here (namespaces, daemon, stray processes in either namespace) is torn down
 * by {@link #close()}, which a shutdown hook also runs if the test JVM dies early.
 */
final class TargetHost implements AutoCloseable {
    static final int PORT = 2222;
    private static final Logger log = LoggerFactory.getLogger(TargetHost.class);
    private static final SecureRandom RANDOM = new SecureRandom();

    final String name;
    final String targetNs;
    final String hostNs;
    final String hostAddr;
    final String targetAddr;
    final Path dir;
    final Path clientKey;
    final Path authorizedKeys;
    final Path hostKey;
    final Path knownHosts;
    final Path runtimeDir;
    final Path config;
    final Path daemonLog;
    /** The daemon's --cache-dir: inside the work directory, visible in its mount namespace. */
    final Path cacheDir;

    private final Deque<Runnable> cleanups = new ArrayDeque<>();
    private final Set<Long> servicePids = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private final Thread shutdownHook = new Thread(this::close, "target-host-cleanup");
    private final List<Path> hidden = new java.util.ArrayList<>();
    /** tmpfs options of the cache directory's own disk, or null. */
    private String cacheDisk;
    private Process daemon;
    private boolean closed;

    private TargetHost(String label) {
        String id = HexFormat.of().formatHex(randomBytes(3));
        name = "tether-e2e-" + id;
        targetNs = name;
        hostNs = name + "-host";
        int a = 100 + RANDOM.nextInt(100);
        int b = RANDOM.nextInt(256);
        hostAddr = "127." + a + "." + b + ".1";
        targetAddr = "127." + a + "." + b + ".2";
        dir = TetherHome.workDir(label + "-" + id);
        clientKey = dir.resolve("id_ed25519");
        authorizedKeys = dir.resolve("authorized_keys");
        hostKey = dir.resolve("host_key");
        knownHosts = dir.resolve("known_hosts");
        // Agent sockets must fit sun_path (108 bytes): a short directory, not one under target/.
        runtimeDir = Path.of(System.getProperty("java.io.tmpdir"), "te2e-" + id);
        config = dir.resolve("targets.properties");
        daemonLog = dir.resolve("tetherd.log");
        cacheDir = dir.resolve("cache");
    }

    /**
     * Creates the namespaces and starts the daemon, then makes one run with
     * --accept-new-host-key so that known_hosts holds the daemon's key. Skips the calling test
     * (class) when not root or when namespaces are unavailable.
     */
    static TargetHost start(String label) {
        return setup(label).start();
    }

    /** A target to configure before it starts: hidden host paths, daemon options. */
    static Setup setup(String label) { return new Setup(label); }

    /**
     * How the daemon starts. With {@link #hide} it runs in a mount namespace of its own (as well as
     * its network namespace) where each hidden path is covered by an empty tmpfs: the "No NFS"
     * set-up, in which the host's rootfs and binds do not exist on the target.
     */
    static final class Setup {
        private final String label;
        private final List<Path> hidden = new java.util.ArrayList<>();
        private final List<String> daemonOptions = new java.util.ArrayList<>();

        private Setup(String label) { this.label = label; }

        /** Covers each directory with an empty tmpfs in the daemon's own mount namespace. */
        Setup hide(Path... dirs) {
            for (Path d : dirs) hidden.add(d.toAbsolutePath().normalize());
            return this;
        }

        /**
         * The daemon's cache directory on a tmpfs of its own with these mount options (e.g.
         * "size=256m,nr_inodes=16000"), in its mount namespace: a small device disk. Needs {@link #hide}.
         */
        Setup cacheDisk(String tmpfsOptions) {
            cacheDisk = tmpfsOptions;
            return this;
        }

        private String cacheDisk;

        /** tetherd --cache-size SIZE (e.g. "32M"). */
        Setup cacheSize(String size) { return daemonOption("--cache-size", size); }

        /** Extra tetherd options (e.g. "--log-level", "debug"). */
        Setup daemonOption(String... words) {
            daemonOptions.addAll(List.of(words));
            return this;
        }

        TargetHost start() { return TargetHost.start(this); }
    }

    private static TargetHost start(Setup setup) {
        String label = setup.label;
        assumeNamespaces();
        TetherHome.ensureBuilt();
        sweepStale();
        TargetHost host = new TargetHost(label);
        Runtime.getRuntime().addShutdownHook(host.shutdownHook);
        try {
            host.createNetwork();
            host.createKeys();
            host.hidden.addAll(setup.hidden);
            host.cacheDisk = setup.cacheDisk;
            if (host.cacheDisk != null && host.hidden.isEmpty()) throw new IllegalArgumentException("cacheDisk needs hide()");
            host.startDaemon(setup.daemonOptions);
            host.assertHiddenFromDaemon();
            Exec.Result warm = host.run("true").option("--accept-new-host-key").exec(Duration.ofSeconds(60));
            if (warm.exit() != 0) {
                throw new AssertionError("first run against " + host.url() + " failed: " + warm
                        + "\n--- tetherd log ---\n" + host.daemonLogTail());
            }
            return host;
        } catch (RuntimeException | Error e) {
            host.close();
            throw e;
        }
    }

    /** Skips (visibly) unless this is root with working `ip netns`, nsenter, ss and ssh-keygen. */
    static void assumeNamespaces() {
        assumeTrue(onPath("id") && "0".equals(Exec.run(Duration.ofSeconds(10), "id", "-u").out().trim()),
                "end-to-end tests need root (network namespaces)");
        for (String tool : List.of("ip", "nsenter", "ss", "ssh-keygen")) {
            assumeTrue(onPath(tool), tool + " is not installed");
        }
        Exec.Result r = Exec.run(Duration.ofSeconds(10), "ip", "netns", "list");
        assumeTrue(r.exit() == 0, "`ip netns` unavailable: " + r.err().trim());
    }

    /**
     * Deletes namespaces left by a test JVM that was killed before its shutdown hook ran: ours by
     * name, empty (a live fixture always has its daemon) and older than any fixture being set up.
     */
    private static void sweepStale() {
        try (var entries = Files.list(Path.of("/run/netns"))) {
            long cutoff = System.currentTimeMillis() - Duration.ofMinutes(10).toMillis();
            for (Path ns : entries.filter(p -> p.getFileName().toString().startsWith("tether-e2e-")).toList()) {
                String name = ns.getFileName().toString();
                if (Files.getLastModifiedTime(ns).toMillis() < cutoff && pids(name).isEmpty()) {
                    log.info("deleting stale namespace {}", name);
                    Exec.run(Duration.ofSeconds(10), "ip", "netns", "del", name);
                }
            }
        } catch (IOException e) {
            log.debug("no stale namespace sweep: {}", e.toString());
        }
    }

    static boolean onPath(String tool) {
        String path = System.getenv().getOrDefault("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin";
        for (String d : path.split(File.pathSeparator)) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, tool))) {
                return true;
            }
        }
        return false;
    }

    String url() { return "ssh://root@" + targetAddr + ":" + PORT; }

    /** The prefix that runs a command in the client's (host side) namespace. */
    List<String> inHostNs(List<String> command) { return prefixed(hostNs, command); }

    List<String> inTargetNs(List<String> command) { return prefixed(targetNs, command); }

    private static List<String> prefixed(String ns, List<String> command) {
        List<String> argv = new java.util.ArrayList<>();
        argv.add("nsenter");
        argv.add("--net=/run/netns/" + ns);
        argv.addAll(command);
        return argv;
    }

    /** A `tether run` of CMD against this target, to be configured and started. */
    TetherRun run(String... command) { return new TetherRun(this, List.of(command)); }

    /** The environment additions every client process gets: its own agent socket dir and config. */
    Map<String, String> clientEnv() {
        Map<String, String> env = new HashMap<>();
        env.put("XDG_RUNTIME_DIR", runtimeDir.toString());
        env.put("TETHER_CONFIG", config.toString());
        return env;
    }

    long daemonPid() { return daemon.pid(); }

    boolean daemonAlive() { return daemon != null && daemon.isAlive(); }

    /** Kills the daemon with SIGKILL (a crash, as far as clients can tell). */
    void killDaemon() {
        daemon.destroyForcibly();
        try {
            daemon.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Bytes the target side of the link has received so far (the veth's counter: SSH and TCP included). */
    long bytesToTarget() {
        String out = Exec.check(Duration.ofSeconds(10), "ip", "netns", "exec", targetNs, "cat", "/sys/class/net/vt/statistics/rx_bytes").out();
        return Long.parseLong(out.strip());
    }

    /** Takes the target side of the link down: packets are dropped, no FIN or RST is ever seen. */
    void linkDown() {
        Exec.check(Duration.ofSeconds(10), "ip", "-n", targetNs, "link", "set", "vt", "down");
    }

    /** Marks a service the test started in the target namespace (sshd): it and its descendants are not sessions. */
    void addService(long pid) {
        servicePids.add(pid);
    }

    /** Processes living in the target namespace other than the daemon and services, pid to command line. */
    Map<Long, String> targetProcesses() {
        Map<Long, String> result = new LinkedHashMap<>();
        for (long pid : pids(targetNs)) {
            if ((daemon != null && pid == daemon.pid()) || underService(pid)) {
                continue;
            }
            result.put(pid, cmdline(pid));
        }
        return result;
    }

    private boolean underService(long pid) {
        for (var p = ProcessHandle.of(pid); p.isPresent(); p = p.get().parent()) {
            if (servicePids.contains(p.get().pid())) {
                return true;
            }
        }
        return false;
    }

    /** Target-side processes whose command line contains {@code marker}. */
    Map<Long, String> targetProcessesMatching(String marker) {
        return targetProcesses().entrySet().stream().filter(e -> e.getValue().contains(marker))
                .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue));
    }

    /** Established TCP connections to the daemon's port, counted on the target side. */
    int establishedConnections() {
        Exec.Result r = Exec.run(Duration.ofSeconds(10),
                inTargetNs(List.of("ss", "-Htn", "state", "established", "( sport = :" + PORT + " )")));
        return (int) r.out().lines().filter(l -> !l.isBlank()).count();
    }

    String daemonLogTail() {
        try {
            if (!Files.exists(daemonLog)) {
                return "(no log)";
            }
            List<String> lines = Files.readAllLines(daemonLog, StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        } catch (IOException e) {
            return "(unreadable log: " + e + ")";
        }
    }

    static Set<Long> pids(String ns) {
        Exec.Result r = Exec.run(Duration.ofSeconds(10), "ip", "netns", "pids", ns);
        Set<Long> pids = new TreeSet<>();
        r.out().lines().map(String::trim).filter(l -> l.matches("\\d+")).forEach(l -> pids.add(Long.parseLong(l)));
        return pids;
    }

    static String cmdline(long pid) {
        try {
            byte[] raw = Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline"));
            return new String(raw, StandardCharsets.UTF_8).replace('\0', ' ').trim();
        } catch (IOException e) {
            return "(gone)";
        }
    }

    private void createNetwork() {
        ns("add", hostNs);
        cleanups.push(() -> deleteNamespace(hostNs));
        ns("add", targetNs);
        cleanups.push(() -> deleteNamespace(targetNs));
        Exec.check(Duration.ofSeconds(10), "ip", "-n", hostNs, "link", "add", "vh", "type", "veth",
                "peer", "name", "vt", "netns", targetNs);
        configureSide(hostNs, "vh", hostAddr);
        configureSide(targetNs, "vt", targetAddr);
    }

    private void ns(String op, String ns) {
        Exec.Result r = Exec.run(Duration.ofSeconds(10), "ip", "netns", op, ns);
        assumeTrue(r.exit() == 0, "cannot create a network namespace: " + r.err().trim());
    }

    /** The target-netns.sh recipe: loopback-range addresses on a veth need route_localnet and a /32 lo. */
    private void configureSide(String ns, String dev, String addr) {
        String script = String.join("\n",
                "sysctl -qw net.ipv4.conf.all.route_localnet=1 net.ipv4.conf.default.route_localnet=1",
                "ip addr add 127.0.0.1/32 dev lo",
                "ip link set lo up",
                "ip addr del 127.0.0.1/8 dev lo",
                "sysctl -qw net.ipv4.conf." + dev + ".route_localnet=1",
                "ip addr add " + addr + "/24 dev " + dev,
                "ip link set " + dev + " up");
        Exec.check(Duration.ofSeconds(10), prefixed(ns, List.of("sh", "-ec", script)).toArray(String[]::new));
    }

    private void createKeys() {
        try {
            Files.createDirectories(runtimeDir);
            cleanups.push(() -> deleteTree(runtimeDir));
            Files.writeString(config, "# empty: tests name their target explicitly\n");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        generateKey(clientKey);
        try {
            Files.copy(Path.of(clientKey + ".pub"), authorizedKeys);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void generateKey(Path file) {
        Exec.check(Duration.ofSeconds(30), "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tether-e2e",
                "-f", file.toString());
    }

    private void startDaemon(List<String> extraOptions) {
        List<String> tetherd = new java.util.ArrayList<>(List.of(TetherHome.tetherd().toString(),
                "--listen", targetAddr + ":" + PORT,
                "--host-key", hostKey.toString(),
                "--authorized-keys", authorizedKeys.toString(),
                "--cache-dir", cacheDir.toString()));
        tetherd.addAll(extraOptions);
        List<String> argv;
        if (hidden.isEmpty()) {
            argv = inTargetNs(tetherd);
        } else {
            // nsenter, unshare (no --fork) and sh all exec: the started process is the daemon's JVM.
            List<String> wrapped = new java.util.ArrayList<>(List.of("unshare", "--mount", "--propagation", "private",
                    "sh", "-ec", "c=$1; o=$2; shift 2; if [ -n \"$o\" ]; then mkdir -p \"$c\"; mount -t tmpfs -o \"$o\" tether-cache \"$c\"; fi; "
                            + "n=$1; shift; while [ \"$n\" -gt 0 ]; do "
                            + "mount -t tmpfs -o size=64k,mode=0755 tether-hidden \"$1\"; shift; n=$((n - 1)); done; exec \"$@\"",
                    "sh", cacheDir.toString(), cacheDisk == null ? "" : cacheDisk, Integer.toString(hidden.size())));
            hidden.forEach(p -> wrapped.add(p.toString()));
            wrapped.addAll(tetherd);
            argv = inTargetNs(wrapped);
        }
        ProcessBuilder pb = new ProcessBuilder(argv)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectErrorStream(true)
                .redirectOutput(daemonLog.toFile());
        try {
            daemon = pb.start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        cleanups.push(this::stopDaemon);
        Poll.until(Duration.ofSeconds(90), () -> !daemon.isAlive() || listening(),
                () -> "tetherd never listened on " + targetAddr + ":" + PORT + "\n" + daemonLogTail());
        if (!daemon.isAlive()) {
            throw new AssertionError("tetherd exited with " + daemon.exitValue() + ":\n" + daemonLogTail());
        }
    }

    /** Each hidden directory is empty as the daemon sees it (the set-up's own check). */
    private void assertHiddenFromDaemon() {
        for (Path p : hidden) {
            Exec.Result r = inDaemonMountNs("ls", "-A", p.toString());
            if (r.exit() != 0 || !r.out().isBlank()) {
                throw new AssertionError("the daemon's mount namespace still shows " + p + ": " + r);
            }
        }
    }

    /** Runs a command in the daemon's mount namespace (and the root namespace's network). */
    Exec.Result inDaemonMountNs(String... command) {
        List<String> argv = new java.util.ArrayList<>(List.of("nsenter", "-t", Long.toString(daemon.pid()), "-m", "--"));
        argv.addAll(List.of(command));
        return Exec.run(Duration.ofSeconds(10), argv);
    }

    /** Whether {@code hostPath} exists (lstat) as the daemon sees it. */
    boolean daemonSees(Path hostPath) {
        return inDaemonMountNs("stat", "--", hostPath.toString()).exit() == 0;
    }

    private boolean listening() {
        Exec.Result r = Exec.run(Duration.ofSeconds(10),
                inTargetNs(List.of("ss", "-Hltn", "( sport = :" + PORT + " )")));
        return r.out().contains(":" + PORT);
    }

    private void stopDaemon() {
        if (daemon != null && daemon.isAlive()) {
            daemon.destroy();
            try {
                if (!daemon.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)) {
                    daemon.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                daemon.destroyForcibly();
            }
        }
    }

    /** Kills whatever still runs in the namespace (agents, stray sessions), then deletes it. */
    private static void deleteNamespace(String ns) {
        for (int round = 0; round < 3; round++) {
            Set<Long> left = pids(ns);
            if (left.isEmpty()) {
                break;
            }
            if (round > 0) {
                log.warn("namespace {} still has processes: {}", ns, left);
            }
            for (long pid : left) {
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            }
            Poll.within(Duration.ofSeconds(2), () -> pids(ns).isEmpty());
        }
        Exec.Result r = Exec.run(Duration.ofSeconds(10), "ip", "netns", "del", ns);
        if (r.exit() != 0) {
            log.warn("ip netns del {}: {}", ns, r.err().trim());
        }
    }

    private static void deleteTree(Path root) {
        try (var walk = Files.walk(root)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            log.warn("cannot delete {}: {}", root, e.toString());
        }
    }

    private static byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        RANDOM.nextBytes(b);
        return b;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        while (!cleanups.isEmpty()) {
            try {
                cleanups.pop().run();
            } catch (RuntimeException | Error e) {
                log.warn("cleanup of {} failed", name, e);
            }
        }
        if (Thread.currentThread() != shutdownHook) {
            try {
                Runtime.getRuntime().removeShutdownHook(shutdownHook);
            } catch (IllegalStateException ignored) {
                // already shutting down
            }
        }
    }
}
