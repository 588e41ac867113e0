package io.tether.daemon.tracer.hostexec;

import com.sun.jna.Native;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.posix.LibC;
import io.tether.daemon.tracer.nativ.PtraceNative;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a stopped tracee would carry across an exec, taken for its host process: its fds without
 * close-on-exec, duplicated into the daemon with pidfd_getfd (Linux 5.6: the same open file
 * descriptions, so offsets, pipes and sockets are shared, not reopened), and its umask.
 */
public final class TraceeFds {
    /** Unified syscall numbers (the same on every architecture since 424). */
    private static final int SYS_PIDFD_OPEN = 434, SYS_PIDFD_GETFD = 438;
    private static final int O_CLOEXEC = 02000000;

    private TraceeFds() {}

    private static long syscall(long number, long a1, long a2, long a3) {
        return PtraceNative.syscall(number, a1, a2, a3);
    }

    /**
     * Duplicates every fd of process {@code tgid} that survives exec; returns its number in the tracee
     * -> the daemon's copy (close-on-exec in the daemon). The caller owns the copies.
     */
    public static Map<Integer, Integer> inheritedFds(int tgid) throws ErrnoException {
        int pidfd = (int) syscall(SYS_PIDFD_OPEN, tgid, 0, 0);
        if (pidfd < 0) throw new ErrnoException(Native.getLastError(), "pidfd_open", "pid " + tgid);
        Map<Integer, Integer> fds = new TreeMap<>();
        try (DirectoryStream<Path> dir = Files.newDirectoryStream(Path.of("/proc/" + tgid + "/fd"))) {
            for (Path p : dir) {
                int fd = Integer.parseInt(p.getFileName().toString());
                if (closeOnExec(tgid, fd)) continue;
                int copy = (int) syscall(SYS_PIDFD_GETFD, pidfd, fd, 0);
                if (copy >= 0) {
                    fds.put(fd, copy);
                } else if (Native.getLastError() != Errno.EBADF) { // EBADF: closed meanwhile (another thread)
                    int errno = Native.getLastError();
                    for (int c : fds.values()) LibC.closeQuietly(c);
                    throw new ErrnoException(errno, "pidfd_getfd", "pid " + tgid + " fd " + fd);
                }
            }
        } catch (IOException | RuntimeException e) {
            for (int c : fds.values()) LibC.closeQuietly(c);
            throw new ErrnoException(Errno.ESRCH, "list fds", "pid " + tgid + ": " + e.getMessage());
        } finally {
            LibC.closeQuietly(pidfd);
        }
        return fds;
    }

    /** The process's umask (from /proc/PID/status, Linux 4.7), or 022 if unknown. */
    public static int umask(int tgid) {
        return io.tether.daemon.tracer.ProcStatus.field(tgid, "Umask", 8, 022);
    }

    /** tgkill(2) from the daemon, by this machine's syscall number; false if the thread is gone. */
    public static boolean tgkill(long tgkillNr, int tgid, int tid, int signo) {
        return syscall(tgkillNr, tgid, tid, signo) == 0;
    }

    private static boolean closeOnExec(int tgid, int fd) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + tgid + "/fdinfo/" + fd))) {
                if (line.startsWith("flags:")) return (Integer.parseInt(line.substring(6).trim(), 8) & O_CLOEXEC) != 0;
            }
        } catch (IOException | RuntimeException e) {
            // closed meanwhile: nothing to take
        }
        return true;
    }
}
