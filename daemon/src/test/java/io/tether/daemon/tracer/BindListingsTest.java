package io.tether.daemon.tracer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tether.daemon.guest.Bind;
import io.tether.daemon.guest.GuestView;
import io.tether.daemon.tracer.arch.Arches;
import io.tether.daemon.tracer.handler.Handlers;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Listings of directories that binds onto missing locations lie below show the binds' names, once;
 * runs without such binds do not trap getdents at all.
 */
class BindListingsTest {
    @TempDir Path tmp;
    TracedRun t;
    Path hostDir;

    @BeforeEach
    void rootfs() throws Exception {
        t = new TracedRun(tmp);
        // The rootfs has what the default binds need, so only the -b binds below are missing.
        for (String d : new String[] {"proc", "dev", "sys"}) Files.createDirectories(t.rootfs.resolve(d));
        hostDir = Files.createDirectories(tmp.resolve("hostdir"));
        Files.writeString(hostDir.resolve("inside"), "bound\n");
    }

    private GuestView view(Bind... binds) {
        GuestView.Builder b = GuestView.builder(t.rootfs.toString()).glueDir(t.work.resolve("glue").toString());
        for (Bind bind : binds) b.bind(bind);
        return b.build();
    }

    private TracedRun.Result run(GuestView view, String... argv) throws Exception {
        return t.run(view, Handlers.standard(Arches.X86_64), "/", c -> { }, argv);
    }

    @Test
    void lsOfTheParentsOfMissingBindLocationsShowsThem() throws Exception {
        GuestView view = view(new Bind(hostDir.toString(), "/a/b/c"), new Bind(hostDir.toString(), "/newdir"),
                new Bind(hostDir.toString(), "/usr/extra"), new Bind(hostDir.toString(), "/etc"));
        TracedRun.Result r = run(view, "/bin/sh", "-c", "ls /; echo --; ls /a; echo --; ls /a/b; echo --; ls /a/b/c; "
                + "echo --; ls /usr; echo --; ls -d /a /newdir /usr/extra; ls -la / | grep -c ' etc$'; "
                + "cd /a/b && ls -a . | tr '\\n' ' ' && stat -c %F ./. ../b/.");
        assertEquals("a\nbin\ndev\netc\nnewdir\nproc\nsys\ntmp\nusr\n--\nb\n--\nc\n--\ninside\n--\nbin\nextra\n--\n"
                + "/a\n/newdir\n/usr/extra\n1\n. .. c directory\ndirectory\n", r.output());
        assertEquals(0, r.exitCode(), r.output());
        assertTrue(!Files.exists(t.rootfs.resolve("a")) && !Files.exists(t.rootfs.resolve("newdir")), "rootfs untouched");
    }

    @Test
    void everyPassOverTheDirectoryListsTheAddedNamesOnceAsDirectories() throws Exception {
        TracerProgramsTest.compile(tmp, t, "listing_loop.c", "listing_loop");
        GuestView view = view(new Bind(hostDir.toString(), "/a/b/c"), new Bind(hostDir.toString(), "/tmp"));
        TracedRun.Result r = run(view, "/bin/listing_loop", "/");
        assertEquals("../\n./\na/\nbin/\ndev/\netc/\nproc/\nsys/\ntmp/\nusr/\n", r.output());
        assertEquals(0, r.exitCode());
        assertTrue(r.stops() >= 2000, "each getdents64 of / is trapped: saw " + r.stops() + " stops");
    }

    @Test
    void theOldGetdentsListsTheAddedNamesToo() throws Exception {
        TracerProgramsTest.compile(tmp, t, "listing_loop.c", "listing_loop");
        GuestView view = view(new Bind(hostDir.toString(), "/a/b/c"), new Bind(hostDir.toString(), "/newdir"));
        TracedRun.Result r = run(view, "/bin/listing_loop", "/", "old");
        assertEquals("../\n./\na/\nbin/\ndev/\netc/\nnewdir/\nproc/\nsys/\ntmp/\nusr/\n", r.output());
        assertEquals(0, r.exitCode());
    }

    @Test
    void withoutBindsOntoMissingLocationsGetdentsIsNotTrapped() throws Exception {
        TracerProgramsTest.compile(tmp, t, "listing_loop.c", "listing_loop");
        GuestView view = view(new Bind(hostDir.toString(), "/tmp"));
        TracedRun.Result r = run(view, "/bin/listing_loop", "/");
        assertEquals("../\n./\nbin/\ndev/\netc/\nproc/\nsys/\ntmp/\nusr/\n", r.output());
        // 2000 getdents64 calls; start-up costs a few dozen stops.
        assertTrue(r.stops() < 500, "getdents64 must not stop: saw " + r.stops() + " stops");
    }
}
