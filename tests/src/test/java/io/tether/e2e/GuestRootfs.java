package io.tether.e2e;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A test rootfs built in seconds, for {@code tether run -r} and for a real {@code chroot} of the same
 * tree: a static busybox (the host's if it is static, else Debian's busybox-static unpacked with
 * dpkg-deb), bash copied with its libraries (a dynamically linked host binary), small C programs
 * compiled statically (the tracer's own test sources and this module's), and a fixed set of
 * symlinks for the canonicalisation matrix.
 */
final class GuestRootfs {
    static final Duration T = Duration.ofSeconds(60);
    static final String[] APPLETS = {"sh", "cat", "echo", "ls", "pwd", "readlink", "mkdir", "rm", "mv", "ln", "true",
        "false", "test", "stat", "realpath", "cp", "touch", "wc", "sleep", "kill", "env", "head", "grep", "sed", "tr",
        "cut", "sort", "basename", "dirname", "rmdir", "chmod", "printf", "xargs", "seq", "find", "id"};

    final Path dir;
    final Path root;

    private GuestRootfs(Path dir) {
        this.dir = dir;
        this.root = dir.resolve("rootfs");
    }

    /** Skips (visibly) unless root with chroot, unshare, mount, gcc and a static busybox. */
    static GuestRootfs build(String label) {
        return build(label, true);
    }

