package io.tether.client.cli;

import io.tether.client.Connector;
import io.tether.client.TetherException;
import io.tether.client.connect.Connection;
import io.tether.client.control.AgentProcess;
import io.tether.client.control.ControlAgent;
import io.tether.client.control.ControlPaths;
import io.tether.client.targets.Target;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code tether agent} (hidden): the control agent, started by a front end through
 * {@link AgentProcess}. It takes the target's lock (or reports BUSY), connects upstream
 * (or reports FAIL with the reason), binds the socket, reports READY, closes stdout and serves
 * until idle or the upstream is lost. Exit status: 0 idle, 1 upstream lost, 255 failure.
 */
@Command(name = "agent", hidden = true, description = "control agent (started by tether run; not for direct use)")
public final class AgentCommand implements Callable<Integer> {
    @Option(names = "--control-dir", required = true) Path controlDir;
    @Option(names = "--control-key", required = true) String controlKey;
    @Option(names = "--kind", required = true) Target.Kind kind;
    @Option(names = "--name", required = true) String name;
    @Option(names = "--user") String user;
    @Option(names = "--host") String host;
    @Option(names = "--port") int port = Target.DEFAULT_PORT;
    @Option(names = "--identity") Path identity;
    @Option(names = "--known-hosts") Path knownHosts;
    @Option(names = "--accept-new-host-key") boolean acceptNewHostKey;
    @Option(names = "--stdio-command") String stdioCommand;
    @Option(names = "--control-persist") long controlPersist = Target.DEFAULT_CONTROL_PERSIST.toSeconds();
    @Option(names = "--log-level") String logLevel;

    /** Held for the agent's lifetime: an unreachable channel could be closed, dropping the lock. */
    private static FileLock heldLock;

    @Override
    public Integer call() {
        PrintStream status = System.out;
        // Nothing but the status line may reach the front end's pipe.
        System.setOut(System.err);
        Logger log = LoggerFactory.getLogger(AgentCommand.class);
        Target target = new Target(name, kind, user, host, port, identity, knownHosts, acceptNewHostKey, stdioCommand,
                Map.of(), Duration.ofSeconds(controlPersist));
        ControlPaths paths = new ControlPaths(controlDir, controlKey);
        FileLock lock;
        try {
            FileChannel ch = FileChannel.open(paths.lock(), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            lock = ch.tryLock();
        } catch (IOException e) {
            return report(status, AgentProcess.FAIL + "cannot lock " + paths.lock() + ": " + e.getMessage(), 255);
        }
        if (lock == null) return report(status, AgentProcess.BUSY, 0);
        heldLock = lock;
        log.info("agent {} for {} starting", ProcessHandle.current().pid(), target.describe());
        Connection upstream;
        try {
            upstream = Connector.direct(target, Connector.clientConfig());
        } catch (TetherException e) {
            log.warn("cannot connect to {}: {}", target.describe(), e.getMessage());
            return report(status, AgentProcess.FAIL + e.getMessage(), 255);
        }
        ControlAgent agent = new ControlAgent(upstream, paths.socket(), target.controlPersist());
        try {
            agent.start();
        } catch (IOException e) {
            upstream.close();
            return report(status, AgentProcess.FAIL + "cannot listen on " + paths.socket() + ": " + e.getMessage(), 255);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(agent::close, "agent-shutdown"));
        report(status, AgentProcess.READY, 0);
        ControlAgent.Outcome outcome = agent.ended().join();
        log.info("agent {} ends: {}", ProcessHandle.current().pid(), outcome);
        return outcome == ControlAgent.Outcome.UPSTREAM_LOST ? 1 : 0;
    }

    private static int report(PrintStream status, String line, int exit) {
        status.println(line.replace('\n', ' '));
        status.flush();
        status.close();
        return exit;
    }
}
