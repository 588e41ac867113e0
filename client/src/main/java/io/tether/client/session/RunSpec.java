package io.tether.client.session;

import io.tether.protocol.proto.GuestSpec;

import java.util.List;

/**
 * What to run on the target and how: the complete request a {@link ClientSession} turns
 * into a RunRequest. The CLI decides the environment policy; this carries the result.
 *
 * @param argv        the command and its arguments; argv[0] is looked up on the target's PATH
 * @param env         NAME=VALUE, the complete environment of the remote process
 * @param cwd         targetPath of the working directory; null or empty: the daemon's choice
 * @param cwdRequired true (an explicit -w): a missing cwd fails the session instead of falling back
 * @param umask       the umask of the remote process
 * @param tty         whether to allocate a pty on the target
 * @param extraFds    inherited local descriptors beyond 0-2 to forward under the same numbers
 * @param guest       run under the daemon's tracer in this guest (then {@code cwd} is a guest path), or null
 * @param program     the program to execute when it is not argv[0] ({@code --argv0}), or null
 */
public record RunSpec(List<String> argv, List<String> env, String cwd, boolean cwdRequired, int umask,
                      TtyMode tty, List<Integer> extraFds, Guest guest, String program) {

    /**
     * The file tree of a traced command ({@code -r ROOT -b HOST[:GUEST] --no-default-binds}); ROOT and
     * the HOST sides are absolute paths: the target's own for target local, this host's (served over the
     * files stream, see ClientSession.run with a FileServer) for any other target. {@code qemu} ({@code -q}): the target's qemu-user and its
     * options, which run programs of another architecture (empty: none). {@code hostExec}
     * ({@code --host-exec}): guest path globs of the programs that run on the host (empty: none).
     */
    public record Guest(String root, List<String> binds, boolean noDefaultBinds, List<String> qemu, List<String> hostExec) {
        public Guest {
            binds = List.copyOf(binds);
            qemu = qemu == null ? List.of() : List.copyOf(qemu);
            hostExec = hostExec == null ? List.of() : List.copyOf(hostExec);
        }

        public Guest(String root, List<String> binds, boolean noDefaultBinds, List<String> qemu) {
            this(root, binds, noDefaultBinds, qemu, List.of());
        }

        public Guest(String root, List<String> binds, boolean noDefaultBinds) {
            this(root, binds, noDefaultBinds, List.of());
        }

        GuestSpec toProto() {
            return GuestSpec.newBuilder().setRoot(root).addAllBinds(binds).setNoDefaultBinds(noDefaultBinds).addAllQemu(qemu).addAllHostExec(hostExec).build();
        }
    }

    /** When to allocate a pty on the target, as ssh decides. */
    public enum TtyMode {
        /** A pty iff our stdin is a terminal. */
        AUTO,
        /** Always a pty (ssh -t); raw mode locally only if stdin is a terminal. */
        FORCE,
        /** Never a pty (ssh -T): plain pipes for 0, 1 and 2. */
        NEVER
    }

    public RunSpec {
        argv = List.copyOf(argv);
        env = List.copyOf(env);
        extraFds = extraFds == null ? List.of() : List.copyOf(extraFds);
        if (tty == null) tty = TtyMode.AUTO;
        if (argv.isEmpty()) throw new IllegalArgumentException("no command to run");
        if (program != null && program.isEmpty()) program = null;
    }

    /** A spec whose program is argv[0]. */
    public RunSpec(List<String> argv, List<String> env, String cwd, boolean cwdRequired, int umask,
                   TtyMode tty, List<Integer> extraFds, Guest guest) {
        this(argv, env, cwd, cwdRequired, umask, tty, extraFds, guest, null);
    }

    /** A spec without a guest: the command runs on the target as it is. */
    public RunSpec(List<String> argv, List<String> env, String cwd, boolean cwdRequired, int umask,
                   TtyMode tty, List<Integer> extraFds) {
        this(argv, env, cwd, cwdRequired, umask, tty, extraFds, null);
    }

    /** This spec run in {@code g} (null: none). */
    public RunSpec withGuest(Guest g) {
        return new RunSpec(argv, env, cwd, cwdRequired, umask, tty, extraFds, g, program);
    }

    /** This spec with another command line. */
    public RunSpec withArgv(List<String> newArgv) {
        return new RunSpec(newArgv, env, cwd, cwdRequired, umask, tty, extraFds, guest, program);
    }

    /** This spec executing {@code newProgram} (null: argv[0]) with its argv unchanged. */
    public RunSpec withProgram(String newProgram) {
        return new RunSpec(argv, env, cwd, cwdRequired, umask, tty, extraFds, guest, newProgram);
    }

    /** The program to execute: {@link #program} if set, else argv[0]. */
    public String executable() {
        return program != null ? program : argv.get(0);
    }

    /** A spec with defaults: the daemon's cwd, umask 022, tty AUTO, no extra fds. */
    public static RunSpec of(List<String> argv, List<String> env) {
        return new RunSpec(argv, env, null, false, 022, TtyMode.AUTO, List.of());
    }
}
