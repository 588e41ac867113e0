/**
 * The host-side client, {@code tether}.
 *
 * <ul>
 *   <li>{@link io.tether.client.Tether}: the command line ({@code tether run}, {@code --version},
 *       {@code --help}; the hidden {@code tether agent}).</li>
 *   <li>{@code targets}: what {@code -t} names and the per-user targets file.</li>
 *   <li>{@code env}: the environment policy and the umask.</li>
 *   <li>{@code connect}: ways to a daemon: in-process ({@code local}), SSH with strict host keys,
 *       a stdio command.</li>
 *   <li>{@code control}: the control agent that keeps one warm connection per target.</li>
 *   <li>{@code session}: one remote process session over a mux.</li>
 * </ul>
 */
package io.tether.client;
