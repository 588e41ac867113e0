package io.tether.client;

import io.tether.client.cli.AgentCommand;
import io.tether.client.cli.BinfmtCommand;
import io.tether.client.cli.FastRunParser;
import io.tether.client.cli.FrontDoorCommand;
import io.tether.client.cli.LogLevels;
import io.tether.client.cli.PingCommand;
import io.tether.client.cli.RunCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;
import java.util.concurrent.Callable;

/**
 * {@code tether}: the host-side client. {@code tether run [options] [--] CMD [ARG...]} runs CMD
 * on a target and exits with its status (255 for Tether's own failures, with one line
 * {@code tether: ...} on stderr).
 */
@Command(name = "tether", mixinStandardHelpOptions = true, versionProvider = Tether.VersionProvider.class,
        subcommands = {RunCommand.class, BinfmtCommand.class, AgentCommand.class, FrontDoorCommand.class, PingCommand.class},
        description = "Runs commands on a target device over one multiplexed SSH connection.",
        footer = {"", "Run 'tether run --help' for targets, options, the environment policy and exit statuses;",
                "'tether binfmt --help' for running the target's programs from a host shell."})
public final class Tether implements Callable<Integer> {
    public static final int EXIT_FAILURE = 255;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        int status = execute(args);
        System.out.flush();
        System.err.flush();
        System.exit(status);
    }

    /** Runs the command line and returns the exit status (no System.exit: tests call this). */
    public static int execute(String[] args) {
        LogLevels.configure(args, args.length > 0 && (args[0].equals("agent") || args[0].equals("frontdoor")));
        RunCommand fast = FastRunParser.parse(args);
        return fast != null ? runFast(fast) : commandLine().execute(args);
    }

    /** A plain `tether run` without picocli's start-up cost; failures as the handler below reports them. */
    private static int runFast(RunCommand run) {
        try {
            return run.call();
        } catch (TetherException e) {
            System.err.println("tether: " + e.getMessage());
        } catch (RuntimeException e) {
            System.err.println("tether: internal error: " + e);
            org.slf4j.LoggerFactory.getLogger(Tether.class).debug("internal error", e);
        }
        System.err.flush();
        return EXIT_FAILURE;
    }

    static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Tether());
        cl.setStopAtPositional(true); // `tether run ls -la`: everything from CMD on is the remote command line
        cl.setExitCodeExceptionMapper(e -> EXIT_FAILURE);
        cl.setParameterExceptionHandler((ex, args) -> {
            CommandLine c = ex.getCommandLine();
            PrintWriter err = c.getErr();
            String name = c.getCommandSpec().qualifiedName();
            err.println("tether: " + ex.getMessage() + " (see '" + name + " --help')");
            err.flush();
            return EXIT_FAILURE;
        });
        cl.setExecutionExceptionHandler((ex, c, parseResult) -> {
            PrintWriter err = c.getErr();
            if (ex instanceof TetherException) {
                err.println("tether: " + ex.getMessage());
            } else {
                err.println("tether: internal error: " + ex);
                org.slf4j.LoggerFactory.getLogger(Tether.class).debug("internal error", ex);
            }
            err.flush();
            return EXIT_FAILURE;
        });
        return cl;
    }

    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return EXIT_FAILURE;
    }

    /** {@code tether --version}. */
    public static final class VersionProvider implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {Version.line()};
        }
    }
}
