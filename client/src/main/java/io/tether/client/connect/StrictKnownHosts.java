package io.tether.client.connect;

import org.apache.sshd.client.config.hosts.KnownHostEntry;
import org.apache.sshd.client.config.hosts.KnownHostHashValue;
import org.apache.sshd.client.keyverifier.ServerKeyVerifier;
import org.apache.sshd.client.session.ClientSession;
import org.apache.sshd.common.config.keys.AuthorizedKeyEntry;
import org.apache.sshd.common.config.keys.KeyUtils;
import org.apache.sshd.common.config.keys.PublicKeyEntry;
import org.apache.sshd.common.config.keys.PublicKeyEntryResolver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.PublicKey;
import java.util.Collections;
import java.util.List;

/**
 * Checks a server's host key against a known_hosts file, strictly: a host that is not listed is
 * refused unless {@code acceptNew} (then its key is appended), and a listed host that offers
 * another key is always refused. Plain and hashed host patterns and {@code [host]:port} work
 * as in OpenSSH; {@code @revoked} keys are refused, {@code @cert-authority} lines are ignored.
 * The refusal reason is kept for the user ({@link #refusal()}).
 */
public final class StrictKnownHosts implements ServerKeyVerifier {
    private static final Logger log = LoggerFactory.getLogger(StrictKnownHosts.class);

    public enum Verdict { KNOWN, ADDED, UNKNOWN, CHANGED, REVOKED }

    private final Path file;
    private final boolean acceptNew;
    private final String host;
    private final int port;
    private volatile String refusal;

    public StrictKnownHosts(Path file, boolean acceptNew, String host, int port) {
        this.file = file;
        this.acceptNew = acceptNew;
        this.host = host;
        this.port = port;
    }

    /** Why the last key was refused, one line naming the fix; null if none was. */
    public String refusal() { return refusal; }

    @Override
    public boolean verifyServerKey(ClientSession session, SocketAddress remote, PublicKey key) {
        Verdict v = check(key);
        log.debug("host key {} {} for {}: {}", KeyUtils.getKeyType(key), KeyUtils.getFingerPrint(key), pattern(), v);
        return v == Verdict.KNOWN || v == Verdict.ADDED;
    }

    /** Decides on {@code key} (and appends it when new and accepted). */
    public Verdict check(PublicKey key) {
        String pattern = pattern();
        String offered = KeyUtils.getKeyType(key) + " " + KeyUtils.getFingerPrint(key);
        List<KnownHostEntry> entries;
        try {
            entries = Files.exists(file) ? KnownHostEntry.readKnownHostEntries(file) : Collections.emptyList();
        } catch (IOException | RuntimeException e) {
            refusal = "cannot read known hosts file " + file + ": " + e.getMessage();
            return Verdict.UNKNOWN;
        }
        String other = null;
        for (KnownHostEntry e : entries) {
            if (!e.isHostMatch(host, port)) continue;
            String marker = e.getMarker();
            if (marker != null && !marker.isEmpty() && !marker.equals("revoked")) continue;
            PublicKey listed = resolve(e.getKeyEntry());
            if (listed == null) continue;
            boolean same = KeyUtils.compareKeys(listed, key);
            if ("revoked".equals(marker)) {
                if (same) {
                    refusal = "host key " + offered + " of " + pattern + " is marked @revoked in " + file + "; refusing to connect";
                    return Verdict.REVOKED;
                }
                continue;
            }
            if (same) return Verdict.KNOWN;
            if (other == null) other = KeyUtils.getKeyType(listed) + " " + KeyUtils.getFingerPrint(listed);
        }
        if (other != null) {
            refusal = "HOST KEY CHANGED for " + pattern + ": " + file + " has " + other + " but the server offered "
                    + offered + "; this may be an attack. If the change is expected, remove the old entry "
                    + "(ssh-keygen -R '" + pattern + "' -f " + file + ") and connect with --accept-new-host-key";
            return Verdict.CHANGED;
        }
        if (!acceptNew) {
            refusal = "host " + pattern + " is not in " + file + " (it offered " + offered
                    + "); if that key is right, rerun with --accept-new-host-key to add it";
            return Verdict.UNKNOWN;
        }
        try {
            append(pattern, key);
        } catch (IOException e) {
            refusal = "cannot add the host key of " + pattern + " to " + file + ": " + e.getMessage();
            return Verdict.UNKNOWN;
        }
        log.warn("added host key {} of {} to {}", offered, pattern, file);
        return Verdict.ADDED;
    }

    private String pattern() {
        return KnownHostHashValue.createHostPattern(host, port);
    }

    private static PublicKey resolve(AuthorizedKeyEntry entry) {
        if (entry == null) return null;
        try {
            return entry.resolvePublicKey(null, Collections.emptyMap(), PublicKeyEntryResolver.IGNORING);
        } catch (IOException | java.security.GeneralSecurityException | RuntimeException e) {
            log.debug("skipping unreadable known_hosts key: {}", e.toString());
            return null;
        }
    }

    private synchronized void append(String pattern, PublicKey key) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        if (dir != null && !Files.isDirectory(dir)) {
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        }
        StringBuilder line = new StringBuilder();
        if (Files.exists(file) && Files.size(file) > 0) {
            byte[] all = Files.readAllBytes(file);
            if (all[all.length - 1] != '\n') line.append('\n');
        }
        line.append(pattern).append(' ');
        PublicKeyEntry.appendPublicKeyEntry(line, key);
        line.append('\n');
        Files.writeString(file, line, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND,
                StandardOpenOption.WRITE);
    }
}
