package io.tether.daemon.files;

/** One tree the client serves: the rootfs (guest path "/", id 0) or a bind. */
public record HostExport(int id, String guestPath, boolean readOnly, String cacheKey) {
}
