package io.tether.posix;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;

/**
 * A posix_spawn_file_actions_t: what the child does to its fds, in order, before execve.
 * Not thread-safe; close it after posix_spawn returned.
 */
public final class SpawnFileActions implements AutoCloseable {
    private final Memory memory = new Memory(LibC.FILE_ACTIONS_SIZE);
    private boolean closed;

    public SpawnFileActions() throws ErrnoException {
        memory.clear();
        LibC.check(NativeLibC.posix_spawn_file_actions_init(memory), "posix_spawn_file_actions_init");
    }

    Pointer pointer() { return memory; }

    /** The child opens {@code path} on {@code fd} (closing what fd was). */
    public SpawnFileActions open(int fd, String path, int flags, int mode) throws ErrnoException {
        LibC.check(NativeLibC.posix_spawn_file_actions_addopen(memory, fd, path, flags, mode), "posix_spawn_file_actions_addopen " + path);
        return this;
    }

    public SpawnFileActions dup2(int fd, int newFd) throws ErrnoException {
        LibC.check(NativeLibC.posix_spawn_file_actions_adddup2(memory, fd, newFd), "posix_spawn_file_actions_adddup2");
        return this;
    }

    /** The child closes fd; glibc ignores EBADF for an fd that was not open. */
    public SpawnFileActions close(int fd) throws ErrnoException {
        LibC.check(NativeLibC.posix_spawn_file_actions_addclose(memory, fd), "posix_spawn_file_actions_addclose");
        return this;
    }

    public SpawnFileActions chdir(String targetPath) throws ErrnoException {
        LibC.check(NativeLibC.posix_spawn_file_actions_addchdir_np(memory, targetPath), "posix_spawn_file_actions_addchdir_np");
        return this;
    }

    /**
     * The child closes every fd >= from. Without addclosefrom_np (glibc < 2.34) it closes
     * the fds this process has open now, which misses only fds opened concurrently.
     */
    public SpawnFileActions closeFrom(int from) throws ErrnoException {
        if (NativeLibC.ClosefromNp.AVAILABLE) {
            LibC.check(NativeLibC.posix_spawn_file_actions_addclosefrom_np(memory, from), "posix_spawn_file_actions_addclosefrom_np");
            return this;
        }
        try (java.util.stream.Stream<java.nio.file.Path> fds = java.nio.file.Files.list(java.nio.file.Path.of("/proc/self/fd"))) {
            for (java.nio.file.Path p : (Iterable<java.nio.file.Path>) fds::iterator) {
                int fd = Integer.parseInt(p.getFileName().toString());
                if (fd >= from) close(fd);
            }
        } catch (java.io.IOException e) {
            throw new ErrnoException(Errno.ENOSYS, "posix_spawn_file_actions_addclosefrom_np");
        }
        return this;
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        NativeLibC.posix_spawn_file_actions_destroy(memory);
        memory.close();
    }
}
