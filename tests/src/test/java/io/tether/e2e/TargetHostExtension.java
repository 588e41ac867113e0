package io.tether.e2e;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * One {@link TargetHost} per test class (a daemon start costs a JVM and a handshake):
 * {@code @RegisterExtension static final TargetHostExtension TARGET = new TargetHostExtension();}
 * The class is skipped, visibly, where namespaces are unavailable.
 */
final class TargetHostExtension implements BeforeAllCallback, AfterAllCallback {
    private TargetHost host;

    @Override
    public void beforeAll(ExtensionContext context) {
        host = TargetHost.start(context.getRequiredTestClass().getSimpleName());
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
