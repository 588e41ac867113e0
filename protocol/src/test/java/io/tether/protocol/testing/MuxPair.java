package io.tether.protocol.testing;

import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.transport.BytePipe;
import io.tether.protocol.transport.Transport;

import java.io.IOException;

/** A client and a server mux joined by an in-memory duplex pipe, both ready. */
public final class MuxPair implements AutoCloseable {
    public final Mux client;
    public final Mux server;

    private MuxPair(Mux client, Mux server) {
        this.client = client;
        this.server = server;
    }

    public static MuxConfig config(String agent) {
        return MuxConfig.defaults(agent);
    }

    public static MuxPair start(MuxConfig config, Mux.Acceptor onServer, Mux.Acceptor onClient) throws IOException {
        return start(config, config, onServer, onClient, 256 * 1024);
    }

    public static MuxPair start(MuxConfig clientConfig, MuxConfig serverConfig, Mux.Acceptor onServer,
                                Mux.Acceptor onClient, int pipeCapacity) throws IOException {
        Transport[] t = BytePipe.duplex(pipeCapacity);
        Mux client = Mux.start(t[0], Mux.Role.CLIENT, clientConfig.withHelloTimeout(java.time.Duration.ofSeconds(10)), onClient);
        Mux server = Mux.start(t[1], Mux.Role.SERVER, serverConfig.withHelloTimeout(java.time.Duration.ofSeconds(10)), onServer);
        client.awaitReady();
        server.awaitReady();
        return new MuxPair(client, server);
    }

    @Override
    public void close() {
        client.close();
        server.close();
    }
}
