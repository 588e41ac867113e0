package io.tether.posix;

import java.io.IOException;

/** A failed system call or file operation, carrying its Linux errno as data. */
public final class ErrnoException extends IOException {
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

    public int errno() { return errno; }
    public String op() { return op; }
    public String subject() { return subject; }
}
