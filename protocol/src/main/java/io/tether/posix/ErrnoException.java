package io.tether.posix;

import java.io.IOException;

/**
 * A failed system call or file operation, carrying its Linux errno as data.
 *
 * <p>No stack trace unless {@code -Dtether.errnoTraces=true}: an ENOENT is an answer here, not a bug
 * (a tracee's lookups, a mirror's probes), and filling a trace costs more than the syscall that failed.
 * The errno, operation and subject say where it came from.
 */
public final class ErrnoException extends IOException {
    private static final boolean TRACES = Boolean.getBoolean("tether.errnoTraces");
    private final int errno;
    private final String op;
    private final String subject;

    public ErrnoException(int errno, String op, String subject) {
        super(op + (subject == null ? "" : " " + subject) + ": " + Errno.describe(errno));
        this.errno = errno;
        this.op = op;
        this.subject = subject;
    }

    public ErrnoException(int errno, String op) {
        this(errno, op, null);
    }

    @Override
    public synchronized Throwable fillInStackTrace() {
        return TRACES ? super.fillInStackTrace() : this;
    }

    public int errno() { return errno; }
    public String op() { return op; }
    public String subject() { return subject; }
}
