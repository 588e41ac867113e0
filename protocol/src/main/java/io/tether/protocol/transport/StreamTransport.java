package io.tether.protocol.transport;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.concurrent.atomic.AtomicBoolean;

/** A transport over existing streams; closes both streams and an optional extra resource once. */
final class StreamTransport implements Transport {
    private final InputStream in;
    private final OutputStream out;
    private final String description;
    private final Closeable onClose;
    private final AtomicBoolean closed = new AtomicBoolean();

    StreamTransport(InputStream in, OutputStream out, String description, Closeable onClose) {
        this.in = in;
        this.out = out;
        this.description = description;
        this.onClose = onClose;
    }

    @Override public InputStream input() { return in; }
    @Override public OutputStream output() { return out; }
    @Override public String describe() { return description; }

    @Override
    public void close() throws IOException {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        IOException first = null;
        for (Closeable c : new Closeable[] {out, in, onClose}) {
            if (c == null) continue;
            try {
                c.close();
            } catch (IOException e) {
                if (first == null) first = e;
            }
        }
        if (first != null) throw first;
    }
}
