package io.tether.daemon.files;

import java.util.List;

/** A whole host directory: its own attributes and every entry but "." and "..". */
public record HostListing(HostAttr dir, List<HostDirEntry> entries) {
}
