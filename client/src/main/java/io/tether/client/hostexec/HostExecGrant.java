package io.tether.client.hostexec;

import io.tether.client.files.FileExport;
import io.tether.daemon.tracer.hostexec.ElfMachine;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.List;

/**
 * The client's own check of a host exec the daemon asks for: host execution is opt-in, and the daemon
 * is not trusted to decide alone what runs on this machine. A program runs only if its canonical guest
 * path lies inside one of the run's exports (the rootfs, a bind) by a path without "..", "." or
 * symlinked directories on the host, and either matches one of this run's {@code --host-exec} globs or
 * is an ELF of this host's machine while the target's machine differs. Everything else: EACCES.
 */
final class HostExecGrant {
    private final List<FileExport> exports;
    private final List<String> globs;
    private final List<PathMatcher> matchers = new ArrayList<>();
    private final int hostMachine;
    private final int targetMachine;

    /** What to run: the program's and the cwd's host paths, and why it is allowed (for the log). */
    record Granted(Path hostProgram, Path hostCwd, String why) {}

    HostExecGrant(List<FileExport> exports, List<String> globs, int hostMachine, int targetMachine) {
        this.exports = List.copyOf(exports);
        this.globs = List.copyOf(globs);
        for (String g : globs) matchers.add(FileSystems.getDefault().getPathMatcher("glob:" + g));
        this.hostMachine = hostMachine;
        this.targetMachine = targetMachine;
    }

    /**
     * @throws ErrnoException EACCES (not allowed), ENOENT (the program or the cwd is not on the host)
     */
    Granted check(String guestPath, String canonicalGuestPath, String guestCwd) throws ErrnoException {
        Path hostProgram = hostPathOf(canonicalGuestPath);
        if (hostProgram == null) throw new ErrnoException(Errno.EACCES, "host exec " + guestPath, "not inside the rootfs or a bind");
        String why = null;
        for (int i = 0; i < matchers.size() && why == null; i++) {
            for (String p : new String[] {guestPath, canonicalGuestPath}) {
                if (p.startsWith("/") && matchers.get(i).matches(Path.of(p))) {
                    why = "matches --host-exec " + globs.get(i);
                    break;
                }
            }
        }
        if (why == null && hostMachine != ElfMachine.NONE && hostMachine != targetMachine && elfMachine(hostProgram) == hostMachine) {
            why = "an ELF of this host's machine (" + hostMachine + ")";
        }
        if (why == null) throw new ErrnoException(Errno.EACCES, "host exec " + guestPath, "outside this run's --host-exec globs");
        if (!Files.exists(hostProgram)) throw new ErrnoException(Errno.ENOENT, "host exec", hostProgram.toString());
        Path hostCwd = hostPathOf(guestCwd);
        if (hostCwd == null || !Files.isDirectory(hostCwd)) {
            throw new ErrnoException(Errno.ENOENT, "host exec cwd", guestCwd + (hostCwd == null ? "" : " (" + hostCwd + ")"));
        }
        return new Granted(hostProgram, hostCwd, why);
    }

    /**
     * The host path of a canonical guest path through the export that holds it (the longest guest
     * path), or null if it names no export or its relative part is not plain ("..", ".", a symlinked
     * directory on the host, which could lead outside the export). A final symlink is the host's to follow.
     */
    Path hostPathOf(String guestPath) {
        if (guestPath == null || !guestPath.startsWith("/")) return null;
        FileExport best = null;
        for (FileExport e : exports) {
            String g = e.guestPath();
            boolean holds = g.equals("/") || guestPath.equals(g) || guestPath.startsWith(g + "/");
            if (holds && (best == null || g.length() > best.guestPath().length())) best = e;
        }
        if (best == null) return null;
        String rel = best.guestPath().equals("/") ? guestPath.substring(1)
                : guestPath.length() == best.guestPath().length() ? "" : guestPath.substring(best.guestPath().length() + 1);
        Path at = best.hostPath();
        String[] parts = rel.isEmpty() ? new String[0] : rel.split("/", -1);
        for (int i = 0; i < parts.length; i++) {
            String c = parts[i];
            if (c.isEmpty() || c.equals(".") || c.equals("..")) return null;
            at = at.resolve(c);
            if (i < parts.length - 1 && Files.isSymbolicLink(at)) return null;
        }
        return at;
    }

    private static int elfMachine(Path hostProgram) {
        byte[] head = new byte[64];
        try (InputStream in = Files.newInputStream(hostProgram)) {
            int n = in.readNBytes(head, 0, head.length);
            return ElfMachine.of(java.util.Arrays.copyOf(head, n));
        } catch (IOException | RuntimeException e) {
            return ElfMachine.NONE;
        }
    }
}
