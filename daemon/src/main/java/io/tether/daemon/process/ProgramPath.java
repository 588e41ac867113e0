package io.tether.daemon.process;

import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * execvp's program search, done with the CHILD's PATH and cwd (posix_spawnp would use the
 * daemon's): a name with a slash is used as is; otherwise the first executable regular file
 * named so in a PATH directory. ENOENT if none exists, EACCES if only non-executable ones do.
 */
public final class ProgramPath {
    static final String DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin";

    private ProgramPath() {}

    public static String resolve(String name, List<String> env, String cwd) throws ErrnoException {
        if (name.isEmpty()) throw new ErrnoException(Errno.ENOENT, "execve", "''");
        if (name.contains("/")) return name;
        String path = DEFAULT_PATH;
        for (String e : env) {
            if (e.startsWith("PATH=")) {
                path = e.substring(5);
                break;
            }
        }
        boolean sawDenied = false;
        for (String dir : path.split(":", -1)) {
            Path base = dir.isEmpty() ? Path.of(".") : Path.of(dir);
            if (!base.isAbsolute() && cwd != null) base = Path.of(cwd).resolve(base);
            Path candidate = base.resolve(name);
            if (Files.isRegularFile(candidate)) {
                if (Files.isExecutable(candidate)) return candidate.toString();
                sawDenied = true;
            }
        }
        throw new ErrnoException(sawDenied ? Errno.EACCES : Errno.ENOENT, "execve", name);
    }
}
