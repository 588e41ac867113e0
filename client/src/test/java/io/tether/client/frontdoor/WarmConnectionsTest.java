package io.tether.client.frontdoor;

import io.tether.client.Connector;
import io.tether.client.connect.Connection;
import io.tether.client.connect.LocalConnection;
import io.tether.client.control.ControlAgent;
import io.tether.client.control.ControlPaths;
import io.tether.client.targets.Target;
import io.tether.daemon.session.DaemonOptions;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Agent connections kept between sessions: reused only when the session ended cleanly. */
class WarmConnectionsTest {
    @TempDir
    Path dir;
    private ControlAgent agent;
    private Connection upstream;
    private ControlPaths paths;
    private final WarmConnections connections = new WarmConnections();

    @BeforeEach
    void start() throws Exception {
        upstream = LocalConnection.open(Connector.clientConfig(), DaemonOptions.defaults().withRunDir(dir.resolve("run")));
        paths = new ControlPaths(dir.resolve("ctl"), "k");
        paths.prepare();
        agent = new ControlAgent(upstream, paths.socket(), Duration.ofMinutes(1));
        agent.start();
    }

    @AfterEach
    void stop() {
        connections.closeAll();
        agent.close();
    }

    @Test
    void aCleanlyEndedSessionsConnectionServesTheNext() throws Exception {
        WarmConnections.Lease first = connections.take(Target.local(), paths);
        assertEquals(1, first.uses);
        connections.release(paths, first, true);
        WarmConnections.Lease second = connections.take(Target.local(), paths);
        assertSame(first, second);
        assertEquals(2, second.uses);
        assertTrue(second.connection.mux().isOpen());
    }

    @Test
    void anAbandonedSessionsConnectionIsClosedNotReused() throws Exception {
        WarmConnections.Lease first = connections.take(Target.local(), paths);
        connections.release(paths, first, false);
        assertFalse(first.connection.mux().isOpen());
        WarmConnections.Lease second = connections.take(Target.local(), paths);
        assertNotSame(first, second);
    }

    @Test
    void concurrentSessionsGetConnectionsOfTheirOwn() throws Exception {
        WarmConnections.Lease a = connections.take(Target.local(), paths);
        WarmConnections.Lease b = connections.take(Target.local(), paths);
        assertNotSame(a.connection, b.connection);
        assertEquals(2, agent.frontEndCount());
    }

    @Test
    void aConnectionIsRetiredAfterItsLastUse() throws Exception {
        WarmConnections.Lease l = connections.take(Target.local(), paths);
        l.uses = WarmConnections.MAX_USES;
        connections.release(paths, l, true);
        assertFalse(l.connection.mux().isOpen());
    }

    @Test
    void anIdleConnectionWhoseAgentEndedIsDropped() throws Exception {
        WarmConnections.Lease l = connections.take(Target.local(), paths);
        connections.release(paths, l, true);
        agent.close(); // removes the socket, then says goodbye to its front ends
        agent = new ControlAgent(LocalConnection.open(Connector.clientConfig(), DaemonOptions.defaults().withRunDir(dir.resolve("run2"))),
                paths.socket(), Duration.ofMinutes(1));
        agent.start();
        WarmConnections.Lease next = connections.take(Target.local(), paths);
        assertNotSame(l, next);
        assertTrue(next.connection.mux().isOpen());
    }

    @Test
    void anAgentWithAnIdleDoorConnectionStillEndsWhenItsUpstreamIsLost() throws Exception {
        WarmConnections.Lease l = connections.take(Target.local(), paths);
        connections.release(paths, l, true);
        upstream.close();
        assertEquals(ControlAgent.Outcome.UPSTREAM_LOST, agent.ended().get(10, java.util.concurrent.TimeUnit.SECONDS));
    }

    @Test
    void localConnectionsShareTheDoorsOwnDaemonAndAreReusedLikeAgentOnes() throws Exception {
        WarmConnections own = new WarmConnections(DaemonOptions.defaults().withRunDir(dir.resolve("local-run")));
        try {
            WarmConnections.Lease a = own.takeLocal();
            WarmConnections.Lease b = own.takeLocal();
            assertNotSame(a.connection, b.connection);
            own.release(null, a, true);
            assertSame(a, own.takeLocal());
            own.release(null, b, false);
            assertFalse(b.connection.mux().isOpen());
            assertTrue(a.connection.mux().isOpen(), "closing one connection leaves the daemon to the others");
        } finally {
            own.closeAll();
        }
        org.junit.jupiter.api.Assertions.assertThrows(io.tether.client.TetherException.class, own::takeLocal);
    }
}
