package io.tether.daemon.ssh;

import org.apache.sshd.common.config.keys.writer.openssh.OpenSSHKeyPairResourceWriter;
import org.apache.sshd.common.keyprovider.FileKeyPairProvider;
import org.apache.sshd.common.keyprovider.KeyPairProvider;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.spec.ECGenParameterSpec;
import java.util.Iterator;

/**
 * The daemon's persistent host key: an OpenSSH private key file (so ssh-keygen -lf reads
 * it, and a key made by ssh-keygen works too), created with FILE.pub on first start.
 */
public final class HostKeys {
    private static final Logger log = LoggerFactory.getLogger(HostKeys.class);

    private HostKeys() {}

    /** Loads {@code file}, creating an ECDSA P-256 key there if it does not exist. */
    public static KeyPairProvider loadOrCreate(Path file) throws IOException {
        if (!Files.exists(file)) create(file);
        if (!Files.isReadable(file)) throw new IOException("host key " + file + " is not readable");
        FileKeyPairProvider provider = new FileKeyPairProvider(file);
        try {
            Iterator<KeyPair> keys = provider.loadKeys(null).iterator();
            if (!keys.hasNext()) throw new IOException("host key " + file + " holds no key");
            keys.next();
        } catch (IOException | RuntimeException e) {
            throw new IOException("cannot read host key " + file + ": " + e.getMessage(), e);
        }
        return provider;
    }

    private static void create(Path file) throws IOException {
        KeyPair kp;
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
            g.initialize(new ECGenParameterSpec("secp256r1"));
            kp = g.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot generate a host key: " + e.getMessage(), e);
        }
        Path dir = file.toAbsolutePath().getParent();
        if (dir != null) Files.createDirectories(dir);
        String comment = "tetherd host key";
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.deleteIfExists(tmp);
        Files.createFile(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        try (OutputStream out = Files.newOutputStream(tmp, StandardOpenOption.TRUNCATE_EXISTING)) {
            OpenSSHKeyPairResourceWriter.INSTANCE.writePrivateKey(kp, comment, null, out);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot write host key " + file + ": " + e.getMessage(), e);
        }
        Files.move(tmp, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        try (OutputStream out = Files.newOutputStream(file.resolveSibling(file.getFileName() + ".pub"))) {
            OpenSSHKeyPairResourceWriter.INSTANCE.writePublicKey(kp.getPublic(), comment, out);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot write " + file + ".pub: " + e.getMessage(), e);
        }
        log.info("created host key {}", file);
    }
}
