package io.tether.posix;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import org.junit.jupiter.api.Test;

class ErrnoExceptionTest {
    @Test
    void theMessageNamesTheOperationSubjectAndErrnoWhenAskedFor() {
        ErrnoException e = new ErrnoException(Errno.ENOENT, "open", "/etc/x");
        assertEquals("open /etc/x: ENOENT (No such file or directory)", e.getMessage());
        assertSame(e.getMessage(), e.getMessage(), "made once");
        assertEquals("io.tether.posix.ErrnoException: open /etc/x: ENOENT (No such file or directory)", e.toString());
        assertEquals("readlink: EINVAL (Invalid argument)", new ErrnoException(Errno.EINVAL, "readlink").getMessage());
        assertEquals(Errno.ENOENT, e.errno());
    }

    @Test
    void namesComeFromTheConstantsAndUnknownNumbersSayTheirNumber() {
        assertEquals("ENOENT", Errno.name(2));
        assertEquals("ECANCELED", Errno.name(125));
        assertEquals("errno 4242", Errno.name(4242));
        assertEquals("ESTALE (Stale file handle)", Errno.describe(Errno.ESTALE));
        assertSame(Errno.describe(Errno.ESTALE), Errno.describe(Errno.ESTALE));
        assertEquals("errno 4242 (Unknown error 4242)", Errno.describe(4242));
        assertEquals("errno -3 (Unknown error -3)", Errno.describe(-3));
    }
}
