package io.tether.client.frontdoor;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import io.tether.client.TetherException;
import io.tether.client.cli.FrontDoorPlan;
import io.tether.client.cli.RunCommand;
import io.tether.client.connect.Connection;
import io.tether.client.control.ControlPaths;
import io.tether.client.files.FileServer;
import io.tether.client.session.ClientSession;
import io.tether.client.session.SignalSource;
import io.tether.posix.ErrnoException;
import io.tether.posix.LibC;
import io.tether.posix.Terminal;
import io.tether.posix.UnixRights;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadFactory;
import java.util.function.Consumer;

/**
 * One front end at the door: read its request and descriptors, decide (serve, or send it back
 * to the JVM client), run the session on its descriptors, relay its signals, send the exit
 * status. Replies are 8-byte records {@code [u8 type][3 zero bytes][i32 value]}: {@code A}
 * accepted, {@code F} fall back to the JVM client (nothing was touched), {@code S} stop now
 * (after a TSTP: the terminal is restored), {@code X} exit with value. The front end sends
 * {@code [u8 'G'][7 bytes signal name, NUL-padded]} per signal.
 *
 * <p>Descriptors: the received copies are retired before the exit status goes out (each
 * replaced by /dev/null with dup3, which drops our reference at once, so a reader of the
 * caller's stdout pipe sees EOF when the front end exits) and closed once no pump thread can
 * touch the number any more (a closed number could be reused by another session's descriptor).
 */
final class DoorSession implements SignalSource {
    private static final Logger log = LoggerFactory.getLogger(DoorSession.class);
    static final byte ACCEPTED = 'A', FALLBACK = 'F', STOP = 'S', EXIT = 'X', SIGNAL = 'G';
    private static final long PUMP_JOIN_MS = 5000;

    private final int sock;
    private final int devNull;
    private final Object writeLock = new Object();
    private final Object stateLock = new Object();
    private final List<Thread> pumps = new ArrayList<>();
    private int[] fds = new int[0];
    private volatile Consumer<String> listener;
    private Connection connection;
    private Thread reader;
    private Runnable release;
    private byte[] savedTermios;
    private int stdin = -1;
    private boolean finished;
    private boolean frontEndGone;

    private final WarmConnections connections;
    private final WarmWatches watches;
    private final String identity;

    /** {@code identity}: the door's ({@link FrontDoorPaths#identity}); a front end of another is sent back. */
    DoorSession(int sock, int devNull, WarmConnections connections, WarmWatches watches, String identity) {
        this.sock = sock;
        this.devNull = devNull;
        this.connections = connections;
        this.watches = watches;
        this.identity = identity;
    }

    void run() {
        FrontDoorRequest request;
        try {
            request = readRequest();
        } catch (ErrnoException | IllegalArgumentException e) {
            log.warn("bad front end request: {}", e.getMessage());
            closeAll();
            return;
        }
        if (request == null) { // a probe, or a front end that died at once
            closeAll();
            return;
        }
        try {
            Map<Integer, Integer> byTarget = new LinkedHashMap<>();
            for (int i = 0; i < fds.length && i < request.targetFds().size(); i++) byTarget.put(request.targetFds().get(i), fds[i]);
            if (!servable(request, byTarget)) return;
            finish(runSession(request, byTarget));
        } finally {
            cleanUp();
        }
    }

    /** False after a fallback reply. */
    private boolean servable(FrontDoorRequest r, Map<Integer, Integer> byTarget) {
        if (fds.length != r.targetFds().size() || !byTarget.containsKey(0) || !byTarget.containsKey(1) || !byTarget.containsKey(2)) {
            log.warn("front end passed {} descriptors for {}", fds.length, r.targetFds());
            reply(FALLBACK, 0);
            return false;
        }
        if (!r.identity().equals(identity)) {
            log.info("front end in other namespaces or with other credentials or limits ({}): JVM client",
                    r.identity().replace('\n', ' '));
            reply(FALLBACK, 0);
            return false;
        }
        return true;
    }

