package io.tether.client.connect;

import io.tether.client.TetherException;
import org.apache.sshd.common.NamedResource;
import org.apache.sshd.common.config.keys.FilePasswordProvider;
import org.apache.sshd.common.util.security.SecurityUtils;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.util.ArrayList;
import java.util.List;

/** Loads the client's SSH identities: {@code -i FILE}, else the usual ~/.ssh/id_* files. */
public final class Identities {
    /** Tried in this order when no -i is given, as OpenSSH does (minus DSA). */
    public static final List<String> DEFAULT_FILES = List.of("id_ed25519", "id_ecdsa", "id_rsa");

    private Identities() {}

    /** The key files to offer: the explicit one, or those default files that exist. */
    public static List<Path> files(Path explicit, Path home) throws TetherException {
        if (explicit != null) {
            if (!Files.isRegularFile(explicit)) {
                throw new TetherException("identity file " + explicit + " does not exist (check -i or the target's identity setting)");
            }
            return List.of(explicit);
        }
        List<Path> found = new ArrayList<>();
        for (String n : DEFAULT_FILES) {
            Path p = home.resolve(".ssh").resolve(n);
            if (Files.isRegularFile(p)) found.add(p);
        }
        if (found.isEmpty()) {
            throw new TetherException("no SSH identity: none of ~/.ssh/" + String.join(", ~/.ssh/", DEFAULT_FILES)
                    + " exists; pass -i KEYFILE (its public key must be in the daemon's authorized_keys)");
        }
        return found;
    }

    /** Reads the key pairs of {@code file}; passphrase-protected keys are refused with a clear message. */
    public static List<KeyPair> load(Path file) throws TetherException {
        List<KeyPair> keys = new ArrayList<>();
        try (InputStream in = Files.newInputStream(file)) {
            Iterable<KeyPair> it = SecurityUtils.loadKeyPairIdentities(null, NamedResource.ofName(file.toString()), in, FilePasswordProvider.EMPTY);
            if (it != null) it.forEach(keys::add);
        } catch (IOException | GeneralSecurityException | RuntimeException e) {
            String m = String.valueOf(e.getMessage());
            if (m.toLowerCase().contains("password") || m.toLowerCase().contains("passphrase") || m.toLowerCase().contains("encrypt")) {
                throw new TetherException("identity " + file + " is passphrase-protected; Tether cannot prompt: use a key without a passphrase");
            }
            throw new TetherException("cannot read identity " + file + ": " + m);
        }
        if (keys.isEmpty()) throw new TetherException("identity " + file + " holds no private key");
        return keys;
    }
}
