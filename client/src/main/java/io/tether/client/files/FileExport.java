package io.tether.client.files;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * One host tree the file server serves: the rootfs (guest path "/") or a bind ({@code -b
 * HOST:GUEST}, HOST a directory or a single file).
 *
 * @param hostPath  absolute host path, symlinks resolved (what the server holds open)
 * @param guestPath where the daemon shows it in the guest
 * @param readOnly  whether every change is refused with EROFS
 */
public record FileExport(Path hostPath, String guestPath, boolean readOnly) {
    public FileExport {
        if (!hostPath.isAbsolute()) throw new IllegalArgumentException("host path must be absolute: " + hostPath);
        if (!guestPath.startsWith("/")) throw new IllegalArgumentException("guest path must be absolute: " + guestPath);
    }

    /**
     * The daemon's persistent name for this tree: SHA-256 (hex) of this host's identity
     * (/etc/machine-id, else the host name) and the host path. Stable across runs; reveals neither.
     */
    public String cacheKey() {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            d.update(HostIdentity.ID.getBytes(StandardCharsets.UTF_8));
            d.update((byte) 0);
            d.update(hostPath.toString().getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }

    /** This host's stable identity, read once. */
    static final class HostIdentity {
        static final String ID = read();

        private HostIdentity() {}

        private static String read() {
            for (String f : new String[] {"/etc/machine-id", "/var/lib/dbus/machine-id"}) {
                try {
                    String id = Files.readString(Path.of(f)).trim();
                    if (!id.isEmpty()) return "machine-id:" + id;
                } catch (Exception e) {
                    // next
                }
            }
            try {
                return "host:" + java.net.InetAddress.getLocalHost().getHostName();
            } catch (Exception e) {
                String env = System.getenv("HOSTNAME");
                return "host:" + (env == null ? "unknown" : env);
            }
        }
    }
}
