package io.tether.client.connect;

import io.tether.protocol.transport.Transport;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;

/**
 * A transport over a connected Unix-domain socket. Reads and writes go straight to the
 * channel, not through Channels.newInputStream/newOutputStream, whose shared blocking lock
 * would serialise the mux's reader and writer threads.
 */
public final class UnixSocketTransport implements Transport {
    private final SocketChannel channel;
    private final String description;
    private final InputStream in;
    private final OutputStream out;

    public UnixSocketTransport(SocketChannel channel, String description) {
        this.channel = channel;
        this.description = description;
        this.in = new InputStream() {
            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                int n = read(one, 0, 1);
                return n < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (len == 0) return 0;
                int n;
                do {
                    n = channel.read(ByteBuffer.wrap(b, off, len));
                } while (n == 0);
                return n;
            }

            @Override
            public void close() throws IOException {
                channel.close();
            }
        };
        this.out = new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                ByteBuffer buf = ByteBuffer.wrap(b, off, len);
                while (buf.hasRemaining()) channel.write(buf);
            }

            @Override
            public void close() throws IOException {
                channel.close();
            }
        };
    }

    /** Connects to the socket at {@code socketPath}. */
    public static UnixSocketTransport connect(Path socketPath, String description) throws IOException {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            ch.connect(UnixDomainSocketAddress.of(socketPath));
        } catch (IOException e) {
            ch.close();
            throw e;
        }
        return new UnixSocketTransport(ch, description);
    }

    @Override public InputStream input() { return in; }

    @Override public OutputStream output() { return out; }

    @Override public String describe() { return description; }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
