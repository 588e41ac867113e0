package io.tether.daemon.files;

/** One entry of a host directory listing, with its attributes (READDIRPLUS) and, for a symlink, its target. */
public record HostDirEntry(String name, HostAttr attr, String linkTarget) {
}
