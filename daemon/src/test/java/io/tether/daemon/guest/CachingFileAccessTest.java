package io.tether.daemon.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CachingFileAccessTest {
    @TempDir Path tmp;

    /** Counts lookups that reach the real file system. */
    static final class Counting implements GuestFileAccess {
        final AtomicInteger kinds = new AtomicInteger();
        final AtomicInteger links = new AtomicInteger();

        @Override public FileKind kind(String hostPath) throws ErrnoException {
            kinds.incrementAndGet();
            return LocalFileAccess.INSTANCE.kind(hostPath);
        }
        @Override public String readlink(String hostPath) throws ErrnoException {
            links.incrementAndGet();
            return LocalFileAccess.INSTANCE.readlink(hostPath);
        }
        @Override public byte[] read(String hostPath, long offset, int length) throws ErrnoException {
            return LocalFileAccess.INSTANCE.read(hostPath, offset, length);
        }
        @Override public void createDirectories(String hostPath) throws ErrnoException {
            LocalFileAccess.INSTANCE.createDirectories(hostPath);
        }
    }

    @Test
    void directoriesAndLinksAreLookedUpOnceFilesEveryTime() throws Exception {
        Files.createDirectories(tmp.resolve("usr/lib"));
        Files.writeString(tmp.resolve("usr/lib/libc.so"), "x");
        Files.createSymbolicLink(tmp.resolve("lib"), Path.of("usr/lib"));
        Counting counting = new Counting();
        GuestView view = GuestView.builder(tmp.toString()).fileAccess(new CachingFileAccess(counting)).build();
        view.resolve("/", "/lib/libc.so", true, ProcessIds.NONE);
        int first = counting.kinds.get();
        view.resolve("/", "/lib/libc.so", true, ProcessIds.NONE);
        assertEquals(first + 1, counting.kinds.get(), "only the final file is looked up again");
        assertEquals(1, counting.links.get());
    }

    @Test
    void invalidationForgetsAPathAndEverythingBelowIt() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("d/sub"));
        CachingFileAccess cache = new CachingFileAccess(LocalFileAccess.INSTANCE);
        assertEquals(FileKind.DIRECTORY, cache.kind(dir.toString()));
        assertEquals(FileKind.DIRECTORY, cache.kind(tmp.resolve("d").toString()));
        Files.delete(dir);
        Files.delete(tmp.resolve("d"));
        assertEquals(FileKind.DIRECTORY, cache.kind(dir.toString()), "stale until invalidated");
        cache.invalidate(tmp.resolve("d").toString());
        assertEquals(0, cache.size());
        assertEquals(Errno.ENOENT, assertThrows(ErrnoException.class, () -> cache.kind(dir.toString())).errno());
    }
}
