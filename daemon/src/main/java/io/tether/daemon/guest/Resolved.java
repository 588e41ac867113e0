package io.tether.daemon.guest;

/**
 * A guest path resolved as chroot would. {@code hostPath} is what to hand the kernel: it keeps a
 * trailing slash and a final "." so the kernel applies the same checks it would to the guest path.
 * {@code kind} is null when the final component does not exist (creation is still possible).
 * {@code opaque} marks a /proc magic link the kernel must follow itself (pipe:[N], or a file outside
 * the guest).
 */
public record Resolved(String guestPath, String hostPath, FileKind kind, boolean opaque) {
    public boolean exists() {
        return kind != null;
    }
}
