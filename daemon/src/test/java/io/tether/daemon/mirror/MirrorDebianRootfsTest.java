package io.tether.daemon.mirror;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.protobuf.ByteString;
import io.tether.daemon.session.DaemonCore;
import io.tether.daemon.session.DaemonOptions;
import io.tether.daemon.tracer.arch.Arches;
import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.Direction;
import io.tether.protocol.proto.Export;
import io.tether.protocol.proto.FdSpec;
import io.tether.protocol.proto.FdStream;
import io.tether.protocol.proto.FilesOpen;
import io.tether.protocol.proto.GuestSpec;
import io.tether.protocol.proto.RunRequest;
import io.tether.protocol.proto.SessionMessage;
import io.tether.protocol.proto.StreamOpen;
import io.tether.protocol.transport.BytePipe;
import io.tether.protocol.transport.Transport;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real programs of a Debian rootfs run from the mirror under the tracer (gcc, the program it built,
 * python3 imports, make -j), every file served by a {@link DirectoryHostFiles} over the cached
 * debootstrap (read only: the program writes only to the /work export). The second run is warm: no
 * contents fetched again. Skips without the rootfs of tests/rootfs/make-debian-rootfs.sh.
 */
@Timeout(300)
class MirrorDebianRootfsTest {
    private static final Path ROOTFS = Path.of("/var/cache/tether-test/rootfs-bookworm-amd64");

    @TempDir Path tmp;
    Path work;
    DirectoryHostFiles files;
    DaemonCore core;
    Mux client;

    @BeforeEach
    void start() throws Exception {
        assumeTrue(Arches.host().orElse(null) == Arches.X86_64, "tracer runs on x86_64");
        assumeTrue(Files.isExecutable(ROOTFS.resolve("usr/bin/gcc")), "no Debian rootfs with gcc at " + ROOTFS);
        work = Files.createDirectories(tmp.resolve("work"));
        files = new DirectoryHostFiles(ROOTFS, "bookworm").add(work, "/work", false, "work");
        core = new DaemonCore(DaemonOptions.defaults().withCacheDir(tmp.resolve("cache")).withHome(tmp)
                .withKillGrace(Duration.ofMillis(500)), (stream, open, data) -> files);
        Transport[] t = BytePipe.duplex(1 << 16);
        core.serve(t[1]);
        client = Mux.start(t[0], Mux.Role.CLIENT, MuxConfig.defaults("test/0"), null);
        client.awaitReady();
    }

    @AfterEach
    void stop() {
        if (client != null) client.close();
        if (core != null) core.close();
    }

    private record Result(int code, String out) {}

