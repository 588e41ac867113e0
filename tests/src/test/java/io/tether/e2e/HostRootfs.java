package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The "No NFS" set-up's host side: the Debian bookworm minbase that tests/rootfs/make-debian-rootfs.sh
 * caches, seen through an overlay (lower: the cache, upper: this work directory) so a guest may write
 * anywhere without dirtying the cache, and two writable host directories bound at guest /mnt and /tmp.
 * Everything the daemon must not see lives under {@link #hostSide}; {@link #hiddenFromTarget()} names
 * the directories to cover in the daemon's mount namespace (that one and the cache's parent).
 */
final class HostRootfs implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HostRootfs.class);
    static final List<String> GUEST_ENV = List.of("/usr/bin/env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin",
            "HOME=/root", "LC_ALL=C");
    static final String HELLO_TARBALL = "hello_2.10.orig.tar.gz";
    /** GNU hello 2.10, as Debian's source package ships it (= upstream's hello-2.10.tar.gz). */
    static final String HELLO_SHA256 = "31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b";

    final Path cached;
    final Path work;
    final Path hostSide;
    final Path rootfs;
    final Path mnt;
    final Path tmp;
    private final Thread shutdownHook = new Thread(this::close, "host-rootfs-umount");
    private boolean mounted;

    private HostRootfs(Path cached, Path work) {
        this.cached = cached;
        this.work = work;
        this.hostSide = work.resolve("host");
        this.rootfs = hostSide.resolve("rootfs");
        this.mnt = hostSide.resolve("mnt");
        this.tmp = hostSide.resolve("tmp");
    }

    /** The cached Debian rootfs, built on first use (about a minute); skips visibly where it cannot be built. */
    static Path debianRootfs() {
        assumeTrue("x86_64".equals(System.getProperty("os.arch")) || "amd64".equals(System.getProperty("os.arch")),
                "the tracer runs on x86_64 here");
        assumeTrue("0".equals(Exec.run(Duration.ofSeconds(10), "id", "-u").out().trim()),
                "debootstrap, overlay mounts and the chroot comparison need root");
        for (String tool : List.of("chroot", "unshare", "mount", "umount")) {
            assumeTrue(TargetHost.onPath(tool), tool + " is not installed");
        }
        TetherHome.ensureBuilt();
        Path script = TetherHome.root().resolve("tests/rootfs/make-debian-rootfs.sh");
        Exec.Result made = Exec.run(Duration.ofMinutes(20), script.toString());
        assumeTrue(made.exit() != 3, () -> "no Debian rootfs here: " + made.err().strip());
        assertEquals(0, made.exit(), () -> "make-debian-rootfs.sh failed: " + made);
        String[] lines = made.out().strip().split("\n");
        return Path.of(lines[lines.length - 1]);
    }

    /** An overlay of the cached rootfs in a fresh work directory; skips visibly where overlayfs is unavailable. */
    static HostRootfs create(String label) {
        Path cached = debianRootfs();
        HostRootfs r = new HostRootfs(cached, TetherHome.workDir(label));
        try {
            for (Path d : List.of(r.rootfs, r.mnt, r.tmp, r.work.resolve("upper"), r.work.resolve("ovl"))) {
                Files.createDirectories(d);
            }
            r.tmp.toFile().setWritable(true, false);
            Exec.run(Duration.ofSeconds(10), "chmod", "1777", r.tmp.toString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Exec.Result m = Exec.run(Duration.ofSeconds(30), "mount", "-t", "overlay", "overlay", "-o",
                "lowerdir=" + cached + ",upperdir=" + r.work.resolve("upper") + ",workdir=" + r.work.resolve("ovl"),
                r.rootfs.toString());
        assumeTrue(m.exit() == 0, () -> "no overlay mount here (the cached rootfs must stay clean): " + m);
        r.mounted = true;
        Runtime.getRuntime().addShutdownHook(r.shutdownHook);
        return r;
    }

    /** Directories the daemon must not see: the host side of this set-up and the rootfs cache. */
    List<Path> hiddenFromTarget() { return List.of(hostSide, cached.getParent()); }

    /** {@code -r ROOTFS -b MNT:/mnt -b TMP:/tmp}, the options of every run in this set-up. */
    List<String> options() {
        return List.of("-r", rootfs.toString(), "-b", mnt + ":/mnt", "-b", tmp + ":/tmp");
    }

    /** argv prefixed with a clean guest environment. */
    static List<String> guest(String... argv) {
        List<String> all = new ArrayList<>(GUEST_ENV);
        all.addAll(List.of(argv));
        return all;
    }

    /** The reference: the same command under chroot of the same tree and binds, in a private mount namespace. */
    Exec.Result chroot(Duration timeout, String... argv) {
        List<String> cmd = new ArrayList<>(List.of("unshare", "--mount", "--propagation", "private", "sh", "-c",
                "for d in proc dev sys; do mount --bind /$d \"$0/$d\" || exit 125; done; "
                        + "mount --bind \"$1\" \"$0/mnt\" && mount --bind \"$2\" \"$0/tmp\" || exit 125; "
                        + "shift 2; cd / && exec chroot \"$0\" \"$@\"", rootfs.toString(), mnt.toString(), tmp.toString()));
        cmd.addAll(guest(argv));
        return Exec.run(timeout, cmd);
    }

    /**
     * GNU hello's source tarball, cached under /var/cache/tether-test (from bench/tracer.sh's download
     * or the Debian pool); null, with the reason logged, when it cannot be had here.
     */
    static Path helloTarball(StringBuilder whyNot) {
        Path cache = Path.of(System.getenv().getOrDefault("TETHER_ROOTFS_CACHE", "/var/cache/tether-test"));
        Path cachedTar = cache.resolve(HELLO_TARBALL);
        try {
            Files.createDirectories(cache);
            if (!Files.isRegularFile(cachedTar) || !HELLO_SHA256.equals(sha256(cachedTar))) {
                Path part = cache.resolve(HELLO_TARBALL + ".part-" + HexFormat.of().toHexDigits(System.nanoTime()));
                Path benchCopy = Path.of("/tmp/tether-bench-tracer/src", HELLO_TARBALL);
                if (Files.isRegularFile(benchCopy)) {
                    Files.copy(benchCopy, part);
                } else {
                    String mirror = Exec.run(Duration.ofSeconds(10), "sh", "-c",
                            "sed -n 's/^URIs: *\\([^ ]*debian\\)$/\\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1")
                            .out().strip();
                    if (mirror.isEmpty()) mirror = "http://deb.debian.org/debian";
                    Exec.Result got = Exec.run(Duration.ofMinutes(2), "wget", "-q", "-T", "20", "-t", "2", "-O", part.toString(),
                            mirror + "/pool/main/h/hello/" + HELLO_TARBALL);
                    if (got.exit() != 0) {
                        Files.deleteIfExists(part);
                        whyNot.append("cannot fetch ").append(HELLO_TARBALL).append(" from ").append(mirror).append(": ").append(got);
                        return null;
                    }
                }
                String sum = sha256(part);
                if (!HELLO_SHA256.equals(sum)) {
                    Files.deleteIfExists(part);
                    whyNot.append(HELLO_TARBALL).append(" has sha256 ").append(sum).append(", not ").append(HELLO_SHA256);
                    return null;
                }
                Files.move(part, cachedTar, java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
            return cachedTar;
        } catch (IOException e) {
            whyNot.append("cannot cache ").append(HELLO_TARBALL).append(": ").append(e);
            return null;
        }
    }

    static String sha256(Path file) throws IOException {
        try (var in = Files.newInputStream(file)) {
            java.security.MessageDigest md = java.security.MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
            return HexFormat.of().formatHex(md.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public synchronized void close() {
        if (mounted) {
            Exec.Result r = Exec.run(Duration.ofSeconds(30), "umount", rootfs.toString());
            if (r.exit() != 0) {
                log.warn("umount {}: {}; lazy unmount", rootfs, r.err().strip());
                Exec.run(Duration.ofSeconds(30), "umount", "-l", rootfs.toString());
            }
            mounted = false;
            if (Thread.currentThread() != shutdownHook) {
                try {
                    Runtime.getRuntime().removeShutdownHook(shutdownHook);
                } catch (IllegalStateException ignored) {
                    // already shutting down
                }
            }
        }
    }
}
