package io.tether.daemon.tracer;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.tether.daemon.guest.Bind;
import io.tether.daemon.guest.GuestView;
import io.tether.daemon.process.ChildProcess;
import io.tether.daemon.process.SpawnSpec;
import io.tether.daemon.process.Spawner;
import io.tether.daemon.tracer.arch.Arches;
import io.tether.daemon.tracer.handler.Handlers;
import io.tether.posix.LibC;
import io.tether.posix.WaitStatus;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/** Test fixture: a busybox rootfs built in seconds, and runs of guest commands under a Tracer. */
final class TracedRun {
    static final List<String> ENV = List.of("PATH=/bin:/usr/bin", "HOME=/", "LC_ALL=C");
    static final String[] APPLETS = {"sh", "cat", "echo", "ls", "pwd", "readlink", "mkdir", "rm", "mv", "ln", "true",
        "false", "test", "stat", "realpath", "cp", "touch", "wc", "sleep", "kill", "env", "head", "grep", "sed", "tr",
        "cut", "sort", "basename", "dirname", "rmdir", "chmod", "printf", "xargs", "seq"};

    final Path rootfs;
    final Path runDir;
    final Path work;

    /** Whether runs ask to be kernel-rooted (chrooted in the rootfs, lookups untrapped; see KernelRoot). */
    boolean kernelRooted;

    record Result(WaitStatus status, String output, long stops, boolean kernelRooted) {
        int exitCode() {
            return TracedProcess.exitCode(status);
        }
    }

    TracedRun(Path tmp) throws IOException {
        assumeTrue(Arches.host().orElse(null) == Arches.X86_64, "tracer tests run on x86_64");
        Path busybox = Path.of("/usr/bin/busybox");
        assumeTrue(Files.isExecutable(busybox), "static busybox not installed (apt-get install busybox-static)");
        this.rootfs = Files.createDirectories(tmp.resolve("rootfs"));
        this.runDir = Files.createDirectories(tmp.resolve("run"));
        this.work = Files.createDirectories(tmp.resolve("work"));
        Path bin = Files.createDirectories(rootfs.resolve("bin"));
        Files.copy(busybox, bin.resolve("busybox"));
        for (String applet : APPLETS) Files.createSymbolicLink(bin.resolve(applet), Path.of("busybox"));
        Files.createDirectories(rootfs.resolve("etc"));
        Files.writeString(rootfs.resolve("etc/passwd"), "root:x:0:0:guest root:/root:/bin/sh\n");
        Files.createDirectories(rootfs.resolve("tmp"));
        Files.createDirectories(rootfs.resolve("usr/bin"));
    }

    GuestView view() {
        return GuestView.builder(rootfs.toString()).glueDir(work.resolve("glue").toString()).build();
    }

    Result run(String... argv) throws Exception {
        return run(view(), Handlers.standard(Arches.X86_64), "/", c -> { }, argv);
    }

    Result sh(String script) throws Exception {
        return run("/bin/sh", "-c", script);
    }

    Result run(GuestView view, Handlers handlers, String guestCwd, Consumer<ChildProcess> whileRunning, String... argv)
            throws Exception {
        Path out = Files.createTempFile(work, "out", ".txt");
        int fd = LibC.open(out.toString(), LibC.O_WRONLY | LibC.O_TRUNC, 0);
        GuestLaunch.Launch launch = GuestLaunch.prepare(view, argv[0], List.of(argv), ENV, guestCwd);
        KernelRoot plan = kernelRooted ? KernelRoot.decide(view, handlers, false, launch, List.of(argv), ENV, true) : null;
        if (kernelRooted && plan == null) throw new IllegalStateException("this run cannot be kernel-rooted");
        try (Tracer tracer = Tracer.start(Arches.X86_64, view, handlers, plan);
             Spawner spawner = new Spawner(runDir, tracer, tracer)) {
            tracer.rootExe(launch.guestExe());
            SpawnSpec spec = SpawnSpec.of(launch.hostProgram(), launch.argv(), ENV, launch.hostCwd())
                    .withFds(Map.of(1, fd, 2, fd));
            ChildProcess child = spawner.spawn(spec);
            LibC.closeQuietly(fd);
            fd = -1;
            whileRunning.accept(child);
            WaitStatus status = child.exit().get(60, TimeUnit.SECONDS);
            tracer.close(); // background tracees outliving the root are killed
            tracer.finished().get(10, TimeUnit.SECONDS);
            return new Result(status, Files.readString(out, StandardCharsets.ISO_8859_1), tracer.stops(), tracer.kernelRooted());
        } finally {
            LibC.closeQuietly(fd);
        }
    }

    static List<Bind> binds(Bind... b) {
        return new ArrayList<>(List.of(b));
    }
}
