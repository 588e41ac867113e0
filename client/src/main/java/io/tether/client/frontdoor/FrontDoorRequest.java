package io.tether.client.frontdoor;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * What a front end ({@code tether-fe}) tells the front door, in one message: its argv (without
 * the program name), environment, real working directory, umask, which of 0-2 are terminals,
 * its identity ({@link FrontDoorPaths#identity}: namespaces, root, credentials, limits, cgroup),
 * and the target fd number of each descriptor it passes alongside (SCM_RIGHTS,
 * in the same order).
 *
 * <p>Wire form (big-endian; see tether-fe.c): header {@code "TFD2" u32 length}, then the body:
 * {@code u32 nfds, i32 fd × nfds, u32 ttys, u32 umask, str cwd, str identity, u32 argc,
 * str × argc, u32 envc, str × envc}, where {@code str} is {@code u32 length} and UTF-8 bytes.
 */
public record FrontDoorRequest(List<Integer> targetFds, int ttys, int umask, String cwd, String identity,
                               List<String> args, List<String> env) {
    public static final byte[] MAGIC = {'T', 'F', 'D', '2'};
    public static final int HEADER = 8;
    /** A sane bound for argv plus environment (Linux allows ~2 MiB of both). */
    public static final int MAX_BODY = 8 << 20;
    public static final int STDIN_TTY = 1, STDOUT_TTY = 2, STDERR_TTY = 4;

    public FrontDoorRequest {
        targetFds = List.copyOf(targetFds);
        args = List.copyOf(args);
        env = List.copyOf(env);
    }

    /** The body length a header announces. */
    public static int bodyLength(byte[] header) {
        if (header.length != HEADER) throw new IllegalArgumentException("front door header is " + HEADER + " bytes");
        for (int i = 0; i < 4; i++) {
            if (header[i] != MAGIC[i]) throw new IllegalArgumentException("not a front door request (bad magic)");
        }
        int n = ByteBuffer.wrap(header, 4, 4).getInt();
        if (n < 0 || n > MAX_BODY) throw new IllegalArgumentException("front door request of " + n + " bytes");
        return n;
    }

    public static FrontDoorRequest decode(byte[] body) {
        ByteBuffer b = ByteBuffer.wrap(body);
        try {
            int nfds = count(b, 4);
            List<Integer> fds = new ArrayList<>(nfds);
            for (int i = 0; i < nfds; i++) fds.add(b.getInt());
            int ttys = b.getInt();
            int umask = b.getInt();
            String cwd = string(b);
            String ns = string(b);
            List<String> args = strings(b);
            List<String> env = strings(b);
            if (b.hasRemaining()) throw new IllegalArgumentException(b.remaining() + " bytes after the request");
            return new FrontDoorRequest(fds, ttys, umask, cwd, ns, args, env);
        } catch (BufferUnderflowException e) {
            throw new IllegalArgumentException("truncated front door request");
        }
    }

    /** Header and body, as a front end sends them (for tests and tools). */
    public byte[] encode() {
        List<byte[]> parts = new ArrayList<>();
        int size = 4 + 4 * targetFds.size() + 8;
        for (String s : strs()) {
            byte[] p = s.getBytes(StandardCharsets.UTF_8);
            parts.add(p);
            size += 4 + p.length;
        }
        size += 8;
        ByteBuffer b = ByteBuffer.allocate(HEADER + size);
        b.put(MAGIC).putInt(size).putInt(targetFds.size());
        targetFds.forEach(b::putInt);
        b.putInt(ttys).putInt(umask);
        int i = 0;
        put(b, parts.get(i++));
        put(b, parts.get(i++));
        b.putInt(args.size());
        for (int k = 0; k < args.size(); k++) put(b, parts.get(i++));
        b.putInt(env.size());
        for (int k = 0; k < env.size(); k++) put(b, parts.get(i++));
        return b.array();
    }

    private List<String> strs() {
        List<String> all = new ArrayList<>(List.of(cwd, identity));
        all.addAll(args);
        all.addAll(env);
        return all;
    }

    private static void put(ByteBuffer b, byte[] p) {
        b.putInt(p.length).put(p);
    }

    /** A count whose items take at least {@code min} bytes each: bounded by what is left. */
    private static int count(ByteBuffer b, int min) {
        int n = b.getInt();
        if (n < 0 || (long) n * min > b.remaining()) throw new IllegalArgumentException("bad count " + n + " in front door request");
        return n;
    }

    private static String string(ByteBuffer b) {
        int n = count(b, 1);
        String s = new String(b.array(), b.position(), n, StandardCharsets.UTF_8);
        b.position(b.position() + n);
        return s;
    }

    private static List<String> strings(ByteBuffer b) {
        int n = count(b, 4);
        List<String> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) out.add(string(b));
        return out;
    }
}
