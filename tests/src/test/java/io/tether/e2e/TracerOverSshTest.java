package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The guest fields travel in the RunRequest: {@code -r}, {@code -b} and a guest {@code -w} work over ssh:// as on local. */
@Timeout(120)
class TracerOverSshTest {
    @RegisterExtension
    static final TargetHostExtension TARGET = new TargetHostExtension();

    private static final Duration T = Duration.ofSeconds(60);
    static GuestRootfs fs;

    @BeforeAll
    static void rootfs() {
        fs = GuestRootfs.build("tracer-over-ssh", false);
    }

    @Test
    void aGuestCommandRunsOnTheTargetWithItsFdsCwdBindsAndExitStatus() throws Exception {
        java.nio.file.Path data = java.nio.file.Files.createDirectories(fs.dir.resolve("data"));
        java.nio.file.Files.writeString(data.resolve("f"), "bound\n");
        Exec.Result r = TARGET.host().run("/bin/sh", "-c", "cat /etc/passwd; pwd; readlink /proc/self/exe; cat /mnt/f; "
                        + "wc -c; echo to-stderr >&2; exit 7")
                .option("-r", fs.root.toString(), "-w", "/sublink", "-b", data + ":/mnt", "-e", "PATH=/bin")
                .exec(T, "twelve bytes".getBytes(StandardCharsets.UTF_8));
        assertEquals(7, r.exit(), r::toString);
        assertEquals("root:x:0:0:guest root:/root:/bin/sh\n/sublink\n/bin/busybox\nbound\n12\n", r.out(), r::toString);
        assertEquals("to-stderr\n", r.err(), r::toString);
    }

    @Test
    void argv0NamesTheProgramAsItSeesItselfTracedOrNot() {
        Exec.Result traced = TARGET.host().run("/bin/busybox", "traced")
                .option("-r", fs.root.toString(), "--argv0", "echo").exec(T);
        assertEquals("traced\n", traced.out(), traced::toString); // busybox runs the applet its argv[0] names
        Exec.Result plain = TARGET.host().run("/bin/busybox", "plain").option("--argv0=echo").exec(T);
        assertEquals("plain\n", plain.out(), plain::toString);
        Exec.Result without = TARGET.host().run("/bin/busybox", "echo", "as before").exec(T);
        assertEquals("as before\n", without.out(), without::toString);
    }

    @Test
    void aMissingRootfsOnTheTargetIsTethersOwnFailure() {
        Exec.Result r = TARGET.host().run("/bin/true").option("-r", fs.dir.resolve("missing").toString()).exec(T);
        assertEquals(255, r.exit(), r::toString);
        assertTrue(r.err().startsWith("tether: ") && r.err().contains("missing"), r::toString);
    }
}
