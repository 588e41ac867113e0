/**
 * The guest view: what a traced program sees as its file system. A guest root (a host directory),
 * binds over it ({@code -b HOST[:GUEST]}, with the target's {@code /dev}, {@code /proc}, {@code /sys}
 * bound by default) and the one place where guest paths become host paths:
 * {@link io.tether.daemon.guest.GuestView#resolve}, a component-by-component walk that resolves
 * symlinks inside the guest root exactly as the kernel would under chroot (errno-exact). Host paths
 * the kernel reports (readlink of /proc links, getcwd) map back with
 * {@link io.tether.daemon.guest.GuestView#toGuest}.
 *
 * <p>All file access goes through {@link io.tether.daemon.guest.GuestFileAccess}, local today
 * ({@link io.tether.daemon.guest.LocalFileAccess}), served from the host over the channel later.
 * Paths are byte strings carried one char per byte (ISO-8859-1) so no name is mangled.
 */
package io.tether.daemon.guest;