    private Result run(String script) throws Exception {
        MuxStream filesStream = client.open(StreamOpen.newBuilder().setFiles(FilesOpen.newBuilder().setHostArch("x86_64")
                .addExports(Export.newBuilder().setId(0).setGuestPath(ByteString.copyFromUtf8("/")).setCacheKey("bookworm"))
                .addExports(Export.newBuilder().setId(1).setGuestPath(ByteString.copyFromUtf8("/work")).setCacheKey("work")))
                .build());
        MuxStream out = client.open(StreamOpen.newBuilder().setFd(FdStream.getDefaultInstance()).build());
        MuxStream err = client.open(StreamOpen.newBuilder().setFd(FdStream.getDefaultInstance()).build());
        RunRequest req = RunRequest.newBuilder().addArgv("/bin/sh").addArgv("-c").addArgv(script)
                .addEnv("PATH=/usr/bin:/bin").addEnv("TMPDIR=/work").addEnv("LC_ALL=C").setUmask(022)
                .addFds(FdSpec.newBuilder().setTargetFd(1).setDirection(Direction.FROM_PROCESS).setStreamId(out.id()))
                .addFds(FdSpec.newBuilder().setTargetFd(2).setDirection(Direction.FROM_PROCESS).setStreamId(err.id()))
                .setGuest(GuestSpec.newBuilder().setFilesStream(filesStream.id())).build();
        CompletableFuture<String> text = CompletableFuture.supplyAsync(() -> {
            try {
                return new String(out.in().readAllBytes()) + new String(err.in().readAllBytes());
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        MuxStream runStream = client.open(StreamOpen.newBuilder().setRun(req).build());
        SessionMessage started = runStream.receive(SessionMessage.parser());
        assertTrue(started.hasStarted(), started.toString());
        SessionMessage end = runStream.receive(SessionMessage.parser());
        String output = text.get(60, TimeUnit.SECONDS);
        assertTrue(end.hasExit(), end + output);
        return new Result(end.getExit().getCode(), output);
    }

    @Test
    void gccBuildsAProgramThatRunsAndAWarmRunFetchesNothing() throws Exception {
        String script = "cd /work && printf 'int main(void){return 3;}\\n' > t.c && gcc t.c -o t && ./t; echo rc=$?;"
                + " python3 -c 'import json, os; print(json.dumps([os.path.exists(\"/work/t\")]))'";
        Result cold = run(script);
        assertEquals(0, cold.code(), cold.out());
        assertTrue(cold.out().contains("rc=3"), cold.out());
        assertTrue(cold.out().contains("[true]"), cold.out());
        assertTrue(Files.getPosixFilePermissions(work.resolve("t")).contains(PosixFilePermission.OWNER_EXECUTE), "on the host");
        // The runs after the first complete the mirror in the background (Wholeness), listing what the first did
        // not need, cut short by each session's end: idle runs until one lists nothing (nothing left to complete).
        List<Integer> idle = new java.util.ArrayList<>();
        for (int i = 0; i < 40 && (idle.isEmpty() || idle.get(idle.size() - 1) > 0); i++) {
            int listings = files.calls("readdir") + files.calls("readdirTree");
            assertEquals(0, run("sleep 0.5").code());
            idle.add(files.calls("readdir") + files.calls("readdirTree") - listings);
        }
        assertEquals(0, idle.get(idle.size() - 1), () -> "the background completion never ended: " + idle);
        int listings = files.calls("readdir") + files.calls("readdirTree");
        int fetches = files.calls("fetch"); // sleep's own, above
        Result warm = run(script);
        assertEquals(0, warm.code(), warm.out());
        assertTrue(warm.out().contains("rc=3"), warm.out());
        assertEquals(fetches, files.calls("fetch"), "warm: every program, library and module served from the mirror");
        int relisted = files.calls("readdir") + files.calls("readdirTree") - listings;
        assertTrue(relisted <= 3, "warm: only directories the run changed are listed again: " + relisted + " (idle runs " + idle + ")");
    }

    @Test
    void copiesAndArchivesKeepTheirTimesOnTheHost() throws Exception {
        Result r = run("cd /work && printf data > src && touch -d @1400000000 src && cp -p src copy"
                + " && mkdir t && cp -p src t/in && tar cf a.tar t && mkdir x && cd x && tar xf ../a.tar"
                + " && stat -c %Y /work/src /work/copy /work/x/t/in");
        assertEquals(0, r.code(), r.out());
        assertEquals("1400000000\n1400000000\n1400000000\n", r.out());
        for (String f : new String[] {"src", "copy", "x/t/in"}) {
            assertEquals(1_400_000_000_000L, Files.getLastModifiedTime(work.resolve(f)).toMillis(), f + " on the host");
            assertEquals("data", Files.readString(work.resolve(f)), f);
        }
    }

    @Test
    void parallelMakeRebuildsOnlyWhatATouchMadeOlder() throws Exception {
        StringBuilder s = new StringBuilder("cd /work && mkdir p && cd p && ");
        for (int i = 1; i <= 6; i++) s.append("printf 'int f").append(i).append("(void){return ").append(i).append(";}\\n' > f").append(i).append(".c && ");
        s.append("printf 'int f1(void);\\nint main(void){return f1()-1;}\\n' > main.c && ");
        s.append("printf 'OBJS=main.o f1.o f2.o f3.o f4.o f5.o f6.o\\nprog: $(OBJS)\\n\\tgcc -o $@ $(OBJS)\\n%%.o: %%.c\\n\\tgcc -c $< -o $@\\n' > Makefile && ");
        s.append("make -j4 -s && ./prog && echo built && touch f3.c && make && make");
        Result r = run(s.toString());
        assertEquals(0, r.code(), r.out());
        assertTrue(r.out().contains("built"), r.out());
        assertTrue(r.out().contains("gcc -c f3.c -o f3.o"), r.out());
        assertTrue(!r.out().contains("gcc -c f2.c"), "only f3 is rebuilt: " + r.out());
        assertTrue(r.out().contains("'prog' is up to date"), r.out());
        assertTrue(Files.isRegularFile(work.resolve("p/prog")) && Files.size(work.resolve("p/f3.o")) > 0, "on the host");
    }
}
