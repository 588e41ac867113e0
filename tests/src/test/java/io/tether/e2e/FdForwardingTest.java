package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Descriptors beyond 0-2 that the caller hands to tether keep their number and direction remotely. */
@Timeout(120)
class FdForwardingTest {
    @RegisterExtension
    static final TargetHostExtension TARGET = new TargetHostExtension();

    private static final Duration T = Duration.ofSeconds(60);

    @Test
    void fd3WrittenRemotelyLandsInTheLocalFile() throws IOException {
        Path log = TARGET.host().dir.resolve("fd3.log");
        Exec.Result r = TARGET.host().run("sh", "-c", "echo to-fd3 >&3; echo to-stdout")
                .execInShell(T, "{TETHER} 3>" + Exec.quote(log.toString()));
        assertEquals(0, r.exit(), r::toString);
        assertEquals("to-stdout\n", r.out());
        assertEquals("to-fd3\n", Files.readString(log));
    }

    @Test
    void fd4IsReadRemotelyFromTheLocalFile() throws IOException {
        Path input = TARGET.host().dir.resolve("fd4.bin");
        byte[] data = new byte[1 << 20];
        new Random(4).nextBytes(data);
        Files.write(input, data);
        Exec.Result r = TARGET.host().run("sh", "-c", "cat <&4")
                .execInShell(T, "{TETHER} 4<" + Exec.quote(input.toString()));
        assertEquals(0, r.exit(), r::toString);
        assertArrayEquals(data, r.stdout());
    }

    @Test
    void directionIsKeptWriteOnlyFdCannotBeReadRemotely() throws IOException {
        Path log = TARGET.host().dir.resolve("wo.log");
        // Reading a write-only descriptor fails on the target as it would locally.
        Exec.Result r = TARGET.host().run("sh", "-c", "if cat <&3 >/dev/null 2>&1; then echo readable; else echo not-readable; fi")
                .execInShell(T, "{TETHER} 3>" + Exec.quote(log.toString()));
        assertEquals(0, r.exit(), r::toString);
        assertEquals("not-readable\n", r.out());
    }

    @Test
    void pipePairCarriesDataBothWays() {
        // fd 6: a pipe the remote reads (tokens in); fd 8: a pipe the remote writes (results out).
        // FIFOs rather than process substitution, whose extra /dev/fd/63 would be forwarded too.
        String d = Exec.quote(TARGET.host().dir.toString());
        String script = "cd " + d + " && rm -f in.fifo out.fifo && mkfifo in.fifo out.fifo"
                + " && { printf abc > in.fifo & tr a-z A-Z < out.fifo > pair.out & }"
                + " && {TETHER} 6<in.fifo 8>out.fifo; rc=$?; wait; echo rc=$rc; cat pair.out";
        Exec.Result r = TARGET.host().run("sh", "-c", "head -c 3 <&6 >&8; echo done")
                .execInShell(T, script);
        assertEquals(0, r.exit(), r::toString);
        assertEquals("done\nrc=0\nABC", r.out());
    }

    @Test
    void jobserverPipePairKeepsEveryTokenTheRemoteDidNotTake() {
        // make -jN's jobserver: four tokens in one FIFO, passed read-only as fd 6 and write-only as
        // fd 8. The remote takes one and gives it back; all four must be in the pipe after the run
        // (the client reads fd 6 eagerly, so the daemon returns what the remote left unread).
        String d = Exec.quote(TARGET.host().dir.toString());
        String script = "cd " + d + " && rm -f tok.fifo && mkfifo tok.fifo && exec 7<>tok.fifo && printf abcd >&7"
                + " && {TETHER} 6<tok.fifo 8>tok.fifo 7>&-; echo rc=$?"
                + "; timeout 1 dd bs=1 count=4 <&7 2>/dev/null | wc -c | tr -d ' '";
        Exec.Result r = TARGET.host().run("sh", "-c", "dd bs=1 count=1 <&6 2>/dev/null >&8")
                .execInShell(T, script);
        assertEquals(0, r.exit(), r::toString);
        assertEquals("rc=0\n4\n", r.out(), r::toString);
    }

    @Test
    void readWriteFdIsForwardedBothWays() throws IOException {
        Path file = TARGET.host().dir.resolve("rw.txt");
        Files.writeString(file, "hello\n");
        // The remote reads the line through fd 5, then appends through the same fd.
        Exec.Result r = TARGET.host().run("sh", "-c", "read line <&5; echo \"read:$line\"; echo appended >&5")
                .execInShell(T, "{TETHER} 5<>" + Exec.quote(file.toString()));
        assertEquals(0, r.exit(), r::toString);
        assertEquals("read:hello\n", r.out());
        assertEquals("hello\nappended\n", Files.readString(file));
    }

    @Test
    void manyForwardedFdsKeepTheirNumbers() throws IOException {
        Path dir = TARGET.host().dir;
        StringBuilder redirs = new StringBuilder();
        StringBuilder remote = new StringBuilder();
        for (int fd = 3; fd <= 9; fd++) {
            redirs.append(' ').append(fd).append('>').append(Exec.quote(dir.resolve("many" + fd).toString()));
            remote.append("echo fd").append(fd).append(" >&").append(fd).append("; ");
        }
        Exec.Result r = TARGET.host().run("sh", "-c", remote.toString()).execInShell(T, "{TETHER}" + redirs);
        assertEquals(0, r.exit(), r::toString);
        for (int fd = 3; fd <= 9; fd++) {
            assertEquals("fd" + fd + "\n", Files.readString(dir.resolve("many" + fd)), "fd " + fd);
        }
    }
}
