package io.tether.daemon.files;

import com.google.protobuf.ByteString;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.protocol.files.ChunkCompression;
import io.tether.protocol.frame.Limits;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.proto.Attr;
import io.tether.protocol.proto.Chmod;
import io.tether.protocol.proto.Chown;
import io.tether.protocol.proto.Create;
import io.tether.protocol.proto.DirEntries;
import io.tether.protocol.proto.DirEntry;
import io.tether.protocol.proto.Export;
import io.tether.protocol.proto.ExportChanges;
import io.tether.protocol.proto.FileReply;
import io.tether.protocol.proto.FileRequest;
import io.tether.protocol.proto.FilesOpen;
import io.tether.protocol.proto.Fsync;
import io.tether.protocol.proto.GetAttr;
import io.tether.protocol.proto.GetXattr;
import io.tether.protocol.proto.Invalidate;
import io.tether.protocol.proto.Link;
import io.tether.protocol.proto.ListXattr;
import io.tether.protocol.proto.Mkdir;
import io.tether.protocol.proto.Mknod;
import io.tether.protocol.proto.Put;
import io.tether.protocol.proto.Read;
import io.tether.protocol.proto.ReadDir;
import io.tether.protocol.proto.ReadLink;
import io.tether.protocol.proto.RemoveXattr;
import io.tether.protocol.proto.Rename;
import io.tether.protocol.proto.Rmdir;
import io.tether.protocol.proto.SetXattr;
import io.tether.protocol.proto.Stale;
import io.tether.protocol.proto.StatFs;
import io.tether.protocol.proto.StatFsReply;
import io.tether.protocol.proto.Symlink;
import io.tether.protocol.proto.Truncate;
import io.tether.protocol.proto.Unlink;
import io.tether.protocol.proto.Utimes;
import io.tether.protocol.proto.Validate;
import io.tether.protocol.proto.ValidateEntry;
import io.tether.protocol.transport.ReusedThreads;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;

/**
 * {@link HostFiles} over the files stream the client opened (tether.proto {@code FileRequest}):
 * each call sends a request with a fresh id and waits for its reply; many calls are in flight at
 * once. The mux's reader thread takes every {@code FileReply} off the stream ({@link MuxStream#onMessages})
 * and completes the calls whose replies only fill memory (metadata, listings, validations) right
 * there, sparing each such round trip a thread wake-up; the rest, in order, go to a reader thread of
 * this stream's own, which hands them to their calls by id (a fetch's chunks are written to the local
 * file right there, so a big file never sits in memory), and pushes id 0 invalidations to the
 * {@link #onChanged} listener. A reply is completed on the mux's thread only when nothing waits for
 * the reader thread, so replies are still taken in the order they came. With a files data
 * stream (tether.proto {@code FilesData}) a second reader does the same for the replies the client
 * sends there, the Reads of more than one message: a big fetch then fills that stream's window and
 * that reader's disk writes, never the files stream's, so listings, metadata replies and pushes keep
 * flowing past it. A call's replies all come on one stream, so each call is fed by one reader, in order.
 *
 * <p>No per-request timeout: a request waits as long as its host file operation takes. When the
 * stream or the connection is lost every pending call and every later one fails with EIO.
 */
public final class RemoteHostFiles implements HostFiles {
    private static final Logger log = LoggerFactory.getLogger(RemoteHostFiles.class);
    /** Data per Put message: under one 64 KiB frame with room for the envelope. */
    static final int PUT_CHUNK = 60 * 1024;
    /** Validation entries per request, well under one frame. */
    private static final int REQUEST_BATCH_BYTES = 48 * 1024;

