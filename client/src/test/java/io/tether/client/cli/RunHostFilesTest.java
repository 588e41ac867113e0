package io.tether.client.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.tether.client.TetherException;
import io.tether.client.files.FileServer;
import io.tether.client.session.RunSpec;
import io.tether.client.targets.Target;
import io.tether.protocol.proto.FilesOpen;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code tether run -r ROOTFS} on a remote target serves ROOTFS from this host ("No NFS"); on local it does not. */
class RunHostFilesTest {
    @TempDir Path tmp;

    static Target ssh() {
        return new Target("ssh://root@h:22", Target.Kind.SSH, "root", "h", 22, null, null, false, null, Map.of(), Duration.ofSeconds(1));
    }

    static RunSpec spec(String root, List<String> binds) {
        return RunSpec.of(List.of("true"), List.of()).withGuest(new RunSpec.Guest(root, binds, false));
    }

    @Test
    void aRemoteTargetGetsTheRootfsAndBindsAsExports() throws Exception {
        Path rootfs = Files.createDirectory(tmp.resolve("rootfs"));
        Path src = Files.createDirectory(tmp.resolve("src"));
        Path one = Files.writeString(tmp.resolve("one.conf"), "x");
        try (FileServer files = RunCommand.hostFiles(ssh(), spec(rootfs.toString(), List.of(src + ":/src", one.toString())))) {
            FilesOpen open = files.filesOpen();
            assertEquals(3, open.getExportsCount());
            assertEquals("/", open.getExports(0).getGuestPath().toStringUtf8());
            assertEquals("/src", open.getExports(1).getGuestPath().toStringUtf8());
            assertEquals(one.toString(), open.getExports(2).getGuestPath().toStringUtf8(), "GUEST defaults to HOST");
            assertEquals(List.of(0, 1, 2), open.getExportsList().stream().map(e -> e.getId()).toList());
        }
    }

    @Test
    void aLocalTargetOrNoRootfsServesNothing() throws Exception {
        assertNull(RunCommand.hostFiles(Target.local(), spec(tmp.toString(), List.of())));
        assertNull(RunCommand.hostFiles(ssh(), RunSpec.of(List.of("true"), List.of())));
    }

    @Test
    void aMissingOrUnusableRootfsOrBindSourceIsAClearErrorBeforeAnythingRuns() throws Exception {
        TetherException e = assertThrows(TetherException.class, () -> RunCommand.hostFiles(ssh(), spec(tmp.resolve("nope").toString(), List.of())));
        assertEquals("rootfs " + tmp.resolve("nope") + ": no such directory", e.getMessage());
        Path file = Files.writeString(tmp.resolve("file"), "x");
        e = assertThrows(TetherException.class, () -> RunCommand.hostFiles(ssh(), spec(file.toString(), List.of())));
        assertEquals("rootfs " + file + " is not a directory", e.getMessage());
        e = assertThrows(TetherException.class, () -> RunCommand.hostFiles(ssh(), spec(tmp.toString(), List.of(tmp.resolve("gone") + ":/x"))));
        assertTrue(e.getMessage().startsWith("bind source " + tmp.resolve("gone") + ": no such"), e.getMessage());
    }

    @Test
    void theCommandLineReportsABadRootfsAsTether255BeforeConnecting() {
        java.io.PrintStream err = System.err;
        java.io.ByteArrayOutputStream captured = new java.io.ByteArrayOutputStream();
        int status;
        System.setErr(new java.io.PrintStream(captured, true));
        try {
            // Host h.invalid does not resolve: a connection attempt would say so instead.
            status = io.tether.client.Tether.execute(new String[] {"run", "-t", "ssh://root@h.invalid:22", "--control", "no", "-r",
                    tmp.resolve("nope").toString(), "true"});
        } finally {
            System.setErr(err);
        }
        assertEquals(255, status);
        assertEquals("tether: rootfs " + tmp.resolve("nope") + ": no such directory\n", captured.toString());
    }
}
