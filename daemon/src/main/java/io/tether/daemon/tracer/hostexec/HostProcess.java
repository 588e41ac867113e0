package io.tether.daemon.tracer.hostexec;

import java.util.concurrent.CompletableFuture;

/** A program started on the host by a {@link HostExecutor}. Thread-safe. */
public interface HostProcess {
    /** Completes once when the host process has ended (never exceptionally: a lost one reads as SIGKILL). */
    CompletableFuture<HostExit> exit();

    /** Sends {@code signo} to the host process; nothing once it has ended. */
    void signal(int signo);

    /** For logs: where it runs and its id there. */
    String describe();
}
