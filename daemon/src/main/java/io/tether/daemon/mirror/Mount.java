package io.tether.daemon.mirror;

import io.tether.daemon.files.HostExport;

/** One export of a session and the tree mirroring it. */
record Mount(HostExport export, Tree tree) {
    int id() {
        return export.id();
    }

    String guestPath() {
        return export.guestPath();
    }

    /** "id:rel": a path of this export in the maps keyed across exports (read-ahead, write-back, listings kept). */
    String key(String rel) {
        return id() + ":" + rel;
    }

    String pathOf(String rel) {
        return tree.pathOf(rel);
    }
}
