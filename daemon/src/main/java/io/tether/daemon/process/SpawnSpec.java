package io.tether.daemon.process;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What to launch and how: {@code program} is the resolved file to execute (see
 * {@link ProgramPath}), {@code argv} its argument vector, {@code env} the complete
 * environment ("NAME=VALUE"), {@code cwd} a target path (null: the daemon's own), and
 * {@code fds} maps each child fd number to a daemon fd that the child gets a copy of. With
 * a {@code pty}, fds 0-2 are its slave unless {@code fds} names them. Fds 0-2 named nowhere
 * are /dev/null; nothing else of the daemon reaches the child.
 */
public record SpawnSpec(String program, List<String> argv, List<String> env, String cwd, int umask,
                        Map<Integer, Integer> fds, Pty pty) {
    public SpawnSpec {
        if (argv.isEmpty()) throw new IllegalArgumentException("empty argv");
        argv = List.copyOf(argv);
        env = List.copyOf(env);
        fds = new TreeMap<>(fds);
        for (var e : fds.entrySet()) {
            if (e.getKey() < 0 || e.getValue() < 0) throw new IllegalArgumentException("bad fd mapping " + e);
        }
    }

    public static SpawnSpec of(String program, List<String> argv, List<String> env, String cwd) {
        return new SpawnSpec(program, argv, env, cwd, 022, Map.of(), null);
    }

    public SpawnSpec withUmask(int mask) {
        return new SpawnSpec(program, argv, env, cwd, mask, fds, pty);
    }

    public SpawnSpec withFds(Map<Integer, Integer> childToDaemonFd) {
        return new SpawnSpec(program, argv, env, cwd, umask, childToDaemonFd, pty);
    }

    public SpawnSpec withPty(Pty newPty) {
        return new SpawnSpec(program, argv, env, cwd, umask, fds, newPty);
    }
}
