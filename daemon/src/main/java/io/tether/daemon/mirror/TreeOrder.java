package io.tether.daemon.mirror;

import io.tether.daemon.files.HostAttr;
import io.tether.posix.ErrnoException;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A reader going through a tree in a walk's order: {@code find DIR -type f -exec cat {} +}, {@code tar c},
 * {@code cp -r}, {@code md5sum -r}. Its files come in the depth-first order of the mirror (each directory's
 * names in readdir order, a subdirectory's files where its name comes), which is what a walker that
 * opened those directories saw. Once {@link #STREAK} of its reads in a row each came within {@link #LOOK}
 * files after the last, and one of them went on into another directory, the files after it are fetched ahead
 * in that order, across directories, up to a window that doubles per read in order: what per-directory
 * read-ahead cannot see (a small directory's first files, each a round trip the reader waits for, and big
 * files before many reads in their directory). Reads within one directory alone do not start it: an
 * interpreter's imports from a package directory come in its order often enough, and that directory's own
 * read-ahead serves a reader of one directory.
 * Only directories the tracee opened are followed (those are the walk's), and only listed ones (their
 * names are here without a round trip). A read out of order starts over from it. One per session; the
 * tracer threads that report reads share it.
 */
final class TreeOrder {
    /** Regular files after the last one read within which the next read counts as in order (a reader may skip a few). */
    static final int LOOK = 16;
    /** Reads in the walk's order (each within {@link #LOOK} of the last) before fetching ahead: two happen by chance in one directory, three across its end less so. */
    static final int STREAK = 3;
    /** Names looked at per step, at most: a reader far from any order costs a bounded look. */
    static final int MAX_STEPS = 2048;
    private static final long FIRST_WINDOW = 128 << 10;
    static final long MAX_WINDOW = 64 << 20;

    /** What may be fetched ahead; says whether it went ({@code ISSUED}), was not needed ({@code SKIPPED}) or no more may ({@code FULL}). */
    interface Issuer {
        int ISSUED = 0, SKIPPED = 1, FULL = 2;

        int issue(Mount m, String rel, long size);
    }

    /** A place in the walk: the next name to look at is {@code names(dir)[index]}; {@code files} regular files passed since the start. */
    private static final class Pos {
        String dir;
        int index;
        long files;

        Pos(String dir, int index, long files) {
            this.dir = dir;
            this.index = index;
            this.files = files;
        }

        Pos copy() {
            return new Pos(dir, index, files);
        }
    }

    private final Set<String> openedDirs;
    private final Issuer issuer;
    /** The mirror's names per directory as this session first read them (a walker saw those). */
    private final Map<String, List<String>> names = new HashMap<>();
    private Mount mount;
    /** Just after the reader's last file, or null. */
    private Pos reader;
    /** Where fetching ahead stopped. */
    private Pos ahead;
    private int streak;
    /** Whether a read in order was in another directory than the one before it. */
    private boolean crossed;
    /** Files fetched ahead the reader has not passed yet: their places (counted in files) and sizes, in walk order. */
    private final LinkedHashMap<String, long[]> issued = new LinkedHashMap<>();
    private long issuedBytes;

    /** @param openedDirs the directories the tracee opened, by {@link Mount#key} */
    TreeOrder(Set<String> openedDirs, Issuer issuer) {
        this.openedDirs = openedDirs;
        this.issuer = issuer;
    }

    /** The tracee read regular file {@code rel} (news: fetched for it, or ahead of it). */
    synchronized void read(Mount m, String rel) {
        if (mount == null || m.id() != mount.id() || m.tree() != mount.tree()) {
            mount = m;
            names.clear();
            reader = null;
        }
        boolean inOrder = false;
        // The reader's place is in the directory of the file it read last (nextFile and after leave it there).
        String lastDir = reader == null ? null : reader.dir;
        if (reader != null) {
            Pos p = reader.copy();
            int[] steps = {MAX_STEPS};
            for (int i = 0; i < LOOK && !inOrder; i++) {
                String f = nextFile(p, steps);
                if (f == null) break;
                inOrder = f.equals(rel);
            }
            if (inOrder) {
                for (Map.Entry<String, long[]> e; !issued.isEmpty() && passed(p, e = issued.entrySet().iterator().next()); ) {
                    issuedBytes -= e.getValue()[1];
                    issued.remove(e.getKey());
                }
                reader = p;
                if (!Tree.parentOf(rel).equals(lastDir)) crossed = true;
            }
        }
        if (!inOrder) {
            streak = 1; // this read starts one
            crossed = false;
            issued.clear();
            issuedBytes = 0;
            ahead = null;
            reader = after(rel);
            return;
        }
        // Only a reader that went on into the next directory of the walk is walking: an interpreter's imports
        // from one package directory come in its order often enough (and that directory's own read-ahead has them).
        if (++streak < STREAK || !crossed) return;
        if (ahead == null || ahead.files < reader.files) ahead = reader.copy();
        long window = Math.min(MAX_WINDOW, FIRST_WINDOW << Math.min(streak, 20));
        int[] steps = {MAX_STEPS};
        while (issuedBytes < window) {
            Pos before = ahead.copy();
            String f = nextFile(ahead, steps);
            if (f == null) {
                if (steps[0] <= 0) ahead = before; // looked far enough for now: go on from here next time
                return;
            }
            Entry e = m.tree().entries.get(f);
            if (e == null) continue;
            long size;
            synchronized (e) {
                if (e.contents || e.writers > 0 || e.attr == null) continue;
                size = e.attr.size();
            }
            int r = issuer.issue(m, f, size);
            if (r == Issuer.FULL) {
                ahead = before;
                return;
            }
            if (r == Issuer.ISSUED) {
                issued.put(f, new long[] {ahead.files, size});
                issuedBytes += size;
            }
        }
    }

    /** Whether the reader at {@code p} passed {@code e}, a file issued ahead (its value: its place, counted in files, and size). */
    private boolean passed(Pos p, Map.Entry<String, long[]> e) {
        return e.getValue()[0] <= p.files;
    }

    /** The place just after {@code rel}, or null when its directory does not hold it (any more). */
    private Pos after(String rel) {
        String dir = Tree.parentOf(rel);
        List<String> ns = names(dir);
        int i = ns == null ? -1 : ns.indexOf(Tree.nameOf(rel));
        return i < 0 ? null : new Pos(dir, i + 1, 0);
    }

    /**
     * The next regular file from {@code p} on (moving {@code p} past it), descending into listed directories the
     * tracee opened and climbing out of finished ones while their parent was opened too; null at the walk's end
     * or when {@code steps} ran out.
     */
    private String nextFile(Pos p, int[] steps) {
        Tree tree = mount.tree();
        while (steps[0]-- > 0) {
            List<String> ns = names(p.dir);
            if (ns == null) return null;
            if (p.index >= ns.size()) {
                if (p.dir.isEmpty()) return null;
                String parent = Tree.parentOf(p.dir);
                if (!openedDirs.contains(mount.key(parent))) return null;
                List<String> pn = names(parent);
                int i = pn == null ? -1 : pn.indexOf(Tree.nameOf(p.dir));
                if (i < 0) return null;
                p.dir = parent;
                p.index = i + 1;
                continue;
            }
            String rel = Tree.child(p.dir, ns.get(p.index++));
            Entry e = tree.entries.get(rel);
            if (e == null) continue;
            HostAttr a;
            boolean listed;
            synchronized (e) {
                a = e.attr;
                listed = e.listed;
            }
            if (a == null) continue;
            if (a.isDirectory()) {
                if (listed && openedDirs.contains(mount.key(rel))) {
                    p.dir = rel;
                    p.index = 0;
                }
            } else if (a.isRegular()) {
                p.files++;
                return rel;
            }
        }
        return null;
    }

    private List<String> names(String dir) {
        List<String> ns = names.get(dir);
        if (ns == null) {
            try {
                ns = mount.tree().names(dir);
            } catch (ErrnoException e) {
                ns = List.of();
            }
            names.put(dir, ns);
        }
        return ns;
    }
}
