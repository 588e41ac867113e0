package io.tether.client;

import io.tether.client.connect.Connection;
import io.tether.client.connect.LocalConnection;
import io.tether.client.connect.SshConnection;
import io.tether.client.connect.StdioCommandConnection;
import io.tether.client.control.AgentProcess;
import io.tether.client.control.ControlClient;
import io.tether.client.control.ControlPaths;
import io.tether.client.targets.Target;
import io.tether.protocol.mux.MuxConfig;
import org.slf4j.LoggerFactory;

/** Picks the way to a target: in-process, direct, or through a control agent. */
public final class Connector {
    /** {@code --control}: reuse a warm connection through an agent, or connect directly. */
    public enum ControlMode { AUTO, NO }

    private Connector() {}

    public static MuxConfig clientConfig() {
        return MuxConfig.defaults(Version.AGENT);
    }

    /** A connection for one front end; local targets never use an agent. */
    public static Connection connect(Target target, ControlMode mode, String agentLogLevel) throws TetherException {
        if (target.kind() == Target.Kind.LOCAL || mode == ControlMode.NO) return direct(target, clientConfig());
        ControlPaths paths = ControlPaths.of(ControlPaths.defaultDir(System.getenv()), target);
        try {
            paths.prepare();
        } catch (TetherException e) {
            // As ssh does when it cannot set up a ControlMaster socket: go on without one.
            LoggerFactory.getLogger(Connector.class).warn("no connection reuse: {}", e.getMessage());
            return direct(target, clientConfig());
        }
        return ControlClient.connectOrStart(target, paths, new AgentProcess(agentLogLevel), clientConfig());
    }

    /** Connects straight to the target (what an agent holds upstream). */
    public static Connection direct(Target target, MuxConfig config) throws TetherException {
        return switch (target.kind()) {
            case LOCAL -> LocalConnection.open(config);
            case SSH -> SshConnection.open(target, config);
            case STDIO -> StdioCommandConnection.open(target.stdioCommand(), config);
        };
    }
}
