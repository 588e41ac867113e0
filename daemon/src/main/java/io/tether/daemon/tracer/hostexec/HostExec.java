package io.tether.daemon.tracer.hostexec;

/**
 * What a tracer needs for host execution: the policy that picks the execs, the executor that runs them,
 * and the {@link ParkingProgram} the tracee executes meanwhile (a target path; null: it waits in its old
 * program, as a vfork child that never execs).
 */
public record HostExec(HostExecPolicy policy, HostExecutor executor, String parkingProgram) {
    public HostExec(HostExecPolicy policy, HostExecutor executor) {
        this(policy, executor, null);
    }

    private static final HostExec OFF = new HostExec(HostExecPolicy.off(), HostExecutor.unavailable("host exec is off"));

    public static HostExec off() {
        return OFF;
    }

    public boolean enabled() {
        return policy.enabled();
    }
}
