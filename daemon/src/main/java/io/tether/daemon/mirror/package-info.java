/**
 * The target-side cache of "No NFS": a MIRROR of the host's exports that the kernel itself reads.
 *
 * <p><b>Design (decided).</b> For each export ({@link io.tether.daemon.files.HostExport}, keyed by its
 * cacheKey) the daemon keeps a real directory tree under {@code --cache-dir}
 * ({@code CACHE/trees/<cacheKey>/}): directories, real symlinks, and regular files created as sparse
 * placeholders with the host's size, mode, owner (when the daemon may chown) and times; a file's
 * contents are fetched on its first open or exec. The tracer keeps translating guest paths with a
 * {@link io.tether.daemon.guest.GuestView} whose root is export 0's mirror and whose binds are the
 * other exports' mirrors, so stat, lstat, readlink and getdents are answered by the kernel from
 * local files with no round trip, and mmap, execve and the ELF interpreter see real local files.
 * Why: a design that asks the host (or even a Java cache) for every metadata call pays a stop and a
 * lookup per stat; with a mirror the remaining costs are the first listing of each directory (one
 * READDIRPLUS-style round trip), the first open of each file (one fetch) and mutations, which must
 * reach the host before the syscall returns anyway. It is also the step towards not stopping at all
 * for metadata reads (chroot or a mount namespace over the mirror), see NOTES.md.
 *
 * <p><b>Pieces.</b> {@link io.tether.daemon.mirror.MirrorCache} is daemon-wide (layout, persistent
 * index, LRU bound on contents, eviction back to placeholders). {@link io.tether.daemon.mirror.MirrorSession}
 * is one guest run's {@link io.tether.daemon.guest.GuestFileAccess}: lazy population of a directory
 * the first time resolution looks inside it (in rewrite mode its names other than subdirectories only
 * noted, each made when first looked up, all of them when the directory is opened or the tree completed), contents fetched before open/exec (one fetch per file
 * however many sessions ask, into a temp file renamed into place), prefetch of an executable's
 * interpreter, then its DT_NEEDED libraries (with their search path's listings and a glibc loader's
 * /etc and ld.so.cache asked for at once, ahead of the libraries), mutations applied on the host first (errno propagated, EXDEV
 * across exports), write-back of files opened for writing on IN_CLOSE_WRITE (inotify) and at
 * {@code flush()}, atomically on the host (HostFiles.put).
 *
 * <p><b>Coherence.</b> Everything cached by an earlier run is validated in one HostFiles.validate
 * round trip per export when a session starts (split only to fit the 64 KiB protocol message, the
 * parts sent together); what changed is listed again when next used. A push invalidation marks the
 * directory holding what changed to be listed again and starts that listing in the background; a
 * re-listing re-states placeholders and drops contents whose size, mtime, inode or ctime changed
 * (files being read keep their old inode: replacements are renamed in). A vanished file gives ENOENT
 * at open; a lost connection gives EIO. A listing never undoes a change the host just made and the
 * kernel is about to make here (create, remove, rename: {@code Tree.expectKernel}).
 *
 * <p><b>Wholeness (kernel-rooted runs).</b> A run may be chrooted into export 0's mirror, with stat,
 * lstat, readlink, access and getdents no longer stopping, only when each tree it sees is WHOLE
 * ({@code MirrorSession.wholeUnder}, asked once at its start; {@link io.tether.daemon.mirror.Wholeness}):
 * every directory listed and none marked to be listed again, none missing an entry it could not mirror
 * (a full disk) or unreadable on the host ({@code Tree.incomplete}, stored as unlisted), and the tree
 * under 300k entries. At that answer up to 64 unlisted directories (what validation found stale, new
 * ones below them) are listed first, 8 in flight, a few round trips; more means a cold tree: the run
 * stays in rewrite mode and, from the tree's second run on (a first run keeps the link to itself), a pass completes the tree in the background during the session (walk
 * listings from never-listed directories, up to 16k entries each, a readdir for a known one; one pass
 * per tree; stopped by the session's or the cache's close, and resumed by the next session: listings
 * are kept in the index). A tree past the cap (a bind of $HOME) is never completed and stays in
 * rewrite mode (logged once). Once a run is kernel-rooted ({@code kernelResolves}), whatever marks a
 * directory unlisted (a push, a re-listing that found a changed subdirectory, a new host directory,
 * a stale parent) starts a pass at once, a new directory walked recursively, since no stop will ask
 * for it. Opens still stop and list first, so they are exact (behind the open gate,
 * {@link io.tether.daemon.mirror.FirstOpens}, only a file's first open is held and does so; a later one, like a
 * stat, may see the old contents until the re-listing lands); a stat racing a host change may see the
 * old state until the re-listing lands (as NFS attribute caching may), and an unlisted directory is
 * briefly empty to getdents. Eviction only turns contents back into placeholders and never drops a
 * listing, so it keeps a tree whole.
 *
 * <p><b>Writes.</b> Files opened for writing are pinned (never evicted or replaced by a listing)
 * and written back from a snapshot copy with HostFiles.put on IN_CLOSE_WRITE, at
 * {@code MirrorSession.sync} (fsync) and at {@code flush()}; a file also counts as changed when its
 * local size/mtime/ctime moved (writes through shared maps). After a write-back the mirror file takes
 * the host's times, so every file the guest compares (make) carries the host's clock whatever the
 * device's clock says. Renames and links of a file with pending writes upload it first.
 *
 * <p><b>Several daemons.</b> A cache directory is locked ({@code lock}) by the daemon using it; a
 * second daemon (another --stdio connection) uses {@code instance-N/} inside it, with its own bound.
 *
 * <p><b>Limits.</b> An export must be a directory (a bind of a single file is not mirrored). Hard
 * links are separate files in the mirror, and a write-back (temp + rename on the host) breaks a host
 * hard link. Uploads run in parallel, so host mtimes follow upload completion, not close order (a
 * {@code Put} carrying the local mtime would fix it). A file fetched on first open gets a new inode
 * and ctime (tar may warn "file changed as we read it" for a file it stat'ed before its first open).
 * Assumes a 64-bit target ABI (statx and dirent offsets, off_t).
 *
 * <p>Paths are byte strings carried one char per byte (ISO-8859-1) and mirror files are handled by
 * byte paths ({@code MirrorFs}) so no name is mangled. {@code hostPath} in the GuestFileAccess
 * methods means a path of this machine (a target path); {@code rel} is export-relative.
 */
package io.tether.daemon.mirror;
