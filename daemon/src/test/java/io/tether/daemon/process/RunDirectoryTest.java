package io.tether.daemon.process;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The gate directory guards the tracer's attach: nobody else may open a gate FIFO. */
class RunDirectoryTest {
    @TempDir
    Path tmp;

    @Test
    void createsMissingDirectoriesPrivate() throws IOException {
        Path run = tmp.resolve("a/b/run");
        Spawner.privateDirectory(run);
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(run)));
    }

    @Test
    void tightensAnOwnDirectoryOpenToOthers() throws IOException {
        Path run = Files.createDirectory(tmp.resolve("run"));
        Files.setPosixFilePermissions(run, PosixFilePermissions.fromString("rwxrwxrwx"));
        Spawner.privateDirectory(run);
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(run)));
    }

    @Test
    void refusesASymlinkedRunDirectory() throws IOException {
        Path real = Files.createDirectory(tmp.resolve("elsewhere"));
        Path run = Files.createSymbolicLink(tmp.resolve("run"), real);
        IOException e = assertThrows(IOException.class, () -> Spawner.privateDirectory(run));
        assertTrue(e.getMessage().contains("refusing run directory"), e.getMessage());
    }

    @Test
    void refusesAParentOthersCanWriteWithoutSticky() throws IOException {
        Path shared = Files.createDirectory(tmp.resolve("shared"));
        Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxrwxrwx"));
        IOException e = assertThrows(IOException.class, () -> Spawner.privateDirectory(shared.resolve("run")));
        assertTrue(e.getMessage().contains("writable by others"), e.getMessage());
    }
}