    /** The exit status, or -1 after a fallback reply. */
    private int runSession(FrontDoorRequest r, Map<Integer, Integer> byTarget) {
        Map<String, String> env = new HashMap<>();
        for (String e : r.env()) {
            int eq = e.indexOf('=');
            if (eq > 0) env.putIfAbsent(e.substring(0, eq), e.substring(eq + 1));
        }
        List<Integer> extra = new ArrayList<>();
        Map<Integer, Integer> extraMap = new HashMap<>();
        byTarget.forEach((target, local) -> {
            if (target > 2) {
                extra.add(target);
                extraMap.put(target, local);
            }
        });
        int err = byTarget.get(2);
        FrontDoorPlan.Plan plan;
        ControlPaths paths;
        try {
            plan = FrontDoorPlan.plan(r.args().toArray(String[]::new), env, r.cwd(), r.umask(), extra);
            if (plan == null) {
                reply(FALLBACK, 0);
                return -1;
            }
            // Target local: the door's own daemon serves it, no agent (WarmConnections.takeLocal).
            paths = local(plan) ? null : ControlPaths.of(ControlPaths.defaultDir(env), plan.target());
            try {
                if (paths != null) paths.prepare();
            } catch (TetherException e) {
                reply(FALLBACK, 0); // the JVM client goes on without connection reuse
                return -1;
            }
        } catch (TetherException e) {
            accept();
            say(err, "tether: " + e.getMessage());
            return ClientSession.OWN_FAILURE;
        } catch (RuntimeException e) {
            log.warn("front end request", e);
            reply(FALLBACK, 0);
            return -1;
        }
        accept();
        stdin = byTarget.get(0);
        if (Terminal.isTerminal(stdin)) {
            try {
                savedTermios = Terminal.getAttributes(stdin);
            } catch (ErrnoException e) {
                log.debug("termios: {}", e.getMessage());
            }
        }
        log.debug("session for pid {}: {} on {}", peerPid(), plan.spec().argv(), plan.target().describe());
        FileServer files;
        WarmConnections.Lease lease;
        try {
            // "No NFS" (-r on a remote target): this door serves the guest's files from the caller's
            // host, as the JVM client would; its identity is the caller's (namespaces, root,
            // credentials), so it sees exactly what the caller sees. Opened before connecting: a
            // missing or unreadable rootfs fails before anything runs.
            // Its watches outlive the run (WarmWatches): the next run's daemon need not revalidate its cache.
            files = RunCommand.hostFiles(plan.target(), plan.spec(),
                    exports -> paths == null ? null : watches.of(paths.socket().toString(), exports));
        } catch (TetherException e) {
            say(err, "tether: " + e.getMessage());
            return ClientSession.OWN_FAILURE;
        }
        try {
            lease = paths == null ? connections.takeLocal() : connections.take(plan.target(), paths);
        } catch (TetherException e) {
            if (files != null) files.close();
            say(err, "tether: " + e.getMessage());
            return ClientSession.OWN_FAILURE;
        }
        Connection c = lease.connection;
        synchronized (stateLock) {
            connection = c;
            if (frontEndGone) c.close();
        }
        ThreadFactory threads = body -> {
            Thread t = new Thread(body, "frontdoor-pump");
            t.setDaemon(true);
            synchronized (pumps) {
                pumps.add(t);
            }
            return t;
        };
        boolean clean = false;
        try {
            int status = ClientSession.run(c.mux(), plan.spec(), plan.target().name(),
                    new ClientSession.BorrowedIo(byTarget.get(0), byTarget.get(1), err, extraMap, this, threads), files);
            synchronized (stateLock) {
                clean = !frontEndGone;
            }
            return status;
        } finally {
            boolean keep = clean;
            // After the exit status went out: the file server's and the connection's bookkeeping stay
            // off the critical path (the daemon wrote everything back before it sent the status).
            release = () -> {
                if (files != null) files.close();
                connections.release(paths, lease, keep);
            };
        }
    }

    private static boolean local(FrontDoorPlan.Plan plan) {
        return plan.target().kind() == io.tether.client.targets.Target.Kind.LOCAL;
    }

    private void finish(int status) {
        if (status < 0) return;
        synchronized (stateLock) {
            finished = true;
            if (frontEndGone) return;
        }
        retireDescriptors(); // the caller's readers see EOF as the front end exits
        reply(EXIT, status);
        releaseConnection();
    }

    /** The front end went away mid-session: as a killed client, the session ends and prints nothing. */
    private void frontEndLost() {
        Connection c;
        synchronized (stateLock) {
            if (finished || frontEndGone) return;
            frontEndGone = true;
            c = connection;
        }
        log.info("front end {} gone mid-session", peerPid());
        byte[] t = savedTermios;
        if (t != null) {
            try {
                Terminal.setAttributes(stdin, Terminal.TCSADRAIN, t);
            } catch (ErrnoException e) {
                log.debug("restoring the terminal: {}", e.getMessage());
            }
        }
        retireDescriptors();
        if (c != null) c.close();
    }

    private void accept() {
        reply(ACCEPTED, 0);
        reader = new Thread(this::readSignals, "frontdoor-signals");
        reader.setDaemon(true);
        reader.start();
    }

    /** Once per session, on the session's thread: after the exit status, or at clean-up. */
    private void releaseConnection() {
        Runnable r = release;
        release = null;
        if (r != null) r.run();
    }