    private final MuxStream stream;
    /** The files data stream, or null: the client sends everything on {@link #stream}. */
    private final MuxStream data;
    private final List<HostExport> exports;
    private final String hostArch;
    private final long watchEpoch;
    private final Map<Long, Call> pending = new ConcurrentHashMap<>();
    private final AtomicLong ids = new AtomicLong();
    private final CompletableFuture<Void> ended = new CompletableFuture<>();
    /** Null until the first {@link #onChanged}: pushes until then are kept in {@link #early} (under {@link #pushLock}). */
    private volatile BiConsumer<Integer, Changed> invalidations;
    private final Object pushLock = new Object();
    private final List<Map.Entry<Integer, Changed>> early = new ArrayList<>();
    /** More pushes came before a listener than {@link #EARLY_MAX}: the enclosed journal is not enough. */
    private boolean earlyOverflowed;
    private static final int EARLY_MAX = 65536;
    /** FilesOpen.changes by export, when the client enclosed its journal; each answers one changesNow. */
    private final Map<Integer, List<Changed>> enclosed;
    private final Set<Integer> enclosedTaken = ConcurrentHashMap.newKeySet();
    private volatile String lostBecause;
    /** Replies of the files stream for its reader thread, in order; {@link #END} once the stream ended. */
    private final java.util.concurrent.BlockingQueue<Object> forReader = new java.util.concurrent.LinkedBlockingQueue<>();
    /** Items put on {@link #forReader} and not yet done by the reader thread: while any, no reply is completed ahead of them. */
    private final java.util.concurrent.atomic.AtomicInteger readerBusy = new java.util.concurrent.atomic.AtomicInteger();
    /** On the listener's (serialised) runs only: the end was passed to the reader thread. */
    private boolean streamEnded;
    private static final Object END = new Object();

    private RemoteHostFiles(MuxStream stream, FilesOpen open, MuxStream data) {
        this.stream = stream;
        this.data = data;
        List<HostExport> list = new ArrayList<>();
        for (Export e : open.getExportsList()) {
            list.add(new HostExport(e.getId(), text(e.getGuestPath()), e.getReadOnly(), e.getCacheKey()));
        }
        this.exports = List.copyOf(list);
        this.hostArch = open.getHostArch();
        this.watchEpoch = open.getWatchEpoch();
        if (open.getChangesEnclosed() && watchEpoch != 0) {
            Map<Integer, List<Changed>> byExport = new HashMap<>();
            for (ExportChanges c : open.getChangesList()) {
                changedOf(c.getStale(), byExport.computeIfAbsent(c.getExport(), k -> new ArrayList<>()));
            }
            this.enclosed = byExport;
        } else {
            this.enclosed = null;
        }
    }

    /** Serves calls over {@code stream}, the files stream the client opened with {@code open}; starts its reader. */
    public static RemoteHostFiles open(MuxStream stream, FilesOpen open) {
        return open(stream, open, null);
    }

    /** As {@link #open(MuxStream, FilesOpen)}, the client's bulk replies coming on {@code data} (null: none). */
    public static RemoteHostFiles open(MuxStream stream, FilesOpen open, MuxStream data) {
        RemoteHostFiles files = new RemoteHostFiles(stream, open, data);
        ReusedThreads.start("host-files-reader-" + stream.id(), files::deliverLoop);
        stream.onMessages(files::takeReplies);
        if (data != null) ReusedThreads.start("host-files-data-reader-" + data.id(), () -> files.readLoop(data));
        return files;
    }

    /** On the mux's reader thread: light replies completed here while the reader thread has nothing queued, the rest queued. */
    private void takeReplies() {
        if (streamEnded) return;
        String why;
        try {
            byte[] bytes;
            while ((bytes = stream.pollBytes()) != null) {
                FileReply reply;
                try {
                    reply = FileReply.parseFrom(bytes);
                } catch (com.google.protobuf.InvalidProtocolBufferException e) {
                    stream.reset(io.tether.protocol.proto.ResetCode.RESET_PROTOCOL_ERROR, "malformed message: " + e.getMessage());
                    endStream("malformed message on stream " + stream.id() + ": " + e.getMessage());
                    return;
                }
                Call call = reply.getId() == 0 ? null : pending.get(reply.getId());
                if (call != null && call.light && readerBusy.get() == 0) {
                    if (call.deliver(reply)) pending.remove(reply.getId(), call);
                } else {
                    readerBusy.incrementAndGet();
                    forReader.add(reply);
                }
            }
            if (!stream.messagesEnded()) return;
            why = "the client ended the files stream";
        } catch (IOException e) {
            why = e.getMessage();
        }
        endStream(why);
    }

