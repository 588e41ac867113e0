package io.tether.client.files;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.protocol.files.ChunkCompression;
import io.tether.protocol.frame.Limits;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.Attr;
import io.tether.protocol.proto.DirEntries;
import io.tether.protocol.proto.DirEntry;
import io.tether.protocol.proto.Export;
import io.tether.protocol.proto.ExportChanges;
import io.tether.protocol.proto.FileReply;
import io.tether.protocol.proto.FileRequest;
import io.tether.protocol.proto.FilesOpen;
import io.tether.protocol.proto.Invalidate;
import io.tether.protocol.proto.Put;
import io.tether.protocol.proto.ReadChunk;
import io.tether.protocol.proto.ResetCode;
import io.tether.protocol.proto.Stale;
import io.tether.protocol.proto.XattrNames;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.Closeable;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The host file server ("No NFS", tether.proto {@code FileRequest}): serves the rootfs and the binds
 * of one guest run to the daemon over one mux stream. The client opens the stream with
 * {@link #filesOpen()} as its StreamOpen, then {@link #serve}s it for the life of the run.
 *
 * <p>Layers, as in MINA's SFTP subsystem: this class speaks the protocol (requests taken on the mux's reader thread,
 * requests served by a bounded pool, replies in any order, multi-message Puts kept in order per
 * id) and {@link HostTree} does the file work, confined to each export by {@link ExportRoot}.
 * {@link DirectoryWatcher} pushes invalidations (id 0) for the directories the daemon listed.
 *
 * <p>Bulk replies: with a files data stream (tether.proto {@code FilesData}, feature
 * {@value #DATA_FEATURE}), a Read whose reply takes more than one message sends all of it there, so
 * a library's megabytes wait for that stream's credit and never hold up a listing, a metadata reply
 * or a push on the files stream behind them. One request's replies all go on one stream.
 *
 * <p>Errors: a failing operation is answered with its host errno; an operation this server does
 * not know is ENOSYS; a message that does not parse resets the stream (PROTOCOL_ERROR).
 */
public final class FileServer implements Closeable {
    private static final Logger log = LoggerFactory.getLogger(FileServer.class);
    public static final int DEFAULT_THREADS = 16;
    public static final int DEFAULT_MAX_WATCHES = 8192;
    /** The hello feature of a daemon that takes bulk replies on a files data stream. */
    public static final String DATA_FEATURE = "files-data";
    /** Lists split over replies stay well under one frame. */
    private static final int REPLY_BATCH_BYTES = 48 * 1024;
    /** The most FilesOpen.changes may take of the open's one frame (Limits.MAX_PAYLOAD); a rel costs its Attr more. */
    private static final int ENCLOSED_BYTES = 32 * 1024, ENCLOSED_PER_REL = 64;
    private static final int RENAME_EXCHANGE = 2;

    /**
     * Tuning and test knobs. {@code walk}: resolve by the O_NOFOLLOW walk even where openat2 exists;
     * {@code guestUmask}: taken off the mode of every file, directory and node the daemon creates
     * (the run's umask; 0: modes exactly as requested).
     */
    public record Options(int threads, int maxWatches, boolean walk, int guestUmask) {
        public static final Options DEFAULTS = new Options(DEFAULT_THREADS, DEFAULT_MAX_WATCHES, false, 0);

        public Options(int threads, int maxWatches, boolean walk) {
            this(threads, maxWatches, walk, 0);
        }

        public Options withGuestUmask(int umask) {
            return new Options(threads, maxWatches, walk, umask);
        }
    }

    private final List<FileExport> exports;
    private final HostTree tree;
    private final Options options;
    private final RequestPool pool;
    private final Map<Long, PutState> puts = new ConcurrentHashMap<>();
    private final CompletableFuture<Void> done = new CompletableFuture<>();
    /** The files stream ended (the listener's runs are serialised, so a plain field). */
    private boolean stopped;
    private volatile MuxStream stream;
    /** Where multi-message Read replies go: the files data stream, or the files stream itself. */
    private volatile MuxStream bulk;
    /** Read chunks may go as LZ4 blocks (set by {@link #serve} before any request). */
    private volatile boolean compress;
    private volatile DirectoryWatcher watcher;
    private volatile boolean closed;
    /** Watches kept between runs (the front door), or null: this server's own, for this run only. */
    private final ResidentWatch resident;
    /** The resident watch's epoch this run announces (0: none). */
    private final long epoch;
    /** Guards {@link #stream}'s setting and the pushes, so none falls between the enclosed journal and serve(). */
    private final Object pushLock = new Object();
    /** Host changes after an open that enclosed the journal and before serve(): pushed first once serving. */
    private List<EarlyPush> early;

    private record EarlyPush(int export, byte[] rel) { }

    private FileServer(List<FileExport> exports, HostTree tree, Options options, ResidentWatch resident) {
        this.exports = List.copyOf(exports);
        this.tree = tree;
        this.options = options;
        this.resident = resident;
        this.epoch = resident == null ? 0 : resident.begin(this);
        this.pool = new RequestPool(options.threads());
    }

    /**
     * Opens every export (exports[0] the root, guest path "/"); a missing or unreadable host path
     * fails here, before anything is sent.
     */
    public static FileServer open(List<FileExport> exports) throws ErrnoException {
        return open(exports, Options.DEFAULTS);
    }

    public static FileServer open(List<FileExport> exports, Options options) throws ErrnoException {
        return open(exports, options, null);
    }

    /**
     * As {@link #open(List, Options)}, watching through {@code resident} (null: watches of its own,
     * for this run), which must have served only this export list, to this run's daemon.
     */
    public static FileServer open(List<FileExport> exports, Options options, ResidentWatch resident) throws ErrnoException {
        if (exports.isEmpty() || !exports.get(0).guestPath().equals("/")) {
            throw new IllegalArgumentException("exports[0] must be the root, guest path /");
        }
        List<ExportRoot> roots = new ArrayList<>();
        try {
            for (int i = 0; i < exports.size(); i++) {
                FileExport e = exports.get(i);
                ExportRoot root = ExportRoot.open(i, e.hostPath(), e.readOnly(), options.walk());
                roots.add(root);
                if (i == 0 && root.isFile()) throw new ErrnoException(Errno.ENOTDIR, "open", e.hostPath().toString());
            }
            // Fail now, not at the first request, if a tree cannot be read.
            HostTree tree = new HostTree(roots, options.guestUmask());
            for (int i = 0; i < roots.size(); i++) tree.checkReadable(i);
            return new FileServer(exports, tree, options, resident);
        } catch (ErrnoException | RuntimeException e) {
            for (ExportRoot r : roots) r.close();
            throw e;
        }
    }

    /** What to open the files stream with: the exports, by id, and this host's architecture. */
    public FilesOpen filesOpen() {
        FilesOpen.Builder b = FilesOpen.newBuilder().setHostArch(hostArch()).setWatchEpoch(epoch);
        for (int i = 0; i < exports.size(); i++) {
            FileExport e = exports.get(i);
            b.addExports(Export.newBuilder().setId(i).setGuestPath(ByteString.copyFrom(e.guestPath(), StandardCharsets.UTF_8))
                    .setReadOnly(e.readOnly()).setCacheKey(e.cacheKey()));
        }
        if (resident != null && epoch != 0) enclose(b);
        return b.build();
    }

    /**
     * The journal goes with the open (FilesOpen.changes), so the daemon need not ask for it before the run
     * starts; from here to serve() host changes are kept and pushed first (they are journaled for the next
     * run, not this one).
     */
    private void enclose(FilesOpen.Builder b) {
        synchronized (pushLock) {
            if (stream == null) early = new ArrayList<>(); // before the journal is taken: no change falls between
        }
        Map<Integer, List<ByteString>> changed = resident.changesIfFew(epoch, ENCLOSED_BYTES, ENCLOSED_PER_REL);
        if (changed == null) {
            synchronized (pushLock) {
                early = null; // the daemon asks, and the journal has them
            }
            return;
        }
        b.setChangesEnclosed(true);
        changed.forEach((export, rels) -> {
            Stale.Builder stale = Stale.newBuilder();
            for (ByteString rel : rels) stale.addRels(rel).addNow(stateOrChanged(export, rel.toByteArray()));
            b.addChanges(ExportChanges.newBuilder().setExport(export).setStale(stale));
        });
    }

    /** The served trees, in export id order (export 0 the root). */
    public List<FileExport> exports() {
        return exports;
    }

    /** uname's machine name of this host ("x86_64", "aarch64"). */
    static String hostArch() {
        String arch = System.getProperty("os.arch");
        return switch (arch) {
            case "amd64", "x86_64" -> "x86_64";
            case "arm64", "aarch64" -> "aarch64";
            case "x86", "i386" -> "i686";
            default -> arch;
        };
    }

    /** Serves {@code s} until the stream ends; returns at once. */
    public void serve(MuxStream s) {
        serve(s, null);
    }

    /** As {@link #serve(MuxStream)}, sending bulk replies on {@code data} (StreamOpen{files_data}; null: on {@code s}). */
    public void serve(MuxStream s, MuxStream data) {
        serve(s, data, false);
    }

    /**
     * As {@link #serve(MuxStream, MuxStream)}; {@code compress}: the daemon takes LZ4 blocks
     * ({@link ChunkCompression#FEATURE}), so Read chunks that shrink by an eighth go compressed.
     */
    public void serve(MuxStream s, MuxStream data, boolean compress) {
        if (stream != null) throw new IllegalStateException("already serving");
        this.compress = compress;
        bulk = data == null ? s : data;
        synchronized (pushLock) {
            stream = s;
            List<EarlyPush> kept = early;
            early = null;
            if (kept != null) for (EarlyPush p : kept) push(p.export(), p.rel());
        }
        if (resident == null) watcher = DirectoryWatcher.start(this::invalidate, options.maxWatches());
        s.onMessages(this::takeRequests);
    }

    /** Completes when the stream has ended (normally or not) and the server stopped reading. */
    public CompletableFuture<Void> done() {
        return done;
    }

    /** Directories watched now (tests). */
    int watchCount() {
        DirectoryWatcher w = watcher;
        return w == null ? 0 : w.watchCount();
    }

    /**
     * On the mux's reader thread ({@link MuxStream#onMessages}): each request is parsed and handed to the pool
     * right there, not through a reader thread of our own, which cost every request one more thread wake-up.
     * Never blocks: {@link #dispatch} only queues.
     */
    private void takeRequests() {
        if (stopped) return;
        MuxStream s = stream;
        try {
            byte[] bytes;
            while ((bytes = s.pollBytes()) != null) {
                FileRequest request;
                try {
                    request = FileRequest.parseFrom(bytes);
                } catch (InvalidProtocolBufferException e) {
                    protocolError(s, "malformed FileRequest: " + e.getMessage());
                    stop();
                    return;
                }
                if (request.getId() == 0) {
                    protocolError(s, "FileRequest without an id");
                    stop();
                    return;
                }
                dispatch(request);
            }
            if (s.messagesEnded()) stop();
        } catch (IOException e) {
            log.debug("files stream {} ended: {}", s.id(), e.getMessage());
            stop();
        }
    }

    /** The stream ended: no more requests. {@link #done} completes off the reader thread (its dependents may block). */
    private void stop() {
        stopped = true;
        Thread t = new Thread(() -> {
            abortPuts();
            done.complete(null);
        }, "tether-files-end");
        t.setDaemon(true);
        t.start();
    }

    private void protocolError(MuxStream s, String why) {
        log.error("files stream {}: {}; resetting it", s.id(), why);
        s.reset(ResetCode.RESET_PROTOCOL_ERROR, why);
    }

    private void dispatch(FileRequest request) {
        if (request.getOpCase() == FileRequest.OpCase.PUT) {
            PutState put = puts.computeIfAbsent(request.getId(), id -> new PutState(request));
            put.enqueue(request);
            return;
        }
        try {
            pool.execute(() -> handle(request));
        } catch (java.util.concurrent.RejectedExecutionException e) {
            log.debug("request {} dropped: server closed", request.getId());
        }
    }

    /** Serves one request (not a Put) and sends its reply or replies. */
    private void handle(FileRequest r) {
        long id = r.getId();
        int export = r.getExport();
        byte[] rel = r.getRel().toByteArray();
        try {
            FileReply.Builder reply = FileReply.newBuilder().setId(id);
            switch (r.getOpCase()) {
                case GETATTR -> reply.setAttr(tree.getattr(export, rel, r.getGetattr().getFollow()));
                case READDIR -> {
                    if (r.getReaddir().getMaxEntries() > 0) readdirTree(id, export, rel, r.getReaddir().getMaxEntries());
                    else readdir(id, export, rel);
                    return;
                }
                case READLINK -> reply.setLinkTarget(ByteString.copyFrom(tree.readlink(export, rel)));
                case READ -> {
                    read(r);
                    return;
                }
                case CREATE -> reply.setAttr(tree.create(export, rel, r.getCreate().getMode(), r.getCreate().getExclusive(),
                        r.getCreate().getTruncate()));
                case TRUNCATE -> reply.setAttr(tree.truncate(export, rel, r.getTruncate().getSize()));
                case MKDIR -> {
                    reply.setAttr(tree.mkdir(export, rel, r.getMkdir().getMode()));
                    // The daemon takes a directory it made as listed (empty): watched from now on, like a listed one.
                    watch(tree.directoryPath(export, rel), export, rel);
                }
                case MKNOD -> reply.setAttr(tree.mknod(export, rel, r.getMknod().getMode(), r.getMknod().getRdev()));
                case UNLINK -> tree.unlink(export, rel);
                case RMDIR -> tree.rmdir(export, rel);
                case RENAME -> {
                    byte[] to = r.getRename().getToRel().toByteArray();
                    int toExport = r.getRename().getToExport();
                    tree.rename(export, rel, toExport, to, r.getRename().getFlags());
                    renamed(export, rel, toExport, to, (r.getRename().getFlags() & RENAME_EXCHANGE) != 0);
                    // The rename changed the moved file's ctime: the daemon keeps it, so the echo is no news.
                    Attr now = stateOf(toExport, to);
                    if (now != null && now.getMode() != 0) reply.setAttr(now);
                }
                case LINK -> tree.link(export, rel, r.getLink().getToExport(), r.getLink().getToRel().toByteArray());
                case SYMLINK -> {
                    tree.symlink(export, rel, r.getSymlink().getTarget().toByteArray());
                    Attr now = stateOf(export, rel);
                    if (now != null && now.getMode() != 0) reply.setAttr(now);
                }
                case CHMOD -> reply.setAttr(tree.chmod(export, rel, r.getChmod().getMode()));
                case CHOWN -> tree.chown(export, rel, r.getChown().getUid(), r.getChown().getGid(), r.getChown().getFollow());
                case UTIMES -> {
                    var u = r.getUtimes();
                    tree.utimes(export, rel, u.getAtimeS(), u.getAtimeNs(), u.getMtimeS(), u.getMtimeNs(), u.getFollow());
                }
                case STATFS -> reply.setStatfs(tree.statfs(export, rel));
                case FSYNC -> tree.fsync(export, rel);
                case GETXATTR -> reply.setXattrValue(ByteString.copyFrom(tree.getxattr(export, rel,
                        r.getGetxattr().getName().toByteArray(), r.getGetxattr().getFollow())));
                case SETXATTR -> tree.setxattr(export, rel, r.getSetxattr().getName().toByteArray(),
                        r.getSetxattr().getValue().toByteArray(), r.getSetxattr().getFlags(), r.getSetxattr().getFollow());
                case LISTXATTR -> {
                    XattrNames.Builder names = XattrNames.newBuilder();
                    for (byte[] n : tree.listxattr(export, rel, r.getListxattr().getFollow())) names.addNames(ByteString.copyFrom(n));
                    reply.setXattrNames(names);
                }
                case REMOVEXATTR -> tree.removexattr(export, rel, r.getRemovexattr().getName().toByteArray(),
                        r.getRemovexattr().getFollow());
                case VALIDATE -> {
                    if (r.getValidate().getChangesOnly()) {
                        if (resident == null) throw new ErrnoException(Errno.ESTALE, "validate", "no watches kept between runs");
                        List<ByteString> changed = resident.changes(export, epoch);
                        List<Attr> now = new ArrayList<>(changed.size());
                        for (ByteString c : changed) now.add(stateOrChanged(export, c.toByteArray()));
                        validate(id, changed, now);
                    } else if (resident != null) {
                        // What the daemon cached stays watched from now on, so later runs may skip this.
                        validate(id, tree.validate(export, r.getValidate().getEntriesList(), (dir, d) -> resident.watch(dir, export, d)));
                    } else {
                        validate(id, tree.validate(export, r.getValidate().getEntriesList()));
                    }
                    return;
                }
                default -> throw new ErrnoException(Errno.ENOSYS, "file request", r.getOpCase().name());
            }
            send(reply.build());
        } catch (ErrnoException e) {
            log.trace("request {} {} {}:{}: {}", id, r.getOpCase(), export, printable(rel), e.getMessage());
            send(FileReply.newBuilder().setId(id).setErrno(e.errno()).build());
        } catch (RuntimeException e) {
            log.warn("request {} {} failed", id, r.getOpCase(), e);
            send(FileReply.newBuilder().setId(id).setErrno(Errno.EIO).build());
        }
    }

    /**
     * A Read's replies, each chunk sent as it is read. A reply of one message goes on the files stream;
     * one of more (the first chunk is not the last) goes on the bulk stream, all of it, its errno too.
     */
    private void read(FileRequest r) {
        long id = r.getId();
        MuxStream[] to = {null};
        try {
            tree.read(r.getExport(), r.getRel().toByteArray(), r.getRead().getOffset(), r.getRead().getLength(),
                    (offset, data, last, attr) -> {
                        if (to[0] == null) to[0] = last ? stream : bulk;
                        ReadChunk.Builder c = ReadChunk.newBuilder().setOffset(offset);
                        ByteString packed = compress ? ChunkCompression.compress(data) : null;
                        if (packed != null) c.setData(packed).setRawSize(data.length);
                        else c.setData(UnsafeByteOperations.unsafeWrap(data));
                        FileReply.Builder chunk = FileReply.newBuilder().setId(id).setMore(!last).setChunk(c);
                        if (attr != null) chunk.setReadAttr(attr);
                        send(to[0], chunk.build());
                    });
        } catch (ErrnoException e) {
            log.trace("request {} READ {}:{}: {}", id, r.getExport(), printable(r.getRel().toByteArray()), e.getMessage());
            send(to[0] == null ? stream : to[0], FileReply.newBuilder().setId(id).setErrno(e.errno()).build());
        } catch (RuntimeException e) {
            log.warn("request {} READ failed", id, e);
            send(to[0] == null ? stream : to[0], FileReply.newBuilder().setId(id).setErrno(Errno.EIO).build());
        }
    }

    private void readdir(long id, int export, byte[] rel) throws ErrnoException {
        tree.readdir(export, rel, new HostTree.ListingSink() {
            @Override
            public void opened(Path hostDir) {
                // Watched before it is read: a change made while the daemon reads the listing is pushed too.
                watch(hostDir, export, rel);
            }

            @Override
            public void batch(List<DirEntry> entries, Attr dirAttr, boolean last) {
                DirEntries.Builder b = DirEntries.newBuilder().addAllEntries(entries);
                if (dirAttr != null) b.setDirAttr(dirAttr);
                send(FileReply.newBuilder().setId(id).setMore(!last).setEntries(b).build());
            }
        });
    }

    /** A walk's listings in one request: every directory's batches name it; an empty last reply ends them. */
    private void readdirTree(long id, int export, byte[] rel, int maxEntries) throws ErrnoException {
        tree.readdirTree(export, rel, maxEntries, new HostTree.TreeSink() {
            @Override
            public void opened(Path hostDir, byte[] dirRel) {
                watch(hostDir, export, dirRel); // before it is read, as for a listing of its own
            }

            @Override
            public void batch(byte[] dirRel, List<DirEntry> entries, Attr dirAttr, boolean last) {
                DirEntries.Builder b = DirEntries.newBuilder().addAllEntries(entries).setDirRel(ByteString.copyFrom(dirRel));
                if (dirAttr != null) b.setDirAttr(dirAttr);
                send(FileReply.newBuilder().setId(id).setMore(true).setEntries(b).build());
            }
        });
        send(FileReply.newBuilder().setId(id).build());
    }

    /** The stale rels, in as many replies as a frame needs ({@code more} on all but the last). */
    private void validate(long id, List<ByteString> stale) {
        validate(id, stale, null);
    }

    /** As {@link #validate(long, List)}, each rel with what the host holds there now ({@code now}, same order) if not null. */
    private void validate(long id, List<ByteString> stale, List<Attr> now) {
        Stale.Builder batch = Stale.newBuilder();
        int bytes = 0;
        for (int i = 0; i < stale.size(); i++) {
            ByteString rel = stale.get(i);
            Attr a = now == null ? null : now.get(i);
            int size = rel.size() + 8 + (a == null ? 0 : a.getSerializedSize() + 4);
            if (bytes + size > REPLY_BATCH_BYTES && batch.getRelsCount() > 0) {
                send(FileReply.newBuilder().setId(id).setMore(true).setStale(batch).build());
                batch = Stale.newBuilder();
                bytes = 0;
            }
            batch.addRels(rel);
            if (a != null) batch.addNow(a);
            bytes += size;
        }
        send(FileReply.newBuilder().setId(id).setStale(batch).build());
    }

    /** An Attr of mode 0: nothing there (tether.proto Invalidate.now, Stale.now). */
    private static final Attr GONE = Attr.getDefaultInstance();

    /**
     * What the host holds at {@code rel} now (lstat, confined like any request): its attributes, {@link #GONE},
     * or null when that cannot be told (the daemon then takes it as changed).
     */
    private Attr stateOf(int export, byte[] rel) {
        try {
            return tree.getattr(export, rel, false);
        } catch (ErrnoException e) {
            return e.errno() == Errno.ENOENT || e.errno() == Errno.ENOTDIR ? GONE : null;
        } catch (RuntimeException e) {
            return null;
        }
    }

    /** As {@link #stateOf}, but an Attr in every case: one that matches nothing the daemon holds when it cannot be told. */
    private Attr stateOrChanged(int export, byte[] rel) {
        Attr a = stateOf(export, rel);
        // ino 0 with a file type: no real file has it, so the daemon's copy never matches and it looks again.
        return a != null ? a : Attr.newBuilder().setMode(HostCalls.S_IFREG).setIno(0).build();
    }

    /** Sends a reply on the files stream; a stream that is gone only ends this request's work. */
    private void send(FileReply reply) {
        send(stream, reply);
    }

    private void send(MuxStream s, FileReply reply) {
        if (reply.getSerializedSize() > Limits.MAX_PAYLOAD) {
            // A result no frame can carry (a 64 KiB xattr value): an error, never a silent loss.
            log.debug("reply {} of {} bytes is over the frame limit", reply.getId(), reply.getSerializedSize());
            reply = FileReply.newBuilder().setId(reply.getId()).setErrno(Errno.E2BIG).build();
        }
        try {
            s.send(reply);
        } catch (IOException e) {
            log.debug("reply {} not sent: {}", reply.getId(), e.getMessage());
        }
    }

    private void watch(Path hostDir, int export, byte[] rel) {
        if (hostDir == null) return;
        if (resident != null) {
            resident.watch(hostDir, export, rel);
        } else {
            DirectoryWatcher w = watcher;
            if (w != null) w.watch(hostDir, export, rel);
        }
    }

    /** Watched directories at or below a renamed directory are reported under the new name too. */
    private void renamed(int export, byte[] from, int toExport, byte[] to, boolean exchange) {
        if (tree.directoryPath(toExport, to) != null) {
            if (resident != null) resident.renamed(export, from, toExport, to);
            else if (watcher != null) watcher.renamed(export, from, toExport, to);
        }
        if (exchange) renamed(toExport, to, export, from, false);
    }

    void invalidate(int export, byte[] rel) {
        if (closed || done.isDone()) return;
        synchronized (pushLock) {
            if (stream != null) {
                push(export, rel);
            } else if (early != null) {
                early.add(new EarlyPush(export, rel.clone()));
            }
        }
    }

    /** Under {@link #pushLock}, so pushes go out in the order the host changed. */
    private void push(int export, byte[] rel) {
        log.trace("host changed {}:{}", export, printable(rel));
        Invalidate.Builder b = Invalidate.newBuilder().setExport(export).setRel(ByteString.copyFrom(rel));
        // With what is there now, the daemon drops the echo of a change it made itself (it holds that already).
        Attr now = stateOf(export, rel);
        if (now != null) b.setNow(now);
        send(FileReply.newBuilder().setId(0).setInvalidate(b).build());
    }

    private void abortPuts() {
        for (PutState p : puts.values()) p.abort();
        puts.clear();
    }

    private static String printable(byte[] rel) {
        return new String(rel, StandardCharsets.UTF_8);
    }

    /** Stops serving: open Puts are abandoned (their temporary files removed), the exports closed. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (MuxStream s : new MuxStream[] {stream, bulk}) {
            if (s != null && !s.onClosed().isDone()) s.reset(ResetCode.RESET_CANCEL, "file server closed");
        }
        DirectoryWatcher w = watcher;
        if (w != null) w.close();
        if (resident != null) resident.end(this);
        pool.shutdown();
        boolean idle;
        try {
            idle = pool.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            idle = false;
        }
        abortPuts();
        if (idle) {
            tree.close();
        } else {
            // A request still runs on a root descriptor: closing it could let the number be reused
            // under that request, somewhere else. Leave the descriptors to the process's end.
            log.warn("file server requests still running at close; export descriptors left open");
        }
    }

    /**
     * One Put in progress: its messages (one request id) are applied in order on the pool, one at a
     * time; only the last is answered. A failure is remembered and answered then.
     */
    private final class PutState {
        private final long id;
        private final int export;
        private final byte[] rel;
        private final ArrayDeque<FileRequest> queue = new ArrayDeque<>();
        private boolean scheduled;
        /** The last message arrived: the contents are whole, so the Put completes even if the stream ends now. */
        private boolean complete;
        private HostTree.PutFile file;
        private int errno;
        private boolean finished;

        PutState(FileRequest first) {
            this.id = first.getId();
            this.export = first.getExport();
            this.rel = first.getRel().toByteArray();
        }

        void enqueue(FileRequest r) {
            synchronized (queue) {
                if (r.getPut().getLast()) complete = true;
                queue.add(r);
                if (scheduled) return;
                scheduled = true;
            }
            try {
                pool.execute(this::drain);
            } catch (java.util.concurrent.RejectedExecutionException e) {
                abortNow();
            }
        }

        private void drain() {
            while (true) {
                FileRequest r;
                synchronized (queue) {
                    r = queue.poll();
                    if (r == null) {
                        scheduled = false;
                        return;
                    }
                }
                step(r.getPut());
            }
        }

        private synchronized void step(Put put) {
            if (finished) return;
            if (errno == 0) {
                try {
                    if (file == null) file = tree.beginPut(export, rel, put.getMode(), put.getChmod());
                    file.write(put.getOffset(), put.getData().toByteArray());
                } catch (ErrnoException e) {
                    fail(e.errno());
                } catch (RuntimeException e) {
                    log.warn("put {} failed", id, e);
                    fail(Errno.EIO);
                }
            }
            if (!put.getLast()) return;
            finished = true;
            puts.remove(id, this);
            FileReply.Builder reply = FileReply.newBuilder().setId(id);
            if (errno == 0) {
                try {
                    reply.setAttr(file.commit(put.getSync()));
                } catch (ErrnoException e) {
                    errno = e.errno();
                }
            }
            if (errno != 0) reply.setErrno(errno);
            send(reply.build());
        }

        private void fail(int e) {
            errno = e;
            if (file != null) file.abort();
        }

        /** The stream ended: without its last message the Put is dropped and the host file stays as it was. */
        void abort() {
            synchronized (queue) {
                if (complete) return;
            }
            abortNow();
        }

        private synchronized void abortNow() {
            if (finished) return;
            finished = true;
            if (file != null) file.abort();
        }
    }
}
