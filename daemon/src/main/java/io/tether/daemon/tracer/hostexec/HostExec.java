package io.tether.daemon.tracer.hostexec;

/** What a tracer needs for host execution: the policy that picks the execs and the executor that runs them. */
public record HostExec(HostExecPolicy policy, HostExecutor executor) {
    private static final HostExec OFF = new HostExec(HostExecPolicy.off(), HostExecutor.unavailable("host exec is off"));

    public static HostExec off() {
        return OFF;
    }

    public boolean enabled() {
        return policy.enabled();
    }
}
