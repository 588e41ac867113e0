package io.tether.daemon.guest;

import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The file tree a guest sees: a guest root (a host directory) with binds over it, and the one place
 * where guest paths become host paths. Resolution walks component by component and resolves every
 * symlink inside the guest, as the kernel would under chroot: absolute targets restart at the guest
 * root, ".." stops at "/", more than 40 links give ELOOP, a non-directory in the middle gives
 * ENOTDIR, a trailing slash follows a final link and demands a directory. A bind onto a location
 * missing from the guest root works: its missing ancestors appear as empty "glue" directories.
 *
 * <p>Default binds expose the target's own {@code /dev}, {@code /proc} and {@code /sys}
 * ({@link #DEFAULT_BINDS}); {@link Builder#defaultBinds(boolean)} turns them off. Immutable and
 * thread-safe; every file access goes through one {@link GuestFileAccess}.
 */
public final class GuestView {
    /** Target-local directories bound at the same guest location unless turned off. */
    public static final List<String> DEFAULT_BINDS = List.of("/dev", "/proc", "/sys");
    /** Linux MAXSYMLINKS: the 41st link in one resolution gives ELOOP. */
    public static final int MAX_SYMLINKS = 40;
    public static final int PATH_MAX = 4096, NAME_MAX = 255;

    private static final Pattern PROC_ROOT_LINK = Pattern.compile("\\d+(/task/\\d+)?/root");
    private static final Pattern PROC_EXE_LINK = Pattern.compile("(\\d+)(/task/\\d+)?/exe");

    private final String rootHostPath;
    private final List<Bind> binds;          // longest guest path first
    private final List<Bind> reverse;        // host->guest candidates, longest host path first
    private final String glueHostPath;       // null: no glue, missing bind ancestors stay missing
    private final String procGuestPath;      // where the host's /proc is bound, or null
    private final GuestFileAccess fs;
    private final java.util.Set<String> bindComponentNames;
    /** Guest directory -> names below it that are binds or lie on the way to one (name -> guest path). */
    private final java.util.Map<String, java.util.Map<String, String>> bindEntries;
    private volatile Boolean listingsLackBinds;

    private GuestView(Builder b) {
        this.rootHostPath = realHostPath(GuestPaths.normalizeAbsolute(b.rootHostPath, "guest root"));
        List<Bind> all = new ArrayList<>();
        if (b.defaultBinds) {
            for (String dir : DEFAULT_BINDS) all.add(new Bind(dir, dir));
        }
        for (Bind given : b.binds) {
            Bind bind = new Bind(realHostPath(given.hostPath()), given.guestPath());
            all.removeIf(existing -> existing.guestPath().equals(bind.guestPath()));
            all.add(bind);
        }
        all.removeIf(bind -> bind.guestPath().equals("/"));
        all.sort(Comparator.comparingInt((Bind x) -> x.guestPath().length()).reversed());
        this.binds = List.copyOf(all);
        this.glueHostPath = b.glueHostPath == null ? null : GuestPaths.normalizeAbsolute(b.glueHostPath, "glue dir");
        List<Bind> rev = new ArrayList<>(all);
        rev.add(new Bind(rootHostPath, "/"));
        if (glueHostPath != null) rev.add(new Bind(glueHostPath, "/"));
        rev.sort(Comparator.comparingInt((Bind x) -> x.hostPath().length()).reversed());
        this.reverse = List.copyOf(rev);
        this.procGuestPath = all.stream().filter(x -> x.hostPath().equals("/proc")).map(Bind::guestPath)
                .findFirst().orElse(rootHostPath.equals("/") ? "/proc" : null);
        this.fs = Objects.requireNonNull(b.fs);
        java.util.Set<String> names = new java.util.HashSet<>();
        for (Bind bind : binds) {
            for (String c : bind.guestPath().split("/")) {
                if (!c.isEmpty()) names.add(c);
            }
        }
        this.bindComponentNames = java.util.Set.copyOf(names);
        java.util.Map<String, java.util.Map<String, String>> entries = new java.util.HashMap<>();
        for (Bind bind : binds) {
            String parent = "/";
            for (String c : bind.guestPath().substring(1).split("/")) {
                String child = parent.equals("/") ? "/" + c : parent + "/" + c;
                entries.computeIfAbsent(parent, k -> new java.util.TreeMap<>()).put(c, child);
                parent = child;
            }
        }
        entries.replaceAll((dir, names1) -> java.util.Collections.unmodifiableMap(names1));
        this.bindEntries = java.util.Map.copyOf(entries);
    }

    /**
     * The names a listing of {@code canonicalGuestDir} must show because of binds: each bind directly
     * below it, and each directory on the way to a deeper one (name -> its guest path), whether or
     * not the host directory has an entry of that name. Empty for most directories.
     */
    public java.util.Map<String, String> bindEntriesBelow(String canonicalGuestDir) {
        return bindEntries.getOrDefault(canonicalGuestDir, java.util.Map.of());
    }

    /**
     * Whether some existing guest directory lacks, in its host directory, the entry of a bind below it
     * (or of a glue directory on the way to one): {@code -b HOST:/newdir} with no /newdir in the rootfs.
     * Only then must directory listings be completed. Glue directories need nothing: they are made
     * with their children. Checked once, on first call.
     */
    public boolean listingsLackBinds() {
        Boolean known = listingsLackBinds;
        if (known == null) {
            known = findListingLackingBind();
            listingsLackBinds = known;
        }
        return known;
    }

    private boolean findListingLackingBind() {
        for (java.util.Map.Entry<String, java.util.Map<String, String>> dir : bindEntries.entrySet()) {
            String hostDir = toHost(dir.getKey());
            try {
                if (fs.kind(hostDir) != FileKind.DIRECTORY) continue; // missing (glue) or a symlink
            } catch (ErrnoException e) {
                continue;
            }
            for (String name : dir.getValue().keySet()) {
                try {
                    fs.kind(GuestPaths.rebase("/" + name, "/", hostDir));
                } catch (ErrnoException e) {
                    if (e.errno() == Errno.ENOENT) return true;
                }
            }
        }
        return false;
    }

    /**
     * Whether a directory entry of this name could be a bind location or lie on the way to one, in
     * which case the host directory's own entry is not what the guest sees there.
     */
    public boolean mayBeBindPoint(String name) {
        return bindComponentNames.contains(name);
    }

    /**
     * The kernel reports canonical host paths (getcwd, /proc links), so roots and binds are kept
     * canonical too, or paths below a symlinked root would not map back to the guest.
     */
    private static String realHostPath(String hostPath) {
        try {
            return java.nio.file.Path.of(hostPath).toRealPath().toString();
        } catch (java.io.IOException | RuntimeException e) {
            return hostPath; // missing now: kept as given
        }
    }

    public static Builder builder(String rootHostPath) {
        return new Builder(rootHostPath);
    }

    public String rootHostPath() {
        return rootHostPath;
    }

    /** The binds in effect, defaults included, longest guest path first. */
    public List<Bind> binds() {
        return binds;
    }

    public GuestFileAccess fileAccess() {
        return fs;
    }

    /** Maps a canonical guest path (no symlinks, "." or "..") to its host path, by the longest bind. */
    public String toHost(String canonicalGuestPath) {
        for (Bind bind : binds) {
            if (GuestPaths.isUnder(canonicalGuestPath, bind.guestPath())) {
                return GuestPaths.rebase(canonicalGuestPath, bind.guestPath(), bind.hostPath());
            }
        }
        return GuestPaths.rebase(canonicalGuestPath, "/", rootHostPath);
    }

    /**
     * The guest location of the bind a canonical guest path lies in ("/" for the guest root): renames
     * and links between different ones fail with EXDEV, as across real mounts.
     */
    public String mountOf(String canonicalGuestPath) {
        for (Bind bind : binds) {
            if (GuestPaths.isUnder(canonicalGuestPath, bind.guestPath())) return bind.guestPath();
        }
        return "/";
    }

    /**
     * Maps a host path the kernel reported (readlink of /proc links, getcwd) back to the guest path
     * naming it, or empty if it lies outside everything the guest sees.
     */
    public Optional<String> toGuest(String hostPath) {
        if (!hostPath.startsWith("/")) return Optional.empty();
        String normal = GuestPaths.normalizeAbsolute(hostPath, "host path");
        for (Bind bind : reverse) {
            if (GuestPaths.isUnder(normal, bind.hostPath())) {
                return Optional.of(GuestPaths.rebase(normal, bind.hostPath(), bind.guestPath()));
            }
        }
        return Optional.empty();
    }

    /**
     * Resolves a guest path as the kernel would inside a chroot of this view.
     *
     * @param baseGuestDir canonical guest directory for relative paths (the cwd, or a dirfd's path)
     * @param guestPath    the path the tracee passed
     * @param followFinal  false for AT_SYMLINK_NOFOLLOW / O_NOFOLLOW / lstat semantics
     * @param ids          whose /proc/self this is
     */
    public Resolved resolve(String baseGuestDir, String guestPath, boolean followFinal, ProcessIds ids)
            throws ErrnoException {
        return resolve(baseGuestDir, guestPath, followFinal, ids, 0);
    }

    /** openat2(2) RESOLVE_* restrictions, applied to the guest tree (binds are its mounts). */
    public static final int RESOLVE_NO_XDEV = 0x01, RESOLVE_NO_MAGICLINKS = 0x02, RESOLVE_NO_SYMLINKS = 0x04,
            RESOLVE_BENEATH = 0x08, RESOLVE_IN_ROOT = 0x10, RESOLVE_CACHED = 0x20;

    /**
     * {@link #resolve(String, String, boolean, ProcessIds)} under openat2's RESOLVE_* flags:
     * IN_ROOT makes the base directory the root (absolute paths and links, ".." stop there),
     * BENEATH refuses with EXDEV anything that would leave it, NO_SYMLINKS and NO_MAGICLINKS refuse
     * following with ELOOP, NO_XDEV refuses crossing into another bind with EXDEV.
     */
    public Resolved resolve(String baseGuestDir, String guestPath, boolean followFinal, ProcessIds ids, int resolveFlags)
            throws ErrnoException {
        boolean inRoot = (resolveFlags & RESOLVE_IN_ROOT) != 0, beneath = (resolveFlags & RESOLVE_BENEATH) != 0;
        boolean noSymlinks = (resolveFlags & RESOLVE_NO_SYMLINKS) != 0;
        boolean noMagic = noSymlinks || (resolveFlags & RESOLVE_NO_MAGICLINKS) != 0;
        boolean noXdev = (resolveFlags & RESOLVE_NO_XDEV) != 0;
        List<String> root = new ArrayList<>();
        if (inRoot || beneath) pushAll(root, baseGuestDir);
        String startMount = noXdev ? mountOf(baseGuestDir) : null;
        if (guestPath.isEmpty()) throw new ErrnoException(Errno.ENOENT, "resolve", guestPath);
        if (guestPath.length() >= PATH_MAX) throw new ErrnoException(Errno.ENAMETOOLONG, "resolve", guestPath);
        boolean trailingSlash = guestPath.endsWith("/") && guestPath.length() > 1;
        boolean follow = followFinal || trailingSlash;
        Deque<String> pending = new ArrayDeque<>();
        pushFront(pending, guestPath);
        boolean endsInDot = !pending.isEmpty() && (pending.peekLast().equals(".") || pending.peekLast().equals(".."));
        List<String> stack = new ArrayList<>();
        if (guestPath.startsWith("/")) {
            if (beneath) throw new ErrnoException(Errno.EXDEV, "resolve beneath", guestPath);
            stack.addAll(root);
        } else {
            pushAll(stack, baseGuestDir);
        }
        if (noXdev && !mountOf(GuestPaths.join(stack)).equals(startMount)) throw new ErrnoException(Errno.EXDEV, "resolve", guestPath);
        FileKind kind = FileKind.DIRECTORY;
        String host = hostOf(GuestPaths.join(stack)); // a glue directory when the base is one
        int links = 0;
        while (!pending.isEmpty()) {
            String c = pending.pollFirst();
            boolean last = pending.isEmpty();
            if (c.length() > NAME_MAX) throw new ErrnoException(Errno.ENAMETOOLONG, "resolve", guestPath);
            if (kind != FileKind.DIRECTORY) throw new ErrnoException(Errno.ENOTDIR, "resolve", guestPath);
            if (c.equals(".")) continue;
            if (c.equals("..")) {
                if (stack.size() <= root.size()) {
                    if (beneath) throw new ErrnoException(Errno.EXDEV, "resolve beneath", guestPath);
                } else {
                    stack.remove(stack.size() - 1);
                }
                if (noXdev && !mountOf(GuestPaths.join(stack)).equals(startMount)) {
                    throw new ErrnoException(Errno.EXDEV, "resolve", guestPath);
                }
                host = hostOf(GuestPaths.join(stack));
                continue;
            }
            stack.add(c);
            String guest = GuestPaths.join(stack);
            if (noXdev && !mountOf(guest).equals(startMount)) throw new ErrnoException(Errno.EXDEV, "resolve", guestPath);
            host = toHost(guest);
            try {
                kind = fs.kind(host);
            } catch (ErrnoException e) {
                if (e.errno() != Errno.ENOENT) throw e;
                String glue = glueFor(guest);
                if (glue != null) {
                    host = glue;
                    kind = FileKind.DIRECTORY;
                } else if (last) {
                    return new Resolved(guest, decorate(host, trailingSlash, false), null, false);
                } else {
                    throw new ErrnoException(Errno.ENOENT, "resolve", guestPath);
                }
            }
            if (kind == FileKind.SYMLINK && (!last || follow)) {
                if (++links > MAX_SYMLINKS || noSymlinks) throw new ErrnoException(Errno.ELOOP, "resolve", guestPath);
                if (noMagic && isMagicLink(guest)) throw new ErrnoException(Errno.ELOOP, "resolve", guestPath);
                LinkTarget target = linkTarget(guest, host, ids);
                if (!target.followable()) {
                    // A /proc magic link the kernel must follow itself; what lies below is the kernel's business.
                    StringBuilder rest = new StringBuilder(host);
                    StringBuilder restGuest = new StringBuilder(guest);
                    for (String r : pending) {
                        rest.append('/').append(r);
                        restGuest.append('/').append(r);
                    }
                    return new Resolved(restGuest.toString(), decorate(rest.toString(), trailingSlash, false),
                            FileKind.SYMLINK, true);
                }
                if (target.text().isEmpty()) throw new ErrnoException(Errno.ENOENT, "resolve", guestPath);
                stack.remove(stack.size() - 1);
                if (target.text().startsWith("/")) {
                    if (beneath) throw new ErrnoException(Errno.EXDEV, "resolve beneath", guestPath);
                    stack.clear();
                    stack.addAll(root);
                }
                pushFront(pending, target.text());
                kind = FileKind.DIRECTORY;
                host = hostOf(GuestPaths.join(stack));
            }
        }
        if (trailingSlash && kind != FileKind.DIRECTORY) throw new ErrnoException(Errno.ENOTDIR, "resolve", guestPath);
        if (noXdev && !mountOf(GuestPaths.join(stack)).equals(startMount)) throw new ErrnoException(Errno.EXDEV, "resolve", guestPath);
        return new Resolved(GuestPaths.join(stack), decorate(host, trailingSlash, endsInDot), kind, false);
    }

    /**
     * What readlink(2) shows the guest for a resolved (unfollowed) symlink: ordinary targets as stored,
     * /proc magic links as guest paths, /proc/self as the tracee's pid.
     */
    public String readlink(Resolved link, ProcessIds ids) throws ErrnoException {
        if (link.kind() != FileKind.SYMLINK) throw new ErrnoException(Errno.EINVAL, "readlink", link.guestPath());
        if (link.opaque()) return fs.readlink(link.hostPath());
        return linkTarget(link.guestPath(), link.hostPath(), ids).text();
    }

    private record LinkTarget(String text, boolean followable) {}

    /** /proc's own links that are not magic: "self" and "thread-self" are ordinary symlinks. */
    private boolean isMagicLink(String guestLink) {
        if (procGuestPath == null || !GuestPaths.isUnder(guestLink, procGuestPath) || guestLink.equals(procGuestPath)) return false;
        String rel = guestLink.substring(procGuestPath.equals("/") ? 1 : procGuestPath.length() + 1);
        return !rel.equals("self") && !rel.equals("thread-self");
    }

    private LinkTarget linkTarget(String guestLink, String hostLink, ProcessIds ids) throws ErrnoException {
        if (procGuestPath == null || !GuestPaths.isUnder(guestLink, procGuestPath) || guestLink.equals(procGuestPath)) {
            return new LinkTarget(fs.readlink(hostLink), true);
        }
        String rel = guestLink.substring(procGuestPath.equals("/") ? 1 : procGuestPath.length() + 1);
        if (ids.known() && rel.equals("self")) return new LinkTarget(Integer.toString(ids.pid()), true);
        if (ids.known() && rel.equals("thread-self")) {
            return new LinkTarget(ids.pid() + "/task/" + ids.tid(), true);
        }
        if (ids.guestExe() != null || ids.exeOf() != null) {
            java.util.regex.Matcher exe = PROC_EXE_LINK.matcher(rel);
            String shown = exe.matches() ? ids.guestExeOf(Integer.parseInt(exe.group(1))) : null;
            if (shown != null) return new LinkTarget(shown, true);
        }
        String raw = fs.readlink(hostLink);
        if (!raw.startsWith("/")) {
            // "self" -> "123" is an ordinary link; "pipe:[7]" or "anon_inode:[x]" only the kernel can follow.
            return new LinkTarget(raw, raw.indexOf(':') < 0);
        }
        // Magic links (exe, cwd, root, fd/N, map_files) report host paths: show them as the guest sees them.
        if (PROC_ROOT_LINK.matcher(rel).matches()) return new LinkTarget("/", true);
        // Deleted files and memfds have no path any more: only the kernel can follow these.
        if (raw.startsWith("/memfd:")) return new LinkTarget(raw, false);
        if (raw.endsWith(" (deleted)")) {
            String gone = raw.substring(0, raw.length() - " (deleted)".length());
            return new LinkTarget(toGuest(gone).orElse(gone) + " (deleted)", false);
        }
        Optional<String> guest = toGuest(raw);
        return guest.map(g -> new LinkTarget(g, true)).orElseGet(() -> new LinkTarget(raw, false));
    }

    /** Host path of a canonical guest directory, glue included. */
    private String hostOf(String guest) throws ErrnoException {
        String host = toHost(guest);
        if (glueHostPath == null || !isBindAncestor(guest)) return host;
        try {
            fs.kind(host);
            return host;
        } catch (ErrnoException e) {
            String glue = glueFor(guest);
            return glue == null ? host : glue;
        }
    }

    private boolean isBindAncestor(String guest) {
        for (Bind bind : binds) {
            if (!bind.guestPath().equals(guest) && GuestPaths.isUnder(bind.guestPath(), guest)) return true;
        }
        return false;
    }

    /** The glue directory standing in for a missing guest directory that binds lie below, or null. */
    private String glueFor(String guest) throws ErrnoException {
        if (glueHostPath == null || !isBindAncestor(guest)) return null;
        String glue = GuestPaths.rebase(guest, "/", glueHostPath);
        // Children named after the binds below make listings of the glue show them.
        for (Bind bind : binds) {
            if (!bind.guestPath().equals(guest) && GuestPaths.isUnder(bind.guestPath(), guest)) {
                String rest = bind.guestPath().substring(guest.equals("/") ? 1 : guest.length() + 1);
                int slash = rest.indexOf('/');
                fs.createDirectories(glue + "/" + (slash < 0 ? rest : rest.substring(0, slash)));
            }
        }
        return glue;
    }

    private static String decorate(String host, boolean trailingSlash, boolean endsInDot) {
        if (endsInDot) return host.endsWith("/") ? host + "." : host + "/.";
        if (trailingSlash && !host.endsWith("/")) return host + "/";
        return host;
    }

    private static void pushFront(Deque<String> pending, String path) {
        String[] parts = path.split("/");
        for (int i = parts.length - 1; i >= 0; i--) {
            if (!parts[i].isEmpty()) pending.addFirst(parts[i]);
        }
    }

    private static void pushAll(List<String> stack, String canonicalDir) {
        for (String part : canonicalDir.split("/")) {
            if (!part.isEmpty()) stack.add(part);
        }
    }

    /** Configuration of a view. */
    public static final class Builder {
        private final String rootHostPath;
        private final List<Bind> binds = new ArrayList<>();
        private boolean defaultBinds = true;
        private String glueHostPath;
        private GuestFileAccess fs;

        private Builder(String rootHostPath) {
            this.rootHostPath = rootHostPath;
        }

        public Builder bind(Bind bind) { binds.add(bind); return this; }
        /** Whether {@link #DEFAULT_BINDS} are bound (default: yes). */
        public Builder defaultBinds(boolean on) { defaultBinds = on; return this; }
        /** A host directory (owned by the session) for glue directories of binds onto missing locations. */
        public Builder glueDir(String hostPath) { glueHostPath = hostPath; return this; }
        /** File access (default: this machine's files, directories and symlinks cached per view). */
        public Builder fileAccess(GuestFileAccess access) { fs = access; return this; }

        public GuestView build() {
            if (fs == null) fs = new CachingFileAccess(LocalFileAccess.INSTANCE);
            return new GuestView(this);
        }
    }
}
