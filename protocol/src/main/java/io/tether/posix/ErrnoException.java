package io.tether.posix;

import java.io.IOException;

/**
 * A failed system call or file operation, carrying its Linux errno as data.
 *
 * <p>No stack trace unless {@code -Dtether.errnoTraces=true}: an ENOENT is an answer here, not a bug
 * (a tracee's lookups, a mirror's probes), and filling a trace costs more than the syscall that failed.
 * The errno, operation and subject say where it came from. The message is made when first asked for:
 * most of these are caught and answered as an errno without anyone reading it.
 */
public final class ErrnoException extends IOException {
    private static final boolean TRACES = Boolean.getBoolean("tether.errnoTraces");
    private final int errno;
    private final String op;
    private final String subject;
    private volatile String message;

    public ErrnoException(int errno, String op, String subject) {
        super((String) null);
        this.errno = errno;
        this.op = op;
        this.subject = subject;
    }

    public ErrnoException(int errno, String op) {
        this(errno, op, null);
    }

    @Override
    public String getMessage() {
        String m = message;
        if (m == null) message = m = op + (subject == null ? "" : " " + subject) + ": " + Errno.describe(errno);
        return m;
    }

    @Override
    public synchronized Throwable fillInStackTrace() {
        return TRACES ? super.fillInStackTrace() : this;
    }

    public int errno() { return errno; }
    public String op() { return op; }
    public String subject() { return subject; }
}
