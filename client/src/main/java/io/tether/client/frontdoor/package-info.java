/**
 * Warm start without a JVM start: the native front end and the resident front door.
 *
 * <pre>
 *  bin/tether ─exec─▶ tether-fe (C) ── Unix socket: request + fds (SCM_RIGHTS), signals ──▶ FrontDoor (JVM)
 *                                   ◀── A accepted / F fall back / S stop now / X exit status ──  │
 *                                                                          DoorSession per front end
 *                                                             ClientSession on the passed fds (BorrowedIo)
 *                                                                 └─ control agent (WarmConnections) ─▶ tetherd
 * </pre>
 *
 * <p>Life of a door: a JVM {@code tether run} of an ssh or stdio-command target with
 * {@code --control auto} starts one ({@link io.tether.client.frontdoor.FrontDoorLauncher},
 * {@code tether frontdoor}, detached) when none holds {@code frontdoor-STAMP.lock} in the control
 * directory; STAMP names the client jar's build ({@link io.tether.client.frontdoor.FrontDoorPaths}).
 * It exits after the idle time without sessions, when its socket is removed, or when the jar was
 * rebuilt. Front ends check the directory is theirs (0700), the door checks the peer's uid.
 *
 * <p>The door serves only what it can do exactly as the JVM client would
 * ({@link io.tether.client.cli.FrontDoorPlan}); otherwise it answers F before touching anything
 * and the front end execs the JVM client with the same arguments.
 */
package io.tether.client.frontdoor;
