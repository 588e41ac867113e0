package io.tether.client.cli;

import io.tether.client.TetherException;
import io.tether.client.binfmt.BinfmtArch;
import io.tether.client.binfmt.BinfmtRegistry;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code tether binfmt install|remove|status}: CPU transparency on the host (the Scratchbox flow). A binfmt_misc
 * handler for the target's ELF machine makes every such program executed on this host a {@code tether run --map-cmd}
 * of it, with the options given at install time (io.tether.client.binfmt).
 */
@Command(name = "binfmt", mixinStandardHelpOptions = true, sortOptions = false, usageHelpWidth = 100,
        versionProvider = io.tether.client.Tether.VersionProvider.class,
        subcommands = {BinfmtCommand.Install.class, BinfmtCommand.Remove.class, BinfmtCommand.Status.class},
        description = {"Runs programs of the target's CPU executed on this host on the target (binfmt_misc).",
                "A handler of the kernel hands each to tether run; installing one needs root (or root of a",
                "user namespace that mounted its own binfmt_misc, Linux 6.7+)."},
        footer = {"",
                "Example (Scratchbox style: the build directory bound at the same path):",
                "  tether binfmt install --arch aarch64 -t board -r /srv/rootfs-arm64 -b $HOME/src",
                "  cd $HOME/src/prog && ./configure --host=aarch64-linux-gnu && make check   # conftests run on board",
                "",
                "The handler runs, as the user who executed the program:",
                "  tether run --map-cmd -t TARGET -r ROOTFS [options given to install] -- PROGRAM ARG...",
                "PROGRAM (the host path as executed) and the working directory must lie inside ROOTFS or a",
                "bind; they map to their guest paths (a bind -b DIR shows DIR at the same path). argv[0] is",
                "PROGRAM's guest path. Stdio, extra fds, the terminal, signals and the exit status are",
                "those of tether run. The handler's script goes to DIR/tether-ARCH (--dir, default",
                "/etc/tether/binfmt); `tether binfmt remove` unregisters it and deletes it."})