    private void endStream(String why) {
        streamEnded = true;
        readerBusy.incrementAndGet();
        forReader.add(END);
        forReader.add(why == null ? "lost" : why);
    }

    /** The files stream's reader thread: the replies {@link #takeReplies} queued, in order, then the end. */
    private void deliverLoop() {
        try {
            while (true) {
                Object o = forReader.take();
                if (o == END) {
                    String why = (String) forReader.take();
                    log.debug("host files stream {} ended: {}", stream.id(), why);
                    lost(why);
                    return;
                }
                try {
                    take((FileReply) o);
                } catch (RuntimeException e) {
                    log.warn("host files reader failed", e);
                    stream.reset(io.tether.protocol.proto.ResetCode.RESET_INTERNAL, "host files reader failed: " + e);
                    lost(e.toString());
                    return;
                } finally {
                    readerBusy.decrementAndGet();
                }
            }
        } catch (InterruptedException e) {
            lost("interrupted");
        }
    }

    private void take(FileReply reply) {
        if (reply.getId() == 0) {
            if (reply.hasInvalidate()) invalidate(reply);
            return;
        }
        Call call = pending.get(reply.getId());
        if (call == null) {
            log.debug("reply to unknown request {}", reply.getId());
            return;
        }
        if (call.deliver(reply)) pending.remove(reply.getId(), call);
    }

    /** Calls waiting for their last reply (tests). */
    int inFlight() {
        return pending.size();
    }

    /** Completes when the stream is gone (then every call fails with EIO). */
    public CompletableFuture<Void> ended() {
        return ended;
    }

    @Override
    public List<HostExport> exports() {
        return exports;
    }

    @Override
    public String hostArch() {
        return hostArch;
    }

    // ---- the calls ----

    @Override
    public HostAttr getattr(int export, String rel, boolean follow) throws ErrnoException {
        return attr(simple(request(export, rel).setGetattr(GetAttr.newBuilder().setFollow(follow)), "getattr", rel).getAttr());
    }

    @Override
    public HostListing readdir(int export, String rel) throws ErrnoException {
        List<HostDirEntry> entries = new ArrayList<>();
        HostAttr[] dir = {null};
        call(request(export, rel).setReaddir(ReadDir.getDefaultInstance()), "readdir", rel, (LightSink) reply -> {
            for (DirEntry e : reply.getEntries().getEntriesList()) {
                HostAttr a = attr(e.getAttr());
                entries.add(new HostDirEntry(text(e.getName()), a, a.isSymlink() ? text(e.getLinkTarget()) : null));
            }
            if (reply.getEntries().hasDirAttr()) dir[0] = attr(reply.getEntries().getDirAttr());
        });
        return new HostListing(dir[0], List.copyOf(entries));
    }

    @Override
    public int readdirTree(int export, String rel, int maxEntries, BiConsumer<String, HostListing> sink) throws ErrnoException {
        // On the reader thread, in order: a directory's batches come together, its last one with dir_attr.
        String[] dir = {null};
        List<HostDirEntry> entries = new ArrayList<>();
        int[] total = {0}, dirs = {0};
        call(request(export, rel).setReaddir(ReadDir.newBuilder().setMaxEntries(maxEntries)), "readdir", rel, reply -> {
            if (!reply.hasEntries()) return;
            DirEntries d = reply.getEntries();
            // The first directory is rel itself: a client without walk listings answers rel's listing alone, unnamed.
            String at = dirs[0] == 0 ? rel : text(d.getDirRel());
            if (!at.equals(dir[0])) {
                entries.clear(); // a directory cut short by an error on the host: left out
                dir[0] = at;
            }
            for (DirEntry e : d.getEntriesList()) {
                HostAttr a = attr(e.getAttr());
                entries.add(new HostDirEntry(text(e.getName()), a, a.isSymlink() ? text(e.getLinkTarget()) : null));
            }
            if (d.hasDirAttr()) {
                dirs[0]++;
                total[0] += entries.size();
                HostListing listing = new HostListing(attr(d.getDirAttr()), List.copyOf(entries));
                entries.clear();
                dir[0] = null;
                try {
                    sink.accept(at, listing);
                } catch (RuntimeException ex) {
                    log.warn("subtree listing of {}: {} not taken", rel, at, ex);
                }
            }
        });
        return total[0];
    }

