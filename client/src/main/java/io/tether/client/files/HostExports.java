package io.tether.client.files;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The exports of a guest whose tree lives on this host: {@code -r ROOTFS} and each {@code -b HOST[:GUEST]}. */
public final class HostExports {
    private HostExports() {}

    /**
     * Export 0 is {@code rootfs} (guest path "/"), then one per bind in order. Host paths are made
     * absolute and their symlinks resolved here, once. A missing or unreadable rootfs or bind source
     * is an IOException whose message names it, for the user.
     */
    public static List<FileExport> of(String rootfs, List<String> binds) throws IOException {
        List<FileExport> exports = new ArrayList<>();
        exports.add(new FileExport(checked("rootfs", rootfs, true), "/", false));
        for (String bind : binds) {
            int colon = bind.indexOf(':');
            String host = colon < 0 ? bind : bind.substring(0, colon);
            String guest = colon < 0 ? host : bind.substring(colon + 1);
            if (!guest.startsWith("/")) throw new IOException("bind " + bind + ": the guest path must be absolute");
            exports.add(new FileExport(checked("bind source", host, false), Path.of(guest).normalize().toString(), false));
        }
        return exports;
    }

    private static Path checked(String what, String hostPath, boolean directory) throws IOException {
        Path p = Path.of(hostPath).toAbsolutePath().normalize();
        Path real;
        try {
            real = p.toRealPath();
        } catch (java.nio.file.NoSuchFileException e) {
            throw new IOException(what + " " + p + ": no such " + (directory ? "directory" : "file or directory"));
        } catch (java.nio.file.AccessDeniedException e) {
            throw new IOException(what + " " + p + ": permission denied");
        } catch (java.nio.file.FileSystemException e) {
            throw new IOException(what + " " + p + ": " + (e.getReason() != null ? e.getReason() : e.getMessage()));
        } catch (IOException | SecurityException e) {
            throw new IOException(what + " " + p + ": " + e.getMessage());
        }
        boolean isDirectory = Files.isDirectory(real);
        if (directory && !isDirectory) throw new IOException(what + " " + p + " is not a directory");
        if (!Files.isReadable(real) || (isDirectory && !Files.isExecutable(real))) {
            throw new IOException(what + " " + p + ": permission denied");
        }
        return real;
    }
}
