package io.tether.protocol.transport;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;

/**
 * A bounded in-memory byte pipe: one writer side, one reader side, blocking both ways.
 * Unlike java.io.PipedInputStream it has no notion of "writer thread died".
 */
public final class BytePipe {
    private final byte[] ring;
    private int head;   // next byte to read
    private int count;  // bytes buffered
    private boolean writerClosed;
    private boolean readerClosed;

    public BytePipe(int capacity) {
        ring = new byte[capacity];
    }

    public final InputStream source = new InputStream() {
        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) return 0;
            synchronized (BytePipe.this) {
                while (count == 0) {
                    if (readerClosed) throw new IOException("pipe closed");
                    if (writerClosed) return -1;
                    await();
                }
                int n = Math.min(len, count);
                int first = Math.min(n, ring.length - head);
                System.arraycopy(ring, head, b, off, first);
                System.arraycopy(ring, 0, b, off + first, n - first);
                head = (head + n) % ring.length;
                count -= n;
                BytePipe.this.notifyAll();
                return n;
            }
        }

        @Override
        public int available() {
            synchronized (BytePipe.this) { return count; }
        }

        @Override
        public void close() {
            synchronized (BytePipe.this) {
                readerClosed = true;
                BytePipe.this.notifyAll();
            }
        }
    };

    public final OutputStream sink = new OutputStream() {
        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            synchronized (BytePipe.this) {
                while (len > 0) {
                    if (writerClosed) throw new IOException("pipe closed");
                    if (readerClosed) throw new IOException("broken pipe");
                    if (count == ring.length) {
                        await();
                        continue;
                    }
                    int tail = (head + count) % ring.length;
                    int n = Math.min(len, Math.min(ring.length - count, ring.length - tail));
                    System.arraycopy(b, off, ring, tail, n);
                    count += n;
                    off += n;
                    len -= n;
                    BytePipe.this.notifyAll();
                }
            }
        }

        @Override
        public void close() {
            synchronized (BytePipe.this) {
                writerClosed = true;
                BytePipe.this.notifyAll();
            }
        }
    };

    private void await() throws InterruptedIOException {
        try {
            wait();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException();
        }
    }

    /** Two transports joined back to back, as if by a socket. */
    public static Transport[] duplex(int capacity) {
        BytePipe aToB = new BytePipe(capacity);
        BytePipe bToA = new BytePipe(capacity);
        Transport a = Transport.of(bToA.source, aToB.sink, "memory", () -> { aToB.sink.close(); bToA.source.close(); });
        Transport b = Transport.of(aToB.source, bToA.sink, "memory", () -> { bToA.sink.close(); aToB.source.close(); });
        return new Transport[] {a, b};
    }
}
