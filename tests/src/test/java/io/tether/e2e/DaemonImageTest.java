package io.tether.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.images.builder.ImageFromDockerfile;
import org.testcontainers.junit.jupiter.Testcontainers;
import org.testcontainers.utility.MountableFile;

/**
 * The device image of deploy/Dockerfile runs tetherd, and the client reaches it. Skipped where
 * no Docker engine is reachable; the namespace tests cover the same behaviour without Docker.
 */
@Testcontainers(disabledWithoutDocker = true)
@Timeout(600)
class DaemonImageTest {

    @Test
    void clientRunsACommandInTheDaemonImage() throws Exception {
        Path root = TetherHome.root();
        TetherHome.ensureBuilt();
        Path dir = TetherHome.workDir("image");
        Path key = dir.resolve("id_ed25519");
        TargetHost.generateKey(key);
        ImageFromDockerfile image = new ImageFromDockerfile("tether-e2e-tetherd", true)
                // the build context mirrors the repository layout that deploy/Dockerfile COPYs from
                .withFileFromPath("Dockerfile", root.resolve("deploy/Dockerfile"))
                .withFileFromPath("bin/tetherd", root.resolve("bin/tetherd"))
                .withFileFromPath("bin/.launcher-lib", root.resolve("bin/.launcher-lib"))
                .withFileFromPath("daemon/target/tetherd.jar", root.resolve("daemon/target/tetherd.jar"))
                .withFileFromPath("daemon/target/lib", root.resolve("daemon/target/lib"));
        try (GenericContainer<?> container = new GenericContainer<>(image)
                .withCopyToContainer(MountableFile.forHostPath(Path.of(key + ".pub")), "/etc/tetherd/authorized_keys")
                .withExposedPorts(2222)
                .waitingFor(Wait.forListeningPort())) {
            container.start();
            Exec.Result r = Exec.run(Duration.ofSeconds(120), TetherHome.tether().toString(), "run", "--control", "no",
                    "-t", "ssh://root@" + container.getHost() + ":" + container.getMappedPort(2222),
                    "-i", key.toString(), "--known-hosts", dir.resolve("known_hosts").toString(), "--accept-new-host-key",
                    "--", "sh", "-c", "echo in-image; exit 4");
            assertEquals(4, r.exit(), () -> r + "\n--- container ---\n" + container.getLogs());
            assertEquals("in-image\n", r.out());
            Files.deleteIfExists(dir.resolve("known_hosts"));
        }
    }
}
