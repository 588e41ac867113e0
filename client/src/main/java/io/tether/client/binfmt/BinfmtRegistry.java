package io.tether.client.binfmt;

import io.tether.client.TetherException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;

/**
 * Tether's handlers in one binfmt_misc instance ({@code /proc/sys/fs/binfmt_misc}, or the instance a user namespace
 * mounted for itself) and their launcher scripts in a handler directory ({@code /etc/tether/binfmt}).
 *
 * <p>A handler is registered with flags F and P. F: the kernel opens the launcher once, at registration, so programs in
 * other mount namespaces and chroots find it too. P (preserve argv[0]): the kernel passes the program's path as executed
 * AND the caller's argv[0], so the launcher runs that path (mapped into the guest) while the program sees the name it
 * was called by, as a multi-call binary (busybox) or a program that prints its own name needs.
 */
public final class BinfmtRegistry {
    public static final Path DEFAULT_PROC = Path.of("/proc/sys/fs/binfmt_misc");
    public static final Path DEFAULT_DIR = Path.of("/etc/tether/binfmt");
    private static final String FLAGS = "FP";

    private final Path proc;
    private final Path dir;

    public BinfmtRegistry(Path proc, Path dir) {
        this.proc = proc;
        this.dir = dir;
    }

    /** The launcher script of {@code arch}'s handler. */
    public Path launcher(BinfmtArch arch) {
        return dir.resolve(arch.entryName());
    }

    /**
     * Writes {@code arch}'s launcher (a shell script that execs {@code runCommand} with the kernel's arguments after
     * it) and registers it, replacing an earlier Tether handler of the same architecture. Returns warnings for the user.
     */
    public List<String> install(BinfmtArch arch, List<String> runCommand) throws TetherException {
        Path register = proc.resolve("register");
        if (!Files.exists(register)) {
            throw new TetherException("no binfmt_misc at " + proc + " (ENOENT): mount it first, as root: "
                    + "mount -t binfmt_misc binfmt_misc " + proc);
        }
        List<String> warnings = new ArrayList<>();
        Path launcher = launcher(arch);
        try {
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, "." + arch.entryName(), ".tmp");
            try {
                Files.writeString(tmp, script(arch, runCommand));
                Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
                Files.move(tmp, launcher, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new TetherException("cannot write the handler " + launcher + ": " + reason(e));
        }
        Path entry = proc.resolve(arch.entryName());
        if (Files.exists(entry)) write(entry, "-1", "cannot replace the handler " + entry);
        write(register, ":" + arch.entryName() + ":M::" + arch.magic() + ":" + arch.mask() + ":" + launcher + ":" + FLAGS,
                "cannot register " + arch.entryName() + " in " + register);
        for (String other : othersFor(arch)) {
            warnings.add("the handler " + other + " in " + proc + " matches " + arch.name()
                    + " programs too: the kernel runs the one registered last (remove the other to be sure)");
        }
        return warnings;
    }

    /** Unregisters {@code arch}'s handler and deletes its launcher; false if there was neither. */
    public boolean remove(BinfmtArch arch) throws TetherException {
        Path entry = proc.resolve(arch.entryName());
        boolean found = false;
        if (Files.exists(entry)) {
            write(entry, "-1", "cannot remove the handler " + entry);
            found = true;
        }
        try {
            found |= Files.deleteIfExists(launcher(arch));
        } catch (IOException e) {
            throw new TetherException("cannot delete " + launcher(arch) + ": " + reason(e));
        }
        return found;
    }

    /** One paragraph per registered Tether handler: the kernel's entry, then the launcher's command line. */
    public List<String> status() throws TetherException {
        List<String> result = new ArrayList<>();
        for (BinfmtArch arch : BinfmtArch.ALL) {
            Path entry = proc.resolve(arch.entryName());
            if (!Files.exists(entry)) continue;
            StringBuilder s = new StringBuilder(arch.entryName()).append(" (").append(entry).append("):\n");
            try {
                for (String line : Files.readAllLines(entry)) s.append("  ").append(line).append('\n');
                Path launcher = interpreter(Files.readAllLines(entry));
                if (launcher != null && Files.isRegularFile(launcher)) {
                    for (String line : Files.readAllLines(launcher)) {
                        if (line.startsWith("exec ")) s.append("  runs: ").append(line.substring(5)).append('\n');
                    }
                }
            } catch (IOException e) {
                throw new TetherException("cannot read " + entry + ": " + reason(e));
            }
            result.add(s.toString());
        }
        return result;
    }

    /** The launcher script: everything before the kernel's arguments is fixed at install time. */
    static String script(BinfmtArch arch, List<String> runCommand) {
        StringBuilder s = new StringBuilder("#!/bin/sh\n");
        s.append("# binfmt_misc handler ").append(arch.entryName()).append(", written by `tether binfmt install` (undo: `tether binfmt remove --arch ")
                .append(arch.name()).append("`).\n");
        s.append("# The kernel runs it as HANDLER PROGRAM ARGV0 [ARG...] (flag P) for every ").append(arch.name())
                .append(" ELF executed here; PROGRAM is the host path as executed, ARGV0 the caller's argv[0].\n");
        s.append("[ $# -ge 2 ] || set -- \"$1\" \"$1\"\n"); // an exec with an empty argv: its name is the path
        s.append("program=$1 argv0=$2\nshift 2\n");
        s.append("exec");
        for (String word : runCommand) s.append(' ').append(quote(word));
        s.append(" --argv0=\"$argv0\" -- \"$program\" \"$@\"\n");
        return s.toString();
    }

    /** {@code word} in single quotes for sh. */
    static String quote(String word) {
        return "'" + word.replace("'", "'\\''") + "'";
    }

    /** Other enabled handlers in this instance whose magic is {@code arch}'s (binfmt-support's qemu-aarch64...). */
    private List<String> othersFor(BinfmtArch arch) {
        List<String> others = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(proc)) {
            for (Path e : entries) {
                String name = e.getFileName().toString();
                if (name.equals("register") || name.equals("status") || name.equals(arch.entryName())) continue;
                List<String> lines = Files.readAllLines(e);
                if (!lines.isEmpty() && lines.get(0).equals("enabled") && lines.contains("magic " + arch.shownMagic())) others.add(name);
            }
        } catch (IOException | RuntimeException e) {
            // unreadable entries: nothing to warn about
        }
        return others;
    }

    private static Path interpreter(List<String> entryLines) {
        for (String line : entryLines) {
            if (line.startsWith("interpreter ")) return Path.of(line.substring("interpreter ".length()));
        }
        return null;
    }

    /** One write(2) of {@code text}: binfmt_misc takes each write as one command. */
    private static void write(Path file, String text, String what) throws TetherException {
        try (var out = Files.newOutputStream(file, java.nio.file.StandardOpenOption.WRITE)) {
            out.write(text.getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new TetherException(what + ": " + reason(e));
        }
    }

    /** The errno's text of a failed call ("Operation not permitted"), not Java's exception class. */
    private static String reason(IOException e) {
        if (e instanceof FileSystemException f && f.getReason() != null) return f.getReason();
        return e.getMessage();
    }
}
