package io.tether.daemon.files;

/**
 * lstat-shaped attributes of one file on the client's host, as the file server reported them
 * (tether.proto {@code Attr}). Times in nanoseconds since the epoch.
 */
public record HostAttr(int mode, int uid, int gid, long size, long atimeNs, long mtimeNs, long ctimeNs,
                       long ino, long dev, int nlink, long rdev, long blocks) {
    public static final int S_IFMT = 0170000, S_IFDIR = 0040000, S_IFREG = 0100000, S_IFLNK = 0120000;

    public boolean isDirectory() { return (mode & S_IFMT) == S_IFDIR; }

    public boolean isRegular() { return (mode & S_IFMT) == S_IFREG; }

    public boolean isSymlink() { return (mode & S_IFMT) == S_IFLNK; }

    /** Whether cached contents taken with {@code other} are still the host's (size, mtime, inode, ctime). */
    public boolean sameContentAs(HostAttr other) {
        return other != null && size == other.size && mtimeNs == other.mtimeNs && ino == other.ino && ctimeNs == other.ctimeNs;
    }
}
