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

    String pathOf(String rel) {
        return tree.pathOf(rel);
    }
}