    @Override
    public String readlink(int export, String rel) throws ErrnoException {
        return text(simple(request(export, rel).setReadlink(ReadLink.getDefaultInstance()), "readlink", rel).getLinkTarget());
    }

    @Override
    public byte[] read(int export, String rel, long offset, int length) throws ErrnoException {
        if (length <= 0) return new byte[0];
        ByteArrayOutputStream out = new ByteArrayOutputStream(Math.min(length, 1 << 20));
        call(request(export, rel).setRead(Read.newBuilder().setOffset(offset).setLength(length)), "read", rel, (LightSink) reply -> {
            if (reply.hasChunk()) ChunkCompression.contents(reply.getChunk()).writeTo(out);
        });
        return out.toByteArray();
    }

    @Override
    public HostAttr fetch(int export, String rel, Path localFile) throws ErrnoException {
        HostAttr[] attr = {null};
        long[] end = {0};
        // Not truncated first: a placeholder filled in place keeps its size until its bytes are there.
        try (FileChannel ch = FileChannel.open(localFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            // Written by the reader thread as chunks arrive: a big file never waits in memory.
            call(request(export, rel).setRead(Read.newBuilder().setOffset(0).setLength(0)), "fetch", rel, reply -> {
                if (reply.hasChunk()) {
                    ByteBuffer data = ChunkCompression.contents(reply.getChunk()).asReadOnlyByteBuffer();
                    long at = reply.getChunk().getOffset();
                    while (data.hasRemaining()) at += ch.write(data, at);
                    end[0] = Math.max(end[0], at);
                }
                if (reply.hasReadAttr()) attr[0] = attr(reply.getReadAttr());
            });
            ch.truncate(end[0]);
        } catch (IOException e) {
            if (e instanceof ErrnoException errno) throw errno;
            throw new ErrnoException(localErrno(e), "fetch", localFile + ": " + e.getMessage());
        }
        if (attr[0] == null) throw new ErrnoException(Errno.EIO, "fetch", rel + ": no attributes in the reply");
        return attr[0];
    }

    /** The errno of a local write's IOException: a full disk (strerror's words, all the JDK gives) may be made room for. */
    public static int localErrno(IOException e) {
        String m = String.valueOf(e.getMessage());
        if (m.contains("No space left on device")) return Errno.ENOSPC;
        if (m.contains("Disk quota exceeded")) return Errno.EDQUOT;
        return Errno.EIO;
    }

    @Override
    public HostAttr put(int export, String rel, Path localFile, int mode, boolean chmod, boolean sync) throws ErrnoException {
        long id = ids.incrementAndGet();
        Call call = new Call(id, "put", rel, null, true);
        register(call);
        try (InputStream in = Files.newInputStream(localFile)) {
            // The rel rides on the first message only (the client keeps it per id); room for it either way.
            ByteString relBytes = bytes(rel);
            byte[] buf = new byte[Math.max(4096, PUT_CHUNK - relBytes.size())];
            long offset = 0;
            boolean first = true;
            while (true) {
                int n = in.readNBytes(buf, 0, buf.length);
                boolean last = n < buf.length;
                Put.Builder put = Put.newBuilder().setOffset(offset).setData(ByteString.copyFrom(buf, 0, n)).setLast(last);
                if (first) put.setMode(mode).setChmod(chmod);
                if (last) put.setSync(sync);
                FileRequest.Builder request = FileRequest.newBuilder().setId(id).setExport(export).setPut(put);
                if (first) request.setRel(relBytes);
                send(call, request.build());
                first = false;
                offset += n;
                if (last) break;
            }
        } catch (IOException e) {
            pending.remove(id);
            if (e instanceof ErrnoException errno) throw errno;
            // The local file could not be read: the Put never gets its last message, so the client
            // never commits it (its temporary file goes when the stream ends).
            throw new ErrnoException(Errno.EIO, "put", localFile + ": " + e.getMessage());
        }
        return attr(call.await().getAttr());
    }

    @Override
    public HostAttr create(int export, String rel, int mode, boolean exclusive, boolean truncate) throws ErrnoException {
        return attr(simple(request(export, rel).setCreate(Create.newBuilder().setMode(mode).setExclusive(exclusive).setTruncate(truncate)),
                "create", rel).getAttr());
    }

    @Override
    public HostAttr truncate(int export, String rel, long size) throws ErrnoException {
        return attr(simple(request(export, rel).setTruncate(Truncate.newBuilder().setSize(size)), "truncate", rel).getAttr());
    }

    @Override
    public HostAttr mkdir(int export, String rel, int mode) throws ErrnoException {
        return attr(simple(request(export, rel).setMkdir(Mkdir.newBuilder().setMode(mode)), "mkdir", rel).getAttr());
    }

    @Override
    public HostAttr mknod(int export, String rel, int mode, long rdev) throws ErrnoException {
        return attr(simple(request(export, rel).setMknod(Mknod.newBuilder().setMode(mode).setRdev(rdev)), "mknod", rel).getAttr());
    }

    @Override
    public void unlink(int export, String rel) throws ErrnoException {
        simple(request(export, rel).setUnlink(Unlink.getDefaultInstance()), "unlink", rel);
    }

    @Override
    public void rmdir(int export, String rel) throws ErrnoException {
        simple(request(export, rel).setRmdir(Rmdir.getDefaultInstance()), "rmdir", rel);
    }

    @Override
    public HostAttr rename(int export, String rel, int toExport, String toRel, int flags) throws ErrnoException {
        FileReply r = simple(request(export, rel).setRename(Rename.newBuilder().setToExport(toExport).setToRel(bytes(toRel))
                .setFlags(flags)), "rename", rel);
        return r.hasAttr() ? attr(r.getAttr()) : null;
    }

    @Override
    public void link(int export, String rel, int toExport, String toRel) throws ErrnoException {
        simple(request(export, rel).setLink(Link.newBuilder().setToExport(toExport).setToRel(bytes(toRel))), "link", rel);
    }

    @Override
    public HostAttr symlink(int export, String rel, String target) throws ErrnoException {
        FileReply r = simple(request(export, rel).setSymlink(Symlink.newBuilder().setTarget(bytes(target))), "symlink", rel);
        return r.hasAttr() ? attr(r.getAttr()) : null;
    }

    @Override
    public HostAttr chmod(int export, String rel, int mode) throws ErrnoException {
        return attr(simple(request(export, rel).setChmod(Chmod.newBuilder().setMode(mode)), "chmod", rel).getAttr());
    }

    @Override
    public void chown(int export, String rel, long uid, long gid, boolean follow) throws ErrnoException {
        simple(request(export, rel).setChown(Chown.newBuilder().setUid(uid).setGid(gid).setFollow(follow)), "chown", rel);
    }

    @Override
    public void utimes(int export, String rel, long atimeS, long atimeNs, long mtimeS, long mtimeNs, boolean follow)
            throws ErrnoException {
        simple(request(export, rel).setUtimes(Utimes.newBuilder().setAtimeS(atimeS).setAtimeNs(atimeNs).setMtimeS(mtimeS)
                .setMtimeNs(mtimeNs).setFollow(follow)), "utimes", rel);
    }

    @Override
    public long[] statfs(int export, String rel) throws ErrnoException {
        StatFsReply s = simple(request(export, rel).setStatfs(StatFs.getDefaultInstance()), "statfs", rel).getStatfs();
        return new long[] {s.getType(), s.getBsize(), s.getBlocks(), s.getBfree(), s.getBavail(), s.getFiles(), s.getFfree(),
                s.getNamelen(), s.getFrsize(), s.getFlags()};
    }

    @Override
    public void fsync(int export, String rel) throws ErrnoException {
        simple(request(export, rel).setFsync(Fsync.getDefaultInstance()), "fsync", rel);
    }

    @Override
    public byte[] getxattr(int export, String rel, String name, boolean follow) throws ErrnoException {
        return simple(request(export, rel).setGetxattr(GetXattr.newBuilder().setName(bytes(name)).setFollow(follow)), "getxattr", rel)
                .getXattrValue().toByteArray();
    }

    @Override
    public void setxattr(int export, String rel, String name, byte[] value, int flags, boolean follow) throws ErrnoException {
        simple(request(export, rel).setSetxattr(SetXattr.newBuilder().setName(bytes(name)).setValue(ByteString.copyFrom(value))
                .setFlags(flags).setFollow(follow)), "setxattr", rel);
    }

    @Override
    public List<String> listxattr(int export, String rel, boolean follow) throws ErrnoException {
        List<String> names = new ArrayList<>();
        for (ByteString n : simple(request(export, rel).setListxattr(ListXattr.newBuilder().setFollow(follow)), "listxattr", rel)
                .getXattrNames().getNamesList()) {
            names.add(text(n));
        }
        return names;
    }

    @Override
    public void removexattr(int export, String rel, String name, boolean follow) throws ErrnoException {
        simple(request(export, rel).setRemovexattr(RemoveXattr.newBuilder().setName(bytes(name)).setFollow(follow)), "removexattr", rel);
    }

    /**
     * One round trip however many entries: they go out in as many requests as the frame limit needs,
     * all sent before the first answer is awaited; each answer may itself come in several replies.
     */
    @Override
    public List<String> validate(int export, List<Validation> cached) throws ErrnoException {
        if (cached.isEmpty()) return List.of();
        List<String> stale = java.util.Collections.synchronizedList(new ArrayList<>());
        ReplySink collect = (LightSink) reply -> {
            for (ByteString rel : reply.getStale().getRelsList()) stale.add(text(rel));
        };
        List<Call> calls = new ArrayList<>();
        Validate.Builder v = Validate.newBuilder();
        int bytes = 0;
        for (int i = 0; i <= cached.size(); i++) {
            ValidateEntry e = null;
            if (i < cached.size()) {
                Validation c = cached.get(i);
                e = ValidateEntry.newBuilder().setRel(bytes(c.rel())).setMtimeNs(c.mtimeNs()).setCtimeNs(c.ctimeNs())
                        .setSize(c.size()).setIno(c.ino()).build();
            }
            if (v.getEntriesCount() > 0 && (e == null || bytes + e.getSerializedSize() + 4 > REQUEST_BATCH_BYTES)) {
                calls.add(start(request(export, "").setValidate(v), "validate", "", collect));
                v = Validate.newBuilder();
                bytes = 0;
            }
            if (e != null) {
                v.addEntries(e);
                bytes += e.getSerializedSize() + 4;
            }
        }
        for (Call c : calls) c.await();
        return new ArrayList<>(stale);
    }

    @Override
    public long watchEpoch() {
        return watchEpoch;
    }

    @Override
    public List<String> changes(int export) throws ErrnoException {
        return changesNow(export).stream().map(Changed::rel).toList();
    }

    @Override
    public List<Changed> changesNow(int export) throws ErrnoException {
        if (enclosed != null && enclosedTaken.add(export)) {
            // The first ask of an export is answered by the open: the client drained its journal then.
            synchronized (pushLock) {
                if (earlyOverflowed) {
                    throw new ErrnoException(Errno.ESTALE, "validate", "(more changes came before the run watched than are kept)");
                }
            }
            return new ArrayList<>(enclosed.getOrDefault(export, List.of()));
        }
        List<Changed> changed = java.util.Collections.synchronizedList(new ArrayList<>());
        start(request(export, "").setValidate(Validate.newBuilder().setChangesOnly(true)), "validate", "",
                (LightSink) reply -> changedOf(reply.getStale(), changed)).await();
        return new ArrayList<>(changed);
    }

    /** Adds the rels of a changes_only answer to {@code to}, each with what the host holds now when the client said. */
    private static void changedOf(Stale s, List<Changed> to) {
        boolean told = s.getNowCount() == s.getRelsCount();
        for (int i = 0; i < s.getRelsCount(); i++) {
            to.add(told ? changed(text(s.getRels(i)), s.getNow(i)) : Changed.unknown(text(s.getRels(i))));
        }
    }

    @Override
    public void onInvalidate(BiConsumer<Integer, String> listener) {
        onChanged(listener == null ? null : (export, c) -> listener.accept(export, c.rel()));
    }

    @Override
    public void onChanged(BiConsumer<Integer, Changed> listener) {
        BiConsumer<Integer, Changed> to = listener == null ? (export, c) -> { } : listener;
        List<Map.Entry<Integer, Changed>> before;
        synchronized (pushLock) {
            before = new ArrayList<>(early);
            early.clear();
            invalidations = to;
        }
        // What came before is news for the first listener too: the journal it gets went with the open. Told
        // outside the lock (a listener may wait on replies the reader thread delivers); a later push told
        // first only makes the mirror look again (MirrorSession.holds takes an older ctime as held).
        for (Map.Entry<Integer, Changed> e : before) deliver(to, e.getKey(), e.getValue());
    }

    /** A rel and what the client found there (tether.proto Stale.now, Invalidate.now: mode 0 = gone). */
    private static Changed changed(String rel, Attr now) {
        return new Changed(rel, now.getMode() == 0 ? null : attr(now), true);
    }

    /** Ends our side of the stream; calls in flight and later ones fail with EIO. */
    @Override
    public void close() {
        lost("closed");
        stream.closeWrite();
        if (data != null) data.closeWrite();
    }

    // ---- plumbing ----

    private FileRequest.Builder request(int export, String rel) {
        return FileRequest.newBuilder().setExport(export).setRel(bytes(rel));
    }

    /** Receives each reply of one call on a reader thread (a Call completes after the last). */
    private interface ReplySink {
        void accept(FileReply reply) throws IOException;
    }

    /** A sink that only fills memory: it may run on the mux's reader thread, which must never block. */
    private interface LightSink extends ReplySink { }

    private FileReply simple(FileRequest.Builder request, String op, String rel) throws ErrnoException {
        return call(request, op, rel, null);
    }

    /** Sends {@code request} with a fresh id and waits for its last reply; {@code sink} sees every successful reply first. */
    private FileReply call(FileRequest.Builder request, String op, String rel, ReplySink sink) throws ErrnoException {
        return start(request, op, rel, sink).await();
    }

    /** Sends {@code request} with a fresh id; the caller awaits the returned call. */
    private Call start(FileRequest.Builder request, String op, String rel, ReplySink sink) throws ErrnoException {
        long id = ids.incrementAndGet();
        Call call = new Call(id, op, rel, sink, sink == null || sink instanceof LightSink);
        register(call);
        send(call, request.setId(id).build());
        return call;
    }

    private void register(Call call) throws ErrnoException {
        pending.put(call.id, call);
        String why = lostBecause;
        if (why != null) {
            pending.remove(call.id);
            throw new ErrnoException(Errno.EIO, call.op, call.rel + ": host files lost (" + why + ")");
        }
    }

    private void send(Call call, FileRequest request) throws ErrnoException {
        if (request.getSerializedSize() > Limits.MAX_PAYLOAD) {
            // Too big for a frame (a 64 KiB xattr value): this call fails, the stream stays.
            pending.remove(call.id);
            throw new ErrnoException(Errno.E2BIG, call.op, call.rel);
        }
        try {
            stream.send(request);
        } catch (IOException e) {
            pending.remove(call.id);
            lost(e.getMessage());
            throw new ErrnoException(Errno.EIO, call.op, call.rel + ": " + e.getMessage());
        }
    }

    /** Takes the replies off {@code s}, the files data stream; its end loses both streams. */
    private void readLoop(MuxStream s) {
        String why = "the client ended the files data stream";
        try {
            while (true) {
                FileReply reply = s.receive(FileReply.parser());
                if (reply == null) break;
                take(reply);
            }
        } catch (IOException e) {
            why = e.getMessage();
        } catch (RuntimeException e) {
            log.warn("host files reader failed", e);
            why = e.toString();
        }
        log.debug("host files stream {} ended: {}", s.id(), why);
        lost(why);
    }

    private void invalidate(FileReply reply) {
        try {
            Invalidate i = reply.getInvalidate();
            String rel = text(i.getRel());
            Changed c = i.hasNow() ? changed(rel, i.getNow()) : Changed.unknown(rel);
            BiConsumer<Integer, Changed> to = invalidations;
            if (to == null) {
                synchronized (pushLock) {
                    to = invalidations;
                    if (to == null) {
                        if (early.size() < EARLY_MAX) early.add(Map.entry(i.getExport(), c));
                        else earlyOverflowed = true;
                        return;
                    }
                }
            }
            deliver(to, i.getExport(), c);
        } catch (RuntimeException e) {
            log.warn("invalidation listener failed", e);
        }
    }

    private static void deliver(BiConsumer<Integer, Changed> to, int export, Changed c) {
        try {
            to.accept(export, c);
        } catch (RuntimeException e) {
            log.warn("invalidation listener failed", e);
        }
    }

    /** Fails every pending call and every later one with EIO. */
    private void lost(String why) {
        synchronized (this) {
            if (lostBecause != null) return;
            lostBecause = why == null ? "lost" : why;
        }
        for (Call c : pending.values()) c.fail(new ErrnoException(Errno.EIO, c.op, c.rel + ": host files lost (" + lostBecause + ")"));
        pending.clear();
        ended.complete(null);
    }

    /** One request in flight. */
    private static final class Call {
        final long id;
        final String op;
        final String rel;
        /** Its replies may be taken on the mux's reader thread (no sink, or a {@link LightSink}). */
        final boolean light;
        private final ReplySink sink;
        private final CompletableFuture<FileReply> result = new CompletableFuture<>();
        private IOException sinkFailure;

        Call(long id, String op, String rel, ReplySink sink, boolean light) {
            this.id = id;
            this.light = light;
            this.op = op;
            this.rel = rel;
            this.sink = sink;
        }

        /** On the reader thread; true when this was the last reply. */
        boolean deliver(FileReply reply) {
            if (reply.getErrno() == 0 && sink != null && sinkFailure == null) {
                try {
                    sink.accept(reply);
                } catch (IOException e) {
                    sinkFailure = e; // keep taking the replies; report at the end
                }
            }
            if (reply.getMore() && reply.getErrno() == 0) return false;
            if (reply.getErrno() != 0) {
                result.completeExceptionally(new ErrnoException(reply.getErrno(), op, rel));
            } else if (sinkFailure != null) {
                result.completeExceptionally(sinkFailure instanceof ErrnoException e ? e
                        : new ErrnoException(localErrno(sinkFailure), op, rel + ": " + sinkFailure.getMessage()));
            } else {
                result.complete(reply);
            }
            return true;
        }

        void fail(ErrnoException e) {
            result.completeExceptionally(e);
        }

        FileReply await() throws ErrnoException {
            try {
                return result.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ErrnoException(Errno.EINTR, op, rel);
            } catch (ExecutionException e) {
                if (e.getCause() instanceof ErrnoException errno) {
                    // Rethrown on the caller's thread: the caller's stack, the same errno and words.
                    throw new ErrnoException(errno.errno(), errno.op(), errno.subject());
                }
                throw new ErrnoException(Errno.EIO, op, rel + ": " + e.getCause());
            }
        }
    }

    private static HostAttr attr(Attr a) {
        return new HostAttr(a.getMode(), a.getUid(), a.getGid(), a.getSize(), a.getAtimeNs(), a.getMtimeNs(), a.getCtimeNs(), a.getIno(),
                a.getDev(), a.getNlink(), a.getRdev(), a.getBlocks());
    }

    /** Wire bytes as the HostFiles convention's one-char-per-byte String. */
    private static String text(ByteString b) {
        return b.toString(StandardCharsets.ISO_8859_1);
    }

    private static ByteString bytes(String s) {
        return ByteString.copyFrom(s, StandardCharsets.ISO_8859_1);
    }
}