    /** As {@link #build(String)}; without {@code programs} only busybox and the symlinks (no compiler runs). */
    static GuestRootfs build(String label, boolean programs) {
        assumeTrue("x86_64".equals(System.getProperty("os.arch")) || "amd64".equals(System.getProperty("os.arch")),
                "the tracer runs on x86_64 here");
        assumeTrue("0".equals(Exec.run(T, "id", "-u").out().trim()), "chroot comparisons need root");
        for (String tool : List.of("chroot", "unshare", "mount", "gcc")) assumeTrue(TargetHost.onPath(tool), tool + " is not installed");
        TetherHome.ensureBuilt();
        GuestRootfs r = new GuestRootfs(TetherHome.workDir(label));
        try {
            r.populate(programs);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return r;
    }

    private void populate(boolean programs) throws IOException {
        Path bin = Files.createDirectories(root.resolve("bin"));
        Files.copy(staticBusybox(), bin.resolve("busybox"));
        for (String applet : APPLETS) Files.createSymbolicLink(bin.resolve(applet), Path.of("busybox"));
        for (String d : List.of("etc", "tmp", "proc", "dev", "sys", "usr/bin", "dir/sub", "home/user")) {
            Files.createDirectories(root.resolve(d));
        }
        Files.writeString(root.resolve("etc/passwd"), "root:x:0:0:guest root:/root:/bin/sh\n");
        Files.writeString(root.resolve("dir/file"), "in dir\n");
        link("abs", "/etc");
        link("up", "../../../../../etc");
        link("sublink", "/dir/sub");
        link("reldir", "dir/sub");
        link("loop", "/loop");
        link("dangling", "/nowhere");
        link("relchain", "dir/sub/../../abs/passwd");
        link("dir/abslink", "/etc/passwd");
        // chain0 -> chain1 -> ... -> chain40 -> /etc/passwd: 41 links from chain0 (ELOOP), 40 from chain1.
        link("chain40", "/etc/passwd");
        for (int i = 39; i >= 0; i--) link("chain" + i, "chain" + (i + 1));
        script("dir/script", "#!/bin/sh\necho script \"$0\" \"$@\"\n");
        if (!programs) return;
        copyWithLibraries(Path.of("/bin/bash"), "/bin/bash");
        compile(TetherHome.root().resolve("daemon/src/test/resources/tracer/families.c"), "families");
        compile(TetherHome.root().resolve("daemon/src/test/resources/tracer/threads_open.c"), "threads_open");
        compile(resource("cwd.c"), "cwd");
        compile(resource("xdev.c"), "xdev");
    }

    void link(String guestPath, String target) throws IOException {
        Path p = root.resolve(guestPath);
        Files.createDirectories(p.getParent());
        Files.createSymbolicLink(p, Path.of(target));
    }

    void script(String guestPath, String text) throws IOException {
        Path p = root.resolve(guestPath);
        Files.createDirectories(p.getParent());
        Files.writeString(p, text);
        assumeTrue(p.toFile().setExecutable(true, false), "chmod " + p);
    }

    private Path resource(String name) throws IOException {
        Path src = dir.resolve(name);
        try (InputStream in = GuestRootfs.class.getResourceAsStream("/tracer-e2e/" + name)) {
            if (in == null) throw new IOException("no test resource " + name);
            Files.copy(in, src);
        }
        return src;
    }

    /** The host's busybox if it is static, else the busybox-static package unpacked here. */
    private Path staticBusybox() throws IOException {
        for (String candidate : List.of("/usr/bin/busybox", "/bin/busybox")) {
            Path p = Path.of(candidate);
            if (Files.isExecutable(p) && Exec.run(T, "ldd", candidate).exit() != 0) return p; // ldd: not dynamic
        }
        Path deb = null;
        try (var debs = Files.list(Path.of("/var/cache/apt/archives"))) {
            deb = debs.filter(p -> p.getFileName().toString().startsWith("busybox-static_")).findFirst().orElse(null);
        } catch (IOException ignored) {
            // no apt cache
        }
        if (deb == null) {
            Path downloads = Files.createDirectories(dir.resolve("deb"));
            Exec.Result r = Exec.start(new ProcessBuilder("apt-get", "download", "busybox-static")
                    .directory(downloads.toFile())).await(Duration.ofMinutes(2));
            assumeTrue(r.exit() == 0, "no static busybox and apt-get download busybox-static failed: " + r);
            try (var debs = Files.list(downloads)) {
                deb = debs.findFirst().orElseThrow();
            }
        }
        Path unpacked = dir.resolve("busybox-static");
        Exec.check(T, "dpkg-deb", "-x", deb.toString(), unpacked.toString());
        Path bb = unpacked.resolve("bin/busybox");
        return Files.exists(bb) ? bb : unpacked.resolve("usr/bin/busybox");
    }

    /** Copies a dynamically linked host program to {@code guestPath} with the libraries ldd names, at their own paths. */
    void copyWithLibraries(Path hostProgram, String guestPath) throws IOException {
        Path to = root.resolve(guestPath.substring(1));
        Files.createDirectories(to.getParent());
        Files.copy(hostProgram, to);
        Exec.Result ldd = Exec.check(T, "ldd", hostProgram.toString());
        Pattern lib = Pattern.compile("(/\\S+)");
        for (String line : ldd.out().split("\n")) {
            Matcher m = lib.matcher(line.contains("=>") ? line.substring(line.indexOf("=>")) : line);
            if (!m.find()) continue;
            Path host = Path.of(m.group(1));
            Path guest = root.resolve(host.toString().substring(1));
            if (Files.exists(guest, LinkOption.NOFOLLOW_LINKS)) continue;
            Files.createDirectories(guest.getParent());
            Files.copy(host, guest); // follows the host's symlink: the real library under the linked name
        }
    }

    /** Compiles a C source statically into the rootfs's /bin. */
    void compile(Path source, String guestName) {
        Exec.Result r = Exec.run(Duration.ofMinutes(2), "gcc", "-static", "-pthread", "-O2", "-o",
                root.resolve("bin/" + guestName).toString(), source.toString());
        assumeTrue(r.exit() == 0, "static compile of " + source + " failed: " + r);
    }

    /**
     * {@code tether run -r ROOT [options] -- argv} on the default target, with PATH set for the guest
     * and the client in {@code cwd} (outside the rootfs: the guest cwd is "/", as chroot's).
     */
    Exec.Result tether(List<String> options, Map<String, String> clientEnv, String... argv) {
        List<String> cmd = new ArrayList<>(List.of(TetherHome.tether().toString(), "run", "-r", root.toString(),
                "-e", "PATH=/bin:/usr/bin", "-e", "LC_ALL=C"));
        cmd.addAll(options);
        cmd.add("--");
        cmd.addAll(List.of(argv));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        pb.environment().putAll(clientEnv);
        pb.environment().put("PWD", dir.toString());
        try (Exec.Running r = Exec.start(pb)) {
            return r.await(T);
        }
    }

    Exec.Result tether(String... argv) {
        return tether(List.of(), Map.of(), argv);
    }

    /**
     * The reference: the same command under a real chroot of the same tree, in a private mount
     * namespace where the host's /proc and /dev are bound, as the tracer's default binds show them.
     */
    Exec.Result chroot(String... argv) {
        List<String> cmd = new ArrayList<>(List.of("unshare", "--mount", "--propagation", "private", "sh", "-c",
                "mount --bind /proc \"$0/proc\" && mount --bind /dev \"$0/dev\" && exec chroot \"$0\" /bin/env -i "
                        + "PATH=/bin:/usr/bin LC_ALL=C \"$@\"", root.toString()));
        cmd.addAll(List.of(argv));
        return Exec.run(T, cmd);
    }
}
