package io.tether.daemon.tracer.hostexec;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * One program a tracee execs that must run on the host, as the execve asked for it.
 *
 * @param guestPath          the program as the tracee named it, made absolute (for logs)
 * @param canonicalGuestPath the same with its directories' symlinks resolved (not a final one): the
 *                           executor maps this to a host path (through the view, or the client's exports)
 * @param argv               argv of the execve
 * @param env                envp of the execve ("NAME=VALUE")
 * @param guestCwd           the tracee's cwd, a canonical guest path
 * @param umask              the tracee's umask
 * @param fds                program fd -> daemon fd: every fd the tracee keeps across exec (no
 *                           close-on-exec), duplicated into the daemon. The executor owns these daemon
 *                           fds from {@link HostExecutor#start} on and closes them, whatever happens.
 */
public record HostCommand(String guestPath, String canonicalGuestPath, List<String> argv, List<String> env,
                          String guestCwd, int umask, Map<Integer, Integer> fds) {
    public HostCommand {
        argv = List.copyOf(argv);
        env = List.copyOf(env);
        fds = java.util.Collections.unmodifiableMap(new TreeMap<>(fds));
    }

    public HostCommand withFds(Map<Integer, Integer> programToDaemonFd, int newUmask) {
        return new HostCommand(guestPath, canonicalGuestPath, argv, env, guestCwd, newUmask, programToDaemonFd);
    }
}
