/**
 * Warm connection reuse, like ssh's ControlMaster.
 *
 * <pre>
 *  tether run (front end)          tether agent (one per target)             tetherd
 *  CLIENT mux ── Unix socket ──▶ SERVER mux ─ FrontEndRelay ─ CLIENT mux ── SSH / stdio ──▶ SERVER mux
 *                                  (one per front end)   (Splice per stream)    (the one upstream)
 * </pre>
 *
 * <p>Life of an agent: {@link io.tether.client.control.ControlClient} finds no socket and starts
 * one through {@link io.tether.client.control.AgentProcess} ({@code tether agent}, detached); the
 * agent takes {@code KEY.lock} (or says BUSY), connects upstream (or says FAIL and why), binds
 * {@code KEY.sock}, says READY. It ends when the upstream is lost (front ends are cut off and
 * report a lost connection), after {@code --control-persist} seconds with no front end, when its
 * socket file is removed, or on SIGTERM; it deletes the socket first. See
 * {@link io.tether.client.control.ControlPaths} for where the files live.
 *
 * <p>Relaying: every stream a front end opens is opened upstream with the same StreamOpen
 * (a RunRequest's fd stream ids rewritten to upstream ids) and spliced both ways: messages,
 * bytes with flow control end to end, ends and resets. A front end that goes away resets its
 * upstream streams, so the daemon kills its processes.
 */
package io.tether.client.control;
