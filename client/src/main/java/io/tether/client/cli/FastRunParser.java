package io.tether.client.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * The start-up fast path of {@code tether run}: picocli's reflective model costs a build that
 * runs hundreds of commands ~0.1 s per run (its classes are Java 5 bytecode, which AppCDS cannot
 * archive). This parser fills a {@link RunCommand} for the ordinary spellings of its options and
 * returns null for anything else (help, version, clustered or unknown options, bad values), which
 * picocli then parses and reports. RunCommandTest checks both parsers agree.
 */
public final class FastRunParser {
    private static final Set<String> FLAGS = Set.of("--tty", "-T", "--no-tty", "--accept-new-host-key", "--no-default-binds",
            "--map-cmd");
    private static final Set<String> VALUED = Set.of("-t", "--target", "-w", "--workdir", "-e", "--env", "-i", "--identity",
            "--known-hosts", "--stdio-command", "--control", "--control-persist", "--log-level", "-r", "--rootfs", "-b", "--bind", "-q", "--qemu",
            "--host-exec", "--argv0");

    private FastRunParser() {}

    /** A RunCommand for {@code args}, or null if picocli must handle them. */
    public static RunCommand parse(String[] args) {
        if (args.length < 2 || !args[0].equals("run")) return null;
        RunCommand c = new RunCommand();
        Set<String> seen = new java.util.HashSet<>();
        int i = 1;
        while (i < args.length) {
            String a = args[i];
            if (a.equals("--")) {
                i++;
                break;
            }
            if (!a.startsWith("-") || a.equals("-")) break; // CMD: the rest is the remote command line
            String name = a;
            String value = null;
            int eq = a.indexOf('=');
            if (a.startsWith("--") && eq > 0) {
                name = a.substring(0, eq);
                value = a.substring(eq + 1);
            }
            // picocli refuses a repeated option (except -e, -b and --host-exec): let it say so.
            boolean repeatable = canonical(name).equals("-e") || canonical(name).equals("-b") || name.equals("--host-exec");
            if (!repeatable && !seen.add(canonical(name))) return null;
            if (FLAGS.contains(name)) {
                if (value != null) return null;
                switch (name) {
                    case "--tty" -> c.forceTty = true;
                    case "-T", "--no-tty" -> c.noTty = true;
                    case "--no-default-binds" -> c.guest.noDefaultBinds = true;
                    case "--map-cmd" -> c.guest.mapCmd = true;
                    default -> c.acceptNewHostKey = true;
                }
                i++;
                continue;
            }
            if (!VALUED.contains(name)) return null;
            if (value == null) {
                if (i + 1 >= args.length) return null;
                value = args[i + 1];
                if (value.startsWith("-") && !value.equals("-")) return null; // let picocli judge
                i += 2;
            } else {
                i++;
            }
            if (!set(c, name, value)) return null;
        }
        if (i >= args.length) return null; // no CMD: picocli reports it
        c.command = new ArrayList<>(Arrays.asList(args).subList(i, args.length));
        return c;
    }

    private static String canonical(String name) {
        return switch (name) {
            case "--target" -> "-t";
            case "--workdir" -> "-w";
            case "--env" -> "-e";
            case "--identity" -> "-i";
            case "--no-tty" -> "-T";
            case "--rootfs" -> "-r";
            case "--bind" -> "-b";
            case "--qemu" -> "-q";
            default -> name;
        };
    }

    private static boolean set(RunCommand c, String name, String value) {
        switch (name) {
            case "-t", "--target" -> c.target = value;
            case "-w", "--workdir" -> c.workdir = value;
            case "-e", "--env" -> c.env.add(value);
            case "-r", "--rootfs" -> c.guest.rootfs = value;
            case "-b", "--bind" -> c.guest.binds.add(value);
            case "-q", "--qemu" -> c.guest.qemu = value;
            case "--host-exec" -> c.guest.hostExec.add(value);
            case "-i", "--identity" -> c.identity = Path.of(value);
            case "--known-hosts" -> c.knownHosts = Path.of(value);
            case "--stdio-command" -> c.stdioCommand = value;
            case "--control" -> c.control = value;
            case "--log-level" -> c.logLevel = value;
            case "--argv0" -> c.argv0 = value;
            case "--control-persist" -> {
                try {
                    c.controlPersist = Integer.valueOf(value);
                } catch (NumberFormatException e) {
                    return false;
                }
            }
            default -> {
                return false;
            }
        }
        return true;
    }

    /** For tests: the parsed fields in one comparable list. */
    static List<Object> fields(RunCommand c) {
        return Arrays.asList(c.target, c.workdir, c.env, c.forceTty, c.noTty, c.identity, c.knownHosts, c.acceptNewHostKey,
                c.stdioCommand, c.control, c.controlPersist, c.logLevel, c.command, c.guest.rootfs, c.guest.binds,
                c.guest.noDefaultBinds, c.guest.qemu, c.guest.hostExec, c.guest.mapCmd, c.argv0);
    }
}
