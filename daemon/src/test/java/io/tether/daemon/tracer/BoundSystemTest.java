package io.tether.daemon.tracer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

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
 * A guest made of the host's own /usr and /etc bound into an empty merged-/usr root: every
 * dynamically linked program then runs through the guest loader (guest /lib64/ld-linux-x86-64.so.2 is
 * not the host path of the same file), with real programs: bash pipelines, python3, gcc.
 */
class BoundSystemTest {
    @TempDir Path tmp;
    TracedRun t;
    GuestView view;

    @BeforeEach
    void guest() throws Exception {
        assumeTrue(Files.isDirectory(Path.of("/usr/lib64")) && Files.isExecutable(Path.of("/usr/bin/bash")), "no merged /usr");
        t = new TracedRun(tmp);
        Path root = Files.createDirectories(tmp.resolve("sysroot"));
        for (String link : new String[] {"bin", "lib", "lib64", "sbin"}) {
            Files.createSymbolicLink(root.resolve(link), Path.of("usr/" + link));
        }
        Files.createDirectories(root.resolve("tmp"));
        Files.createDirectories(root.resolve("work"));
        view = GuestView.builder(root.toString()).glueDir(tmp.resolve("glue").toString())
                .bind(new Bind("/usr", "/usr")).bind(new Bind("/etc", "/etc")).build();
    }

    private TracedRun.Result bash(String script) throws Exception {
        return t.run(view, Handlers.standard(Arches.X86_64), "/work", c -> { }, "/bin/bash", "-c", script);
    }

    @Test
    void bashPipelinesAndCoreutilsRunThroughTheGuestLoader() throws Exception {
        TracedRun.Result r = bash("set -o pipefail; seq 1 100 | sort -rn | head -3 | tr '\\n' ' '; echo; readlink /proc/self/exe;"
                + " pwd; ls /; echo $BASH_VERSION | cut -c1");
        // usr, etc and the default binds are missing from the guest root: listed all the same.
        assertEquals("100 99 98 \n/usr/bin/readlink\n/work\nbin\ndev\netc\nlib\nlib64\nproc\nsbin\nsys\ntmp\nusr\nwork\n5\n",
                r.output());
    }

    @Test
    void python3Runs() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/python3")), "no python3");
        TracedRun.Result r = bash("python3 -c 'import os, sys, json; print(json.dumps([os.getcwd(), sys.executable]))'");
        assertEquals("[\"/work\", \"/bin/python3\"]\n", r.output()); // PATH=/bin:/usr/bin
    }

    @Test
    void gccCompilesAndTheResultRuns() throws Exception {
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/gcc")), "no gcc");
        TracedRun.Result r = bash("printf '#include <stdio.h>\\nint main(void){puts(\"hello\");return 3;}\\n' > hello.c"
                + " && gcc hello.c -o hello && ./hello; echo $?");
        assertEquals("hello\n3\n", r.output());
        assertEquals(0, r.exitCode());
    }
}
