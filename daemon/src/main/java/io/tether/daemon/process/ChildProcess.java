package io.tether.daemon.process;

import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.posix.LibC;
import io.tether.posix.WaitStatus;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;

/** A spawned child: leader of its own session and process group (pgid == pid). */
public final class ChildProcess {
    private final int pid;
    private final CompletableFuture<WaitStatus> exit;

    ChildProcess(int pid, CompletableFuture<WaitStatus> exit) {
        this.pid = pid;
        this.exit = exit;
    }

    public int pid() { return pid; }

    /** The process group id, which is the pid: every child is spawned with setsid. */
    public int pgid() { return pid; }

    /** Completes with the child's final wait status. */
    public CompletableFuture<WaitStatus> exit() { return exit; }

    public boolean isAlive() { return !exit.isDone(); }

    /** Sends {@code signo} to the child's whole process group; false if the group is gone (ESRCH). */
    public boolean signalGroup(int signo) throws ErrnoException {
        try {
            LibC.kill(-pid, signo);
            return true;
        } catch (ErrnoException e) {
            if (e.errno() == Errno.ESRCH) return false;
            throw e;
        }
    }

    /**
     * Sends {@code signo} to every process of the child's session: its process group, plus
     * members that moved to another group (a shell's jobs) found in /proc. Returns how many
     * processes outside the group were signalled.
     */
    public int signalSession(int signo) {
        try {
            signalGroup(signo);
        } catch (ErrnoException e) {
            // keep going: the scan below may still find members
        }
        int others = 0;
        try (DirectoryStream<Path> proc = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
            for (Path p : proc) {
                try {
                    String stat = Files.readString(p.resolve("stat"));
                    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    // fields after the name: state ppid pgrp session
                    if (Integer.parseInt(f[3]) == pid && Integer.parseInt(f[2]) != pid) {
                        LibC.kill(Integer.parseInt(p.getFileName().toString()), signo);
                        others++;
                    }
                } catch (IOException | RuntimeException ignored) {
                    // raced with an exit
                }
            }
        } catch (IOException ignored) {
            // no /proc: the group signal is all we can do
        }
        return others;
    }

    /** Sends {@code signo} to the child alone, unless it was already reaped. */
    public boolean signal(int signo) throws ErrnoException {
        if (exit.isDone()) return false;
        try {
            LibC.kill(pid, signo);
            return true;
        } catch (ErrnoException e) {
            if (e.errno() == Errno.ESRCH) return false;
            throw e;
        }
    }

    @Override
    public String toString() {
        return "pid " + pid;
    }
}
