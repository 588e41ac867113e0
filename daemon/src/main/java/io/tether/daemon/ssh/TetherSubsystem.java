package io.tether.daemon.ssh;

import io.tether.daemon.session.DaemonCore;
import io.tether.protocol.mux.Mux;
import io.tether.protocol.transport.Transport;
import org.apache.sshd.server.Environment;
import org.apache.sshd.server.ExitCallback;
import org.apache.sshd.server.channel.ChannelSession;
import org.apache.sshd.server.command.Command;
import org.apache.sshd.server.subsystem.SubsystemFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * The "tether" SSH subsystem: the channel's streams become a {@link Transport} served by
 * {@link DaemonCore}. The channel and the mux end together: when the mux terminates the
 * channel is closed; when the channel or its SSH session closes, the transport is closed,
 * the mux terminates and the connection's processes are killed.
 */
final class TetherSubsystem implements Command {
    static final String NAME = "tether";
    private static final Logger log = LoggerFactory.getLogger(TetherSubsystem.class);

    private final DaemonCore core;
    private InputStream in;
    private OutputStream out;
    private ExitCallback exit;
    private volatile Transport transport;

    private TetherSubsystem(DaemonCore core) {
        this.core = core;
    }

    static SubsystemFactory factory(DaemonCore core) {
        return new SubsystemFactory() {
            @Override
            public String getName() {
                return NAME;
            }

            @Override
            public Command createSubsystem(ChannelSession channel) {
                return new TetherSubsystem(core);
            }
        };
    }

    @Override public void setInputStream(InputStream in) { this.in = in; }
    @Override public void setOutputStream(OutputStream out) { this.out = out; }
    @Override public void setErrorStream(OutputStream err) { /* the protocol has no side channel */ }
    @Override public void setExitCallback(ExitCallback callback) { this.exit = callback; }

    @Override
    public void start(ChannelSession channel, Environment env) throws IOException {
        var session = channel.getSession();
        String peer = "ssh://" + session.getUsername() + "@" + session.getClientAddress();
        transport = Transport.of(in, out, peer, null);
        Mux mux = core.serve(transport);
        log.info("{}: tether channel open", peer);
        mux.terminated().whenComplete((v, e) -> {
            log.info("{}: tether channel closed{}", peer, e == null ? "" : ": " + e.getMessage());
            exit.onExit(e == null ? 0 : 1, e == null ? "" : String.valueOf(e.getMessage()));
        });
    }

    @Override
    public void destroy(ChannelSession channel) {
        Transport t = transport;
        if (t == null) return;
        try {
            t.close(); // unblocks the mux reader: the mux terminates and kills this connection's sessions
        } catch (IOException e) {
            log.debug("closing tether channel: {}", e.getMessage());
        }
    }
}