public final class BinfmtCommand implements Callable<Integer> {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return io.tether.client.Tether.EXIT_FAILURE;
    }

    /** Where the handlers live: the binfmt_misc instance and the scripts' directory (every subcommand's options). */
    static final class Places {
        @Option(names = "--binfmt-misc", paramLabel = "DIR", description = "the binfmt_misc mount (default /proc/sys/fs/binfmt_misc)")
        Path proc = BinfmtRegistry.DEFAULT_PROC;

        @Option(names = "--dir", paramLabel = "DIR", description = "where handler scripts live (default /etc/tether/binfmt)")
        Path dir = BinfmtRegistry.DEFAULT_DIR;

        BinfmtRegistry registry() {
            return new BinfmtRegistry(proc.toAbsolutePath(), dir.toAbsolutePath());
        }
    }

    /** {@code tether binfmt install}. */
    @Command(name = "install", mixinStandardHelpOptions = true, sortOptions = false, usageHelpWidth = 100,
            versionProvider = io.tether.client.Tether.VersionProvider.class,
            description = {"Registers (or replaces) the handler for ARCH programs: each one executed on this host",
                    "then runs on TARGET in ROOTFS. Relative paths are taken from this directory now."})
    static final class Install implements Callable<Integer> {
        @picocli.CommandLine.Mixin
        Places places = new Places();

        @Option(names = "--arch", required = true, paramLabel = "ARCH", description = "aarch64 (arm64), arm (armhf), riscv64")
        String arch;

        @Option(names = {"-t", "--target"}, required = true, paramLabel = "TARGET",
                description = "as for tether run; local needs -q (else the handler would run itself)")
        String target;

        @Option(names = {"-r", "--rootfs"}, required = true, paramLabel = "ROOTFS", description = "the guest's / on this host")
        String rootfs;

        @Option(names = {"-b", "--bind"}, paramLabel = "HOST[:GUEST]", description = "as for tether run; repeatable")
        List<String> binds = new ArrayList<>();

        @Option(names = {"-q", "--qemu"}, paramLabel = "QEMU", description = "as for tether run: the target runs ARCH programs under this qemu-user")
        String qemu;

        @Option(names = "--no-default-binds", description = "as for tether run")
        boolean noDefaultBinds;

        @Option(names = {"-e", "--env"}, paramLabel = "NAME=VALUE", description = "as for tether run; repeatable")
        List<String> env = new ArrayList<>();

        @Option(names = {"-i", "--identity"}, paramLabel = "KEYFILE", description = "as for tether run")
        String identity;

        @Option(names = "--known-hosts", paramLabel = "FILE", description = "as for tether run")
        String knownHosts;

        @Override
        public Integer call() throws TetherException {
            BinfmtArch a = BinfmtArch.of(arch);
            if (target.equals("local") && qemu == null) {
                throw new TetherException("-t local runs " + a.name() + " programs on this kernel, which would hand them to "
                        + "the handler again: give -q QEMU too, or a device's target");
            }
            String base = System.getProperty("user.dir");
            Path root = Path.of(base).resolve(rootfs).normalize();
            if (!Files.isDirectory(root)) throw new TetherException("-r " + rootfs + ": no such directory (ENOENT)");
            List<String> run = new ArrayList<>(List.of(tetherLauncher(), "run", "--map-cmd", "-t", target, "-r", root.toString()));
            for (String b : binds) {
                int colon = b.indexOf(':');
                String host = colon < 0 ? b : b.substring(0, colon);
                if (host.isEmpty()) throw new TetherException("bad bind '" + b + "': want HOST[:GUEST]");
                run.addAll(List.of("-b", Path.of(base).resolve(host).normalize() + (colon < 0 ? "" : b.substring(colon))));
            }
            if (qemu != null) run.addAll(List.of("-q", qemu));
            if (noDefaultBinds) run.add("--no-default-binds");
            for (String e : env) run.addAll(List.of("-e", e));
            if (identity != null) run.addAll(List.of("-i", Path.of(base).resolve(identity).normalize().toString()));
            if (knownHosts != null) run.addAll(List.of("--known-hosts", Path.of(base).resolve(knownHosts).normalize().toString()));
            BinfmtRegistry registry = places.registry();
            for (String w : registry.install(a, run)) System.err.println("tether: warning: " + w);
            System.out.println("registered " + a.entryName() + ": " + a.name() + " programs run on " + target
                    + " (handler " + registry.launcher(a) + ")");
            return 0;
        }

        /** bin/tether of this installation (its launcher sets tether.home), which the handler runs. */
        private static String tetherLauncher() throws TetherException {
            String home = System.getProperty("tether.home");
            if (home == null) throw new TetherException("tether.home is not set: run this through bin/tether");
            return Path.of(home, "bin", "tether").toString();
        }
    }

    /** {@code tether binfmt remove}. */
    @Command(name = "remove", mixinStandardHelpOptions = true, versionProvider = io.tether.client.Tether.VersionProvider.class,
            description = "Unregisters the handler for ARCH programs and deletes its script.")
    static final class Remove implements Callable<Integer> {
        @picocli.CommandLine.Mixin
        Places places = new Places();

        @Option(names = "--arch", required = true, paramLabel = "ARCH", description = "aarch64 (arm64), arm (armhf), riscv64")
        String arch;

        @Override
        public Integer call() throws TetherException {
            BinfmtArch a = BinfmtArch.of(arch);
            if (!places.registry().remove(a)) throw new TetherException("no handler " + a.entryName() + " is installed");
            System.out.println("removed " + a.entryName());
            return 0;
        }
    }

    /** {@code tether binfmt status}. */
    @Command(name = "status", mixinStandardHelpOptions = true, versionProvider = io.tether.client.Tether.VersionProvider.class,
            description = "Shows Tether's registered handlers and what each runs.")
    static final class Status implements Callable<Integer> {
        @picocli.CommandLine.Mixin
        Places places = new Places();

        @Override
        public Integer call() throws TetherException {
            List<String> handlers = places.registry().status();
            if (handlers.isEmpty()) System.out.println("no tether handler registered in " + places.proc);
            handlers.forEach(System.out::print);
            return 0;
        }
    }
}
