package io.tether.protocol.transport;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * A pair of byte streams the mux runs over: an SSH channel, stdin/stdout, a Unix
 * socket, an in-memory pipe. Closing it must unblock a reader of {@link #input()}.
 */
public interface Transport extends Closeable {
    InputStream input();

    OutputStream output();

    /** For logs and errors: "ssh://root@127.77.0.2:2222", "stdio", "memory". */
    String describe();

    @Override
    void close() throws IOException;

    static Transport of(InputStream in, OutputStream out, String description, Closeable onClose) {
        return new StreamTransport(in, out, description, onClose);
    }
}
