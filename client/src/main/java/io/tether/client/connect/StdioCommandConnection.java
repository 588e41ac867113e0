package io.tether.client.connect;

import io.tether.client.TetherException;
import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.transport.Transport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.concurrent.TimeUnit;

/**
 * A connection over the stdin/stdout of a command run with {@code /bin/sh -c}, typically
 * {@code ssh -T HOST /opt/tether/bin/tetherd --stdio}: how a stock OpenSSH server hosts the
 * daemon. The command's stderr goes to ours (ssh's own messages reach the user).
 */
public final class StdioCommandConnection implements Connection {
    private static final Logger log = LoggerFactory.getLogger(StdioCommandConnection.class);

    private final Process process;
    private final Mux mux;
    private final String description;

    private StdioCommandConnection(Process process, Mux mux, String description) {
        this.process = process;
        this.mux = mux;
        this.description = description;
    }

    public static StdioCommandConnection open(String command, MuxConfig config) throws TetherException {
        String where = "stdio command `" + command + "`";
        Process p;
        try {
            p = new ProcessBuilder("/bin/sh", "-c", command)
                    .redirectError(ProcessBuilder.Redirect.INHERIT)
                    .start();
        } catch (IOException e) {
            throw new TetherException("cannot start " + where + ": " + e.getMessage());
        }
        Transport transport = Transport.of(p.getInputStream(), p.getOutputStream(), where, () -> stop(p));
        Mux mux = Mux.start(transport, Mux.Role.CLIENT, config, null);
        try {
            mux.awaitReady();
        } catch (IOException e) {
            mux.close();
            String exit = "";
            try {
                if (p.waitFor(2, TimeUnit.SECONDS)) exit = " (it exited with status " + p.exitValue() + ")";
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
            }
            stop(p);
            throw new TetherException("no Tether hello from " + where + exit + ": " + SshConnection.oneLine(e)
                    + "; check that the command runs `tetherd --stdio` on the target");
        }
        log.debug("connected through {}", where);
        return new StdioCommandConnection(p, mux, where);
    }

    @Override public Mux mux() { return mux; }

    @Override public String describe() { return description; }

    @Override
    public void close() {
        mux.close();
        stop(process);
    }

    private static void stop(Process p) {
        // Closing its stdin ends a well-behaved `tetherd --stdio`; give it a moment before killing.
        try {
            p.getOutputStream().close();
        } catch (IOException ignored) {
            // already closed
        }
        try {
            if (!p.waitFor(500, TimeUnit.MILLISECONDS)) {
                p.destroy();
                if (!p.waitFor(1, TimeUnit.SECONDS)) p.destroyForcibly();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
        }
    }
}