    private void cleanUp() {
        releaseConnection();
        List<Thread> all;
        synchronized (pumps) {
            all = new ArrayList<>(pumps);
        }
        boolean stuck = false;
        long deadline = System.currentTimeMillis() + PUMP_JOIN_MS;
        for (Thread t : all) {
            try {
                t.join(Math.max(1, deadline - System.currentTimeMillis()));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            stuck |= t.isAlive();
        }
        if (stuck) {
            // A pump still blocked in the kernel on a caller's file: leave the numbers (now
            // /dev/null) alone rather than risk another session's descriptor behind them.
            log.warn("front end {}: a pump thread did not end; leaving its descriptors open", peerPid());
            retireDescriptors();
        } else {
            for (int fd : fds) Terminal.closeQuietly(fd);
        }
        if (reader != null) {
            // Wakes the reader (EOF) even if the front end lingers; what we sent is still delivered.
            try {
                LibC.shutdown(sock, LibC.SHUT_RDWR);
            } catch (ErrnoException e) {
                log.debug("shutdown: {}", e.getMessage());
            }
            try {
                reader.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        UnixRights.close(sock);
    }

    private void closeAll() {
        for (int fd : fds) Terminal.closeQuietly(fd);
        UnixRights.close(sock);
    }

    /** Each received descriptor becomes /dev/null: our reference to the caller's file is gone, the number stays ours. */
    private void retireDescriptors() {
        for (int fd : fds) {
            try {
                Terminal.duplicateTo(devNull, fd);
            } catch (ErrnoException e) {
                log.debug("retiring fd {}: {}", fd, e.getMessage());
            }
        }
    }

    private FrontDoorRequest readRequest() throws ErrnoException {
        ByteArrayOutputStream header = new ByteArrayOutputStream();
        List<Integer> got = new ArrayList<>();
        while (header.size() < FrontDoorRequest.HEADER) {
            UnixRights.Received r = UnixRights.receive(sock, FrontDoorRequest.HEADER - header.size(), UnixRights.MAX_FDS);
            for (int fd : r.fds()) got.add(fd);
            fds = got.stream().mapToInt(Integer::intValue).toArray();
            if (r.truncated()) throw new IllegalArgumentException("more descriptors than one message carries");
            if (r.data().length == 0) return null;
            header.writeBytes(r.data());
        }
        int length = FrontDoorRequest.bodyLength(header.toByteArray());
        byte[] body = new byte[length];
        int done = 0;
        try (Memory buf = new Memory(Math.max(1, Math.min(length, 1 << 16)))) {
            while (done < length) {
                int n = Terminal.read(sock, Pointer.nativeValue(buf), (int) Math.min(buf.size(), length - done));
                if (n == 0) return null;
                buf.read(0, body, done, n);
                done += n;
            }
        }
        return FrontDoorRequest.decode(body);
    }

    private void readSignals() {
        byte[] record = new byte[8];
        try (Memory buf = new Memory(8)) {
            while (true) {
                int have = 0;
                while (have < 8) {
                    int n = Terminal.read(sock, Pointer.nativeValue(buf) + have, 8 - have);
                    if (n == 0) {
                        frontEndLost();
                        return;
                    }
                    have += n;
                }
                buf.read(0, record, 0, 8);
                if (record[0] != SIGNAL) {
                    log.warn("front end {} sent record type {}", peerPid(), record[0]);
                    continue;
                }
                int len = 1;
                while (len < 8 && record[len] != 0) len++;
                String name = new String(record, 1, len - 1, StandardCharsets.US_ASCII);
                Consumer<String> l = listener;
                if (l != null) l.accept(name);
            }
        } catch (ErrnoException e) {
            frontEndLost();
        }
    }

    @Override
    public void subscribe(Consumer<String> listener) {
        this.listener = listener;
    }

    @Override
    public void unsubscribe() {
        this.listener = null;
    }

    @Override
    public void stopRequested() {
        reply(STOP, 0);
    }

    private void reply(byte type, int value) {
        byte[] r = {type, 0, 0, 0, (byte) (value >>> 24), (byte) (value >>> 16), (byte) (value >>> 8), (byte) value};
        synchronized (writeLock) {
            try {
                UnixRights.send(sock, r, new int[0]);
            } catch (ErrnoException e) {
                log.debug("reply {} to front end: {}", (char) type, e.getMessage());
            }
        }
    }

    private static void say(int fd, String line) {
        try {
            Terminal.writeFully(fd, (line + "\n").getBytes(StandardCharsets.UTF_8));
        } catch (ErrnoException e) {
            log.debug("stderr: {}", e.getMessage());
        }
    }

    private int peerPid() {
        try {
            return UnixRights.peer(sock).pid();
        } catch (ErrnoException e) {
            return -1;
        }
    }
}
