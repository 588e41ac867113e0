package io.tether.daemon.guest;

/** What a path names, without following a final symlink. */
public enum FileKind {
    DIRECTORY, SYMLINK, REGULAR, OTHER;

    /** From the S_IFMT bits of a st_mode. */
    public static FileKind ofMode(int mode) {
        switch (mode & 0170000) {
            case 0040000: return DIRECTORY;
            case 0120000: return SYMLINK;
            case 0100000: return REGULAR;
            default: return OTHER;
        }
    }
}
