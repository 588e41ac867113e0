package io.tether.e2e;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * One {@link TargetHost} per test class (a daemon start costs a JVM and a handshake):
 * {@code @RegisterExtension static final TargetHostExtension TARGET = new TargetHostExtension();}
 * The class is skipped, visibly, where namespaces are unavailable. After each test, no process
 * of any session may be left on the target (the daemon's no-orphans promise).
 */
final class TargetHostExtension implements BeforeAllCallback, AfterEachCallback, AfterAllCallback {
    /** SIGHUP, SIGKILL 2 s later, plus slack for a loaded machine. */
    private static final Duration ORPHAN_GRACE = Duration.ofSeconds(8);

    private TargetHost host;

    @Override
    public void beforeAll(ExtensionContext context) {
        host = TargetHost.start(context.getRequiredTestClass().getSimpleName());
    }

    @Override
    public void afterEach(ExtensionContext context) {
        if (host == null) {
            return;
        }
        if (!Poll.within(ORPHAN_GRACE, () -> host.targetProcesses().isEmpty())) {
            Map<Long, String> left = host.targetProcesses();
            left.keySet().forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
            throw new AssertionError("processes left on the target after the test: " + left);
        }
    }

    @Override
    public void afterAll(ExtensionContext context) {
        if (host != null) {
            host.close();
            host = null;
        }
    }

    TargetHost host() {
        if (host == null) {
            throw new IllegalStateException("no target host (beforeAll did not run or failed)");
        }
        return host;
    }
}
