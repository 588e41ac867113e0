/**
 * Warm start without a JVM start: the native front end and the resident front door.
 *
 * <pre>
 *  bin/tether ─exec─▶ tether-fe (C) ── Unix socket: request + fds (SCM_RIGHTS), signals ──▶ FrontDoor (JVM)
 *                                   ◀── A accepted / F fall back / S stop now / X exit status ──  │
 *                                                                          DoorSession per front end
 *                                                             ClientSession on the passed fds (BorrowedIo)
 *                                                                 ├─ control agent (WarmConnections) ─▶ tetherd
 *                                                                 └─ target local: DaemonCore in the door (in-memory
 *                                                                    pipe, LocalConnection.attach); tracers run here
 * </pre>
 *
 * <p>Life of a door: a JVM {@code tether run} with {@code --control auto} (any target) starts one
 * ({@link io.tether.client.frontdoor.FrontDoorLauncher}, {@code tether frontdoor}, detached) when
 * none holds {@code frontdoor-STAMP.lock} in the control directory; STAMP names the build (client
 * jar, daemon and protocol jars) and the caller's identity: namespaces, root, credentials, limits,
 * cgroup ({@link io.tether.client.frontdoor.FrontDoorPaths}), since the door's local processes are
 * its own children. It exits after the idle time without sessions, when its socket is removed, or
 * when the build was rebuilt. Front ends check the directory is theirs (0700), the door checks the
 * peer's uid and identity.
 *
 * <p>What differs for target {@code local}: the daemon's own log lines (a refused syscall, for
 * one) go to the door's log, not the caller's stderr; and a traced background process that
 * outlives its session keeps running until it ends or the door exits, where a JVM client's exit
 * would kill it (PTRACE_O_EXITKILL).
 *
 * <p>The door serves only what it can do exactly as the JVM client would
 * ({@link io.tether.client.cli.FrontDoorPlan}); otherwise it answers F before touching anything
 * and the front end execs the JVM client with the same arguments.
 */
package io.tether.client.frontdoor;
