package io.tether.client.files;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.tether.daemon.files.HostAttr;
import io.tether.daemon.files.HostDirEntry;
import io.tether.daemon.files.HostExport;
import io.tether.daemon.files.HostFiles;
import io.tether.daemon.files.HostListing;
import io.tether.daemon.files.RemoteHostFiles;
import io.tether.posix.Errno;
import io.tether.posix.ErrnoException;
import io.tether.protocol.mux.Mux;
import io.tether.protocol.mux.MuxConfig;
import io.tether.protocol.mux.MuxStream;
import io.tether.protocol.mux.StreamResetException;
import io.tether.protocol.proto.FileReply;
import io.tether.protocol.proto.FileRequest;
import io.tether.protocol.proto.FilesData;
import io.tether.protocol.proto.FilesOpen;
import io.tether.protocol.proto.Put;
import io.tether.protocol.proto.StreamOpen;
import io.tether.protocol.transport.BytePipe;
import io.tether.protocol.transport.Transport;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Both ends of the files stream and its data stream over an in-memory connection: the daemon's
 * {@link RemoteHostFiles} driving the client's {@link FileServer}, as a traced run would.
 */
@Timeout(60)
class HostFilesRoundTripTest {
    @TempDir Path tmp;
    Path root;
    Path bind;
    Mux host;
    Mux target;
    FileServer server;
    /** The daemon's end of the files stream and what it was opened with. */
    final CompletableFuture<MuxStream> targetStream = new CompletableFuture<>();
    final CompletableFuture<FilesOpen> opened = new CompletableFuture<>();
    /** The daemon's ends of the files streams (the fixture's first) and of the files data streams, as accepted. */
    final BlockingQueue<MuxStream> filesStreams = new LinkedBlockingQueue<>();
    final BlockingQueue<MuxStream> dataStreams = new LinkedBlockingQueue<>();
    /** The daemon's end of the fixture's files data stream. */
    MuxStream targetData;

    @BeforeEach
    void setUp() throws Exception {
        root = Files.createDirectory(tmp.resolve("rootfs"));
        // On tmpfs where there is one: it keeps xattr values up to 64 KiB (ext4: a block).
        Path shm = Path.of("/dev/shm");
        bind = Files.isDirectory(shm) && Files.isWritable(shm) ? Files.createTempDirectory(shm, "tether-bind")
                : Files.createDirectory(tmp.resolve("src"));
        Files.writeString(root.resolve("hello.txt"), "hello\n");
        Files.createDirectories(root.resolve("usr/lib"));
        Files.createSymbolicLink(root.resolve("lib"), Path.of("usr/lib"));
        Transport[] t = BytePipe.duplex(256 * 1024);
        MuxConfig config = MuxConfig.defaults("test").withHelloTimeout(Duration.ofSeconds(10));
        target = Mux.start(t[1], Mux.Role.SERVER, config, (stream, open) -> {
            if (open.hasFilesData()) {
                dataStreams.add(stream);
                return;
            }
            opened.complete(open.getFiles());
            targetStream.complete(stream);
            filesStreams.add(stream);
        });
        host = Mux.start(t[0], Mux.Role.CLIENT, config, null);
        host.awaitReady();
        target.awaitReady();
        server = FileServer.open(List.of(new FileExport(root, "/", false), new FileExport(bind, "/src", false),
                new FileExport(Files.createDirectory(tmp.resolve("ro")), "/ro", true)), options());
        MuxStream data = host.open(StreamOpen.newBuilder().setFilesData(FilesData.getDefaultInstance()).build());
        MuxStream s = host.open(StreamOpen.newBuilder().setFiles(server.filesOpen()).build());
        // As ClientSession does with a daemon that takes LZ4 blocks (the hello feature): every fetch below may get some.
        server.serve(s, data, true);
        targetData = dataStreams.poll(5, TimeUnit.SECONDS);
        // Accepted before any test opens a stream of its own, so targetStream is this one (streams are accepted on
        // several threads, in any order).
        targetStream.get(5, TimeUnit.SECONDS);
    }

    /**
     * The target's side of a files stream the host opened: found by its id, since the accepts run on several
     * threads and a test's own stream may be handed over before setUp's (a test that took the second one it saw
     * read setUp's server, whose replies go to its data stream, and waited forever: ci51).
     */
    private MuxStream targetSideOf(MuxStream hostSide) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        java.util.List<MuxStream> others = new java.util.ArrayList<>();
        try {
            while (true) {
                MuxStream s = filesStreams.poll(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                if (s == null) throw new AssertionError("stream " + hostSide.id() + " never reached the target");
                if (s.id() == hostSide.id()) return s;
                others.add(s);
            }
        } finally {
            filesStreams.addAll(others);
        }
    }

    /** One watch at most: the bound is tested without thousands of directories. */
    FileServer.Options options() {
        return new FileServer.Options(FileServer.DEFAULT_THREADS, 2, false);
    }

    @AfterEach
    void tearDown() throws Exception {
        server.close();
        host.close();
        target.close();
        try (Stream<Path> s = Files.walk(bind)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    HostFiles remote() throws Exception {
        return RemoteHostFiles.open(targetStream.get(5, TimeUnit.SECONDS), opened.get(5, TimeUnit.SECONDS), targetData);
    }

    static int errno(HostTreeTest.ThrowingRunnable r) {
        return assertThrows(ErrnoException.class, r::run).errno();
    }

    @Test
    void theDaemonSeesTheExportsWithStableCacheKeysAndTheHostArch() throws Exception {
        HostFiles files = remote();
        List<HostExport> exports = files.exports();
        assertEquals(3, exports.size());
        assertTrue(exports.get(2).readOnly());
        assertEquals("/", exports.get(0).guestPath());
        assertEquals("/src", exports.get(1).guestPath());
        assertEquals(64, exports.get(0).cacheKey().length());
        assertEquals(new FileExport(root, "/", true).cacheKey(), exports.get(0).cacheKey(), "the key names the host tree only");
        assertFalse(exports.get(0).cacheKey().equals(exports.get(1).cacheKey()));
        assertFalse(exports.get(0).cacheKey().contains(root.getFileName().toString()));
        assertEquals(FileServer.hostArch(), files.hostArch());
    }

    @Test
    void everyOperationRoundTripsWithItsResultOrErrno() throws Exception {
        HostFiles files = remote();
        HostAttr hello = files.getattr(0, "hello.txt", false);
        assertTrue(hello.isRegular());
        assertEquals(6, hello.size());
        assertTrue(files.getattr(0, "lib", false).isSymlink());
        assertTrue(files.getattr(0, "lib", true).isDirectory());
        assertEquals(Errno.ENOENT, errno(() -> files.getattr(0, "missing", true)));
        HostListing listing = files.readdir(0, "");
        Map<String, HostDirEntry> byName = new HashMap<>();
        for (HostDirEntry e : listing.entries()) byName.put(e.name(), e);
        assertEquals(java.util.Set.of("hello.txt", "usr", "lib"), byName.keySet());
        assertEquals("usr/lib", byName.get("lib").linkTarget());
        assertNull(byName.get("hello.txt").linkTarget());
        assertTrue(listing.dir().isDirectory());
        assertEquals("usr/lib", files.readlink(0, "lib"));
        assertArrayEquals("ell".getBytes(), files.read(0, "hello.txt", 1, 3));
        assertArrayEquals(new byte[0], files.read(0, "hello.txt", 100, 3));

        Path local = tmp.resolve("local");
        HostAttr fetched = files.fetch(0, "hello.txt", local);
        assertEquals("hello\n", Files.readString(local));
        assertTrue(fetched.sameContentAs(hello));

        Files.writeString(local, "written on the target");
        HostAttr put = files.put(0, "usr/new.txt", local, 0640, false, true);
        assertEquals(0640, put.mode() & 07777);
        assertEquals("written on the target", Files.readString(root.resolve("usr/new.txt")));

        assertEquals(0600, files.create(0, "made", 0600, true, false).mode() & 07777);
        assertEquals(Errno.EEXIST, errno(() -> files.create(0, "made", 0600, true, false)));
        assertEquals(3, files.truncate(0, "hello.txt", 3).size());
        assertTrue(files.mkdir(0, "d", 0755).isDirectory());
        assertEquals(0010000, files.mknod(0, "d/fifo", 0010600, 0).mode() & HostAttr.S_IFMT);
        files.unlink(0, "d/fifo");
        assertEquals(Errno.ENOENT, errno(() -> files.unlink(0, "d/fifo")));
        files.rmdir(0, "d");
        HostAttr moved = files.rename(0, "made", 0, "usr/made", 0);
        assertTrue(Files.exists(root.resolve("usr/made")));
        assertEquals(files.getattr(0, "usr/made", false), moved, "what the rename left, for the daemon to keep");
        assertEquals(Errno.EXDEV, errno(() -> files.rename(0, "usr/made", 1, "made", 0)));
        files.link(0, "usr/made", 0, "hard");
        assertEquals(2, files.getattr(0, "hard", false).nlink());
        HostAttr sym = files.symlink(0, "sym", "/usr/made");
        assertEquals(files.getattr(0, "sym", false), sym);
        assertEquals("/usr/made", Files.readSymbolicLink(root.resolve("sym")).toString());
        assertEquals(0604, files.chmod(0, "hard", 0604).mode() & 07777);
        files.chown(0, "sym", -1, -1, false);
        files.utimes(0, "hard", 0, (1L << 30) - 2, 1234, 0, true);
        assertEquals(1234L * 1_000_000_000L, files.getattr(0, "hard", false).mtimeNs());
        long[] statfs = files.statfs(0, "");
        assertEquals(10, statfs.length);
        assertTrue(statfs[1] > 0);
        files.fsync(0, "hard");
        files.setxattr(0, "hard", "user.k", "v".getBytes(), 0, true);
        assertArrayEquals("v".getBytes(), files.getxattr(0, "hard", "user.k", true));
        assertTrue(files.listxattr(0, "hard", true).contains("user.k"));
        files.removexattr(0, "hard", "user.k", true);
        assertEquals(Errno.ENODATA, errno(() -> files.getxattr(0, "hard", "user.k", true)));

        HostAttr made = files.getattr(0, "usr/made", false);
        Files.writeString(root.resolve("usr/made"), "changed");
        List<String> stale = files.validate(0, List.of(
                new HostFiles.Validation("usr/made", made.mtimeNs(), made.ctimeNs(), made.size(), made.ino()),
                new HostFiles.Validation("usr/new.txt", put.mtimeNs(), put.ctimeNs(), put.size(), put.ino()),
                new HostFiles.Validation("gone", 1, 1, 1, 1)));
        assertEquals(List.of("usr/made", "gone"), stale);

        // The bind is its own export; the read-only one refuses every change.
        files.create(1, "in-bind", 0644, false, false);
        assertTrue(Files.exists(bind.resolve("in-bind")));
        assertEquals(Errno.EROFS, errno(() -> files.put(2, "x", local, 0644, false, false)));
        assertEquals(Errno.EROFS, errno(() -> files.mkdir(2, "x", 0755)));
        assertEquals(0, files.readdir(2, "").entries().size());
    }

    @Test
    void aValidationOfThousandsOfEntriesIsSplitOverFramesBothWays() throws Exception {
        HostFiles files = remote();
        Path many = Files.createDirectory(root.resolve("many"));
        List<HostFiles.Validation> cached = new ArrayList<>();
        List<String> expected = new ArrayList<>();
        String longName = "x".repeat(100);
        for (int i = 0; i < 3000; i++) {
            String rel = "many/" + longName + i;
            Files.writeString(many.resolve(longName + i), "v");
            HostAttr a = files.getattr(0, rel, false);
            boolean stale = i % 2 == 0;
            if (stale) expected.add(rel);
            cached.add(new HostFiles.Validation(rel, stale ? a.mtimeNs() - 1 : a.mtimeNs(), a.ctimeNs(), a.size(), a.ino()));
        }
        List<String> stale = new ArrayList<>(files.validate(0, cached));
        java.util.Collections.sort(stale);
        java.util.Collections.sort(expected);
        assertEquals(expected, stale);
    }

    @Test
    void aResultTooBigForAFrameIsE2bigAndTheStreamLivesOn() throws Exception {
        HostFiles files = remote();
        byte[] big = new byte[65_536]; // XATTR_SIZE_MAX: with its envelope, over one frame
        assertEquals(Errno.E2BIG, errno(() -> files.setxattr(0, "hello.txt", "user.big", new byte[70_000], 0, true)));
        Path f = Files.writeString(bind.resolve("big-xattr"), "x");
        try {
            Files.getFileAttributeView(f, java.nio.file.attribute.UserDefinedFileAttributeView.class)
                    .write("big", java.nio.ByteBuffer.wrap(big));
        } catch (java.io.IOException e) {
            org.junit.jupiter.api.Assumptions.assumeTrue(false, "no file system here keeps a 64 KiB xattr: " + e.getMessage());
        }
        assertEquals(Errno.E2BIG, errno(() -> files.getxattr(1, "big-xattr", "user.big", true)));
        assertEquals(6, files.getattr(0, "hello.txt", true).size());
    }

    @Test
    void namesAreBytesNotText() throws Exception {
        HostFiles files = remote();
        byte[] latin1 = {'c', 'a', 'f', (byte) 0xe9};
        String rel = new String(latin1, StandardCharsets.ISO_8859_1);
        files.create(0, rel, 0644, true, false);
        List<String> names = new ArrayList<>();
        for (HostDirEntry e : files.readdir(0, "").entries()) names.add(e.name());
        assertTrue(names.contains(rel), names.toString());
        assertEquals(6L, files.getattr(0, "hello.txt", true).size());
    }

    @Test
    void manyFetchesRunInParallelAndABigFileArrivesIntact() throws Exception {
        HostFiles files = remote();
        Random random = new Random(7);
        byte[] big = new byte[12 * 1024 * 1024 + 12345];
        random.nextBytes(big);
        Files.write(root.resolve("big.bin"), big);
        Map<String, byte[]> small = new HashMap<>();
        for (int i = 0; i < 48; i++) {
            byte[] data = new byte[random.nextInt(300_000)];
            random.nextBytes(data);
            small.put("usr/lib/f" + i, data);
            Files.write(root.resolve("usr/lib/f" + i), data);
        }
        ExecutorService pool = Executors.newFixedThreadPool(24);
        try {
            Future<HostAttr> bigFetch = pool.submit(() -> files.fetch(0, "big.bin", tmp.resolve("big.local")));
            List<Future<Boolean>> results = new ArrayList<>();
            for (Map.Entry<String, byte[]> e : small.entrySet()) {
                results.add(pool.submit(() -> {
                    Path local = Files.createTempFile(tmp, "fetch", "");
                    files.fetch(0, e.getKey(), local);
                    return java.util.Arrays.equals(e.getValue(), Files.readAllBytes(local));
                }));
            }
            for (Future<Boolean> r : results) assertTrue(r.get(30, TimeUnit.SECONDS));
            assertEquals(big.length, bigFetch.get(30, TimeUnit.SECONDS).size());
            assertEquals(sha256(big), sha256(Files.readAllBytes(tmp.resolve("big.local"))));
        } finally {
            pool.shutdownNow();
        }
        // And back: a big Put arrives whole.
        HostAttr a = files.put(0, "big.copy", tmp.resolve("big.local"), 0644, false, false);
        assertEquals(big.length, a.size());
        assertEquals(sha256(big), sha256(Files.readAllBytes(root.resolve("big.copy"))));
    }

    /**
     * Feature files-lz4: a compressible file's chunks cross as LZ4 blocks (fewer bytes than the file), a
     * random one's as they are, and what the daemon reads back (whole or a range) is the file byte for byte.
     */
    @Test
    void compressibleContentsCrossAsLz4BlocksAndArriveIntact() throws Exception {
        byte[] text = new byte[700_000];
        Random random = new Random(11);
        byte[] words = "static inline int frob(struct widget *w) { return w->count++; }\n".getBytes();
        for (int i = 0; i < text.length; i++) text[i] = random.nextInt(50) == 0 ? (byte) random.nextInt(256) : words[i % words.length];
        Files.write(root.resolve("usr/lib/libtext.so"), text);
        byte[] noise = new byte[200_000];
        random.nextBytes(noise);
        Files.write(root.resolve("usr/lib/noise.bin"), noise);

        // On the wire: the daemon's side of a stream of its own, read raw.
        FileServer alone = FileServer.open(List.of(new FileExport(root, "/", false)), options());
        MuxStream hostSide = host.open(StreamOpen.newBuilder().setFiles(alone.filesOpen()).build());
        alone.serve(hostSide, null, true);
        MuxStream raw = targetSideOf(hostSide);
        long[] wire = new long[2];
        int[] blocks = new int[2];
        String[] names = {"usr/lib/libtext.so", "usr/lib/noise.bin"};
        for (int k = 0; k < 2; k++) {
            raw.send(FileRequest.newBuilder().setId(k + 1).setExport(0).setRel(ByteString.copyFromUtf8(names[k]))
                    .setRead(io.tether.protocol.proto.Read.newBuilder()).build());
            java.io.ByteArrayOutputStream got = new java.io.ByteArrayOutputStream();
            for (FileReply r = null; r == null || r.getMore(); ) {
                r = raw.receive(FileReply.parser());
                assertEquals(0, r.getErrno());
                wire[k] += r.getChunk().getData().size();
                if (r.getChunk().getRawSize() != 0) blocks[k]++;
                io.tether.protocol.files.ChunkCompression.contents(r.getChunk()).writeTo(got);
            }
            assertArrayEquals(k == 0 ? text : noise, got.toByteArray());
        }
        alone.close();
        assertTrue(blocks[0] > 0 && wire[0] < text.length / 2, blocks[0] + " blocks, " + wire[0] + " bytes on the wire for " + text.length);
        assertEquals(0, blocks[1], "random bytes go as they are");
        assertEquals(noise.length, wire[1]);

        // Through the daemon's stub: whole and in ranges that start and end inside blocks.
        HostFiles files = remote();
        Path local = tmp.resolve("libtext.local");
        assertEquals(text.length, files.fetch(0, "usr/lib/libtext.so", local).size());
        assertArrayEquals(text, Files.readAllBytes(local));
        assertArrayEquals(java.util.Arrays.copyOfRange(text, 70_001, 270_001), files.read(0, "usr/lib/libtext.so", 70_001, 200_000));
    }

    @Test
    void aLongReadDoesNotHoldUpOtherRequests() throws Exception {
        // A client without a files data stream (a daemon without the feature): everything on one stream.
        FileServer alone = FileServer.open(List.of(new FileExport(root, "/", false)), options());
        MuxStream hostSide = host.open(StreamOpen.newBuilder().setFiles(alone.filesOpen()).build());
        alone.serve(hostSide);
        MuxStream raw = targetSideOf(hostSide);
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(root.resolve("sparse").toFile(), "rw")) {
            f.setLength(256L << 20); // 256 MiB of holes: the read can only end after ~4400 chunks
        }
        raw.send(FileRequest.newBuilder().setId(1).setExport(0).setRel(ByteString.copyFromUtf8("sparse"))
                .setRead(io.tether.protocol.proto.Read.newBuilder()).build());
        FileReply first = raw.receive(FileReply.parser());
        assertEquals(1, first.getId());
        raw.send(FileRequest.newBuilder().setId(2).setExport(0).setRel(ByteString.copyFromUtf8("hello.txt"))
                .setGetattr(io.tether.protocol.proto.GetAttr.newBuilder()).build());
        int chunksBefore = 0;
        while (true) {
            FileReply r = raw.receive(FileReply.parser());
            if (r.getId() == 2) {
                assertEquals(6, r.getAttr().getSize());
                break;
            }
            assertTrue(r.getMore(), "the read ended before the getattr was answered");
            chunksBefore++;
        }
        assertTrue(chunksBefore < 4000, chunksBefore + " chunks first");
        alone.close();
    }

    /**
     * Head-of-line blocking, the reason for the data stream: a read of many chunks whose data stream
     * window is used up (the daemon's reader there is busy, here it never reads) holds up neither a
     * listing, a small read nor a push on the files stream, and its replies, errno included, all come on
     * the data stream, whole and in order once it is read.
     */
    @Test
    void aBigReadWithItsWindowUsedUpHoldsUpNoListingSmallReadOrPush() throws Exception {
        MuxStream raw = targetStream.get(5, TimeUnit.SECONDS);
        byte[] big = new byte[3 * MuxConfig.DEFAULT_STREAM_WINDOW + 4321];
        new Random(11).nextBytes(big);
        Files.write(root.resolve("usr/lib/libc.so.6"), big);
        raw.send(FileRequest.newBuilder().setId(1).setExport(0).setRel(ByteString.copyFromUtf8("usr/lib/libc.so.6"))
                .setRead(io.tether.protocol.proto.Read.newBuilder()).build());
        // The client has sent all the credit we granted and waits for more.
        awaitWindowUsedUp(targetData);
        raw.send(FileRequest.newBuilder().setId(2).setExport(0).setRel(ByteString.copyFromUtf8("usr/lib"))
                .setReaddir(io.tether.protocol.proto.ReadDir.newBuilder()).build());
        FileReply listing = raw.receive(FileReply.parser());
        assertEquals(2, listing.getId(), listing.toString());
        assertFalse(listing.getMore());
        assertEquals("libc.so.6", listing.getEntries().getEntries(0).getName().toStringUtf8());
        raw.send(FileRequest.newBuilder().setId(3).setExport(0).setRel(ByteString.copyFromUtf8("hello.txt"))
                .setRead(io.tether.protocol.proto.Read.newBuilder()).build());
        FileReply small = raw.receive(FileReply.parser());
        assertEquals(3, small.getId(), "a one-message read stays on the files stream");
        assertEquals("hello\n", small.getChunk().getData().toStringUtf8());
        assertFalse(small.getMore());
        Files.writeString(root.resolve("usr/lib/ld.so"), "x");
        FileReply push = raw.receive(FileReply.parser());
        assertEquals(0, push.getId(), push.toString());
        assertTrue(push.getInvalidate().getRel().toStringUtf8().startsWith("usr/lib/ld.so"), push.toString());
        // Now the daemon reads the data stream: the whole file, in order, the attributes on the last chunk.
        java.io.ByteArrayOutputStream got = new java.io.ByteArrayOutputStream();
        FileReply r;
        do {
            r = targetData.receive(FileReply.parser());
            assertEquals(1, r.getId());
            assertEquals(got.size(), r.getChunk().getOffset());
            r.getChunk().getData().writeTo(got);
        } while (r.getMore());
        assertArrayEquals(big, got.toByteArray());
        assertEquals(big.length, r.getReadAttr().getSize());
        // A read that fails: its errno comes where its replies would, a missing file's on the files stream.
        raw.send(FileRequest.newBuilder().setId(4).setExport(0).setRel(ByteString.copyFromUtf8("usr/lib/none"))
                .setRead(io.tether.protocol.proto.Read.newBuilder()).build());
        FileReply missing;
        do {
            missing = raw.receive(FileReply.parser());
        } while (missing.getId() == 0); // more pushes of ld.so
        assertEquals(4, missing.getId());
        assertEquals(Errno.ENOENT, missing.getErrno());
    }

    private static final java.util.regex.Pattern RECV_REMAINING = java.util.regex.Pattern.compile("recvRemaining=(-?\\d+)");

    /** Waits until the peer has used all the credit {@code s} granted (the stream's diagnostic state says so). */
    static void awaitWindowUsedUp(MuxStream s) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        String state = s.toString();
        while (System.nanoTime() < deadline) {
            state = s.toString();
            java.util.regex.Matcher m = RECV_REMAINING.matcher(state);
            assertTrue(m.find(), state);
            if (Long.parseLong(m.group(1)) <= 0) return;
            Thread.sleep(5);
        }
        throw new AssertionError("the window was never used up: " + state);
    }

    @Test
    void aLostDataStreamFailsEveryCallWithEio() throws Exception {
        RemoteHostFiles files = (RemoteHostFiles) remote();
        files.getattr(0, "", true);
        targetData.reset(io.tether.protocol.proto.ResetCode.RESET_CANCEL, "test");
        files.ended().get(10, TimeUnit.SECONDS);
        assertEquals(Errno.EIO, errno(() -> files.getattr(0, "hello.txt", true)));
        assertEquals(Errno.EIO, errno(() -> files.readdir(0, "")));
    }

    @Test
    void watchesAreBoundedAndListingsBeyondTheBoundStillWork() throws Exception {
        HostFiles files = remote();
        Files.createDirectories(root.resolve("a"));
        Files.createDirectories(root.resolve("b"));
        files.readdir(0, "a");
        files.readdir(0, "b");
        files.readdir(0, "usr");
        assertTrue(files.readdir(0, "").entries().stream().anyMatch(e -> e.name().equals("a")), "listed past the bound");
        assertEquals(2, server.watchCount());
    }

    @Test
    void aWalkListingBringsTheSubtreeDepthFirstInOneRequestAndStaysInside() throws Exception {
        HostFiles files = remote();
        for (String d : List.of("w/a/x", "w/b", "w/c/y/z")) Files.createDirectories(root.resolve(d));
        Files.writeString(root.resolve("w/a/x/f"), "f");
        Path outside = Files.createDirectories(tmp.resolve("outside/secret"));
        Files.createSymbolicLink(root.resolve("w/out"), outside);          // absolute, to outside the root
        Files.createSymbolicLink(root.resolve("w/in"), Path.of("../usr")); // relative, to a directory inside
        Map<String, HostListing> got = new java.util.LinkedHashMap<>();
        int entries = files.readdirTree(0, "w", 1000, (dir, listing) -> got.put(dir, listing));
        assertEquals(List.of("w", "w/a", "w/a/x", "w/b", "w/c", "w/c/y", "w/c/y/z"),
                got.keySet().stream().sorted().toList(), "every directory once, no symlink followed");
        List<String> order = new ArrayList<>(got.keySet());
        for (String d : order) {
            String parent = d.contains("/") ? d.substring(0, d.lastIndexOf('/')) : "";
            if (!d.equals("w")) assertTrue(order.indexOf(parent) < order.indexOf(d), "depth first: " + order);
            assertTrue(got.get(d).dir().isDirectory(), d + " carries its own attributes");
        }
        assertEquals(List.of("f"), got.get("w/a/x").entries().stream().map(HostDirEntry::name).toList());
        assertEquals(9, entries, "a, b, c, out, in; x; f; y; z");
        assertEquals(files.readdir(0, "w/c").entries().size(), got.get("w/c").entries().size());
        // The cap stops after the directory that reaches it: w alone has 5 entries.
        got.clear();
        assertEquals(5, files.readdirTree(0, "w", 3, (dir, listing) -> got.put(dir, listing)));
        assertEquals(java.util.Set.of("w"), got.keySet());
        assertEquals(Errno.ENOTDIR, errno(() -> files.readdirTree(0, "hello.txt", 10, (d, l) -> { })));
        assertEquals(Errno.ENOENT, errno(() -> files.readdirTree(0, "w/out", 10, (d, l) -> { })), "absolute link stays in the root");
    }

    static String sha256(byte[] data) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    }

    @Test
    void aChangeInAListedDirectoryIsPushed() throws Exception {
        HostFiles files = remote();
        BlockingQueue<String> changes = new LinkedBlockingQueue<>();
        files.onInvalidate((export, rel) -> changes.add(export + ":" + rel));
        files.readdir(0, "usr/lib");
        files.readdir(1, "");
        Files.writeString(root.resolve("usr/lib/libnew.so"), "x");
        assertEquals("0:usr/lib/libnew.so", poll(changes, "0:usr/lib/libnew.so"));
        Files.writeString(bind.resolve("main.c"), "int main;");
        assertEquals("1:main.c", poll(changes, "1:main.c"));
        Files.move(root.resolve("usr/lib/libnew.so"), root.resolve("usr/lib/libold.so"));
        assertEquals("0:usr/lib/libold.so", poll(changes, "0:usr/lib/libold.so"));
        Files.delete(root.resolve("usr/lib/libold.so"));
        assertEquals("0:usr/lib/libold.so", poll(changes, "0:usr/lib/libold.so"));
        // Not listed: not watched.
        changes.clear();
        Files.writeString(root.resolve("unlisted"), "x");
        assertNull(changes.poll(300, TimeUnit.MILLISECONDS), "the root was never listed here");
    }

    /** A chmod is a change too, and a listed directory removed on the host reports itself (its watch is gone). */
    @Test
    void anAttributeChangeAndAWatchedDirectoryThatGoesArePushed() throws Exception {
        HostFiles files = remote();
        BlockingQueue<String> changes = new LinkedBlockingQueue<>();
        files.onInvalidate((export, rel) -> changes.add(export + ":" + rel));
        Files.createDirectories(root.resolve("usr/gone"));
        Files.writeString(root.resolve("usr/gone/f"), "x");
        files.readdir(0, "usr/gone");
        Files.setPosixFilePermissions(root.resolve("usr/gone/f"), java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        assertEquals("0:usr/gone/f", poll(changes, "0:usr/gone/f"));
        Files.delete(root.resolve("usr/gone/f"));
        Files.delete(root.resolve("usr/gone"));
        assertEquals("0:usr/gone", poll(changes, "0:usr/gone"));
    }

    /** A push says what the host holds at the name as it is sent, so the daemon can tell its own change's echo. */
    @Test
    void aPushSaysWhatTheHostHoldsNow() throws Exception {
        HostFiles files = remote();
        BlockingQueue<HostFiles.Changed> changes = new LinkedBlockingQueue<>();
        files.onChanged((export, c) -> changes.add(c));
        files.readdir(0, "usr/lib");
        Files.writeString(root.resolve("usr/lib/libnew.so"), "x");
        // Created, then written: the last push says what is there once both are done.
        HostFiles.Changed made = pollFor(changes, c -> c.rel().equals("usr/lib/libnew.so") && c.now() != null && c.now().size() == 1);
        assertTrue(made.known());
        assertEquals(files.getattr(0, "usr/lib/libnew.so", false), made.now());
        Files.delete(root.resolve("usr/lib/libnew.so"));
        HostFiles.Changed gone = pollFor(changes, c -> c.rel().equals("usr/lib/libnew.so") && c.now() == null);
        assertTrue(gone.known(), "gone, and the client says so");
    }

    private static HostFiles.Changed pollFor(BlockingQueue<HostFiles.Changed> changes, java.util.function.Predicate<HostFiles.Changed> wanted)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            HostFiles.Changed c = changes.poll(100, TimeUnit.MILLISECONDS);
            if (c != null && wanted.test(c)) return c;
        }
        throw new AssertionError("no such change pushed");
    }

    /** Waits for {@code wanted} among the reported changes (a write may report create and modify). */
    static String poll(BlockingQueue<String> changes, String wanted) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            String c = changes.poll(100, TimeUnit.MILLISECONDS);
            if (wanted.equals(c)) return c;
        }
        return "no " + wanted + " reported";
    }

    @Test
    void aLostConnectionFailsEveryCallWithEio() throws Exception {
        RemoteHostFiles files = (RemoteHostFiles) remote();
        files.getattr(0, "", true);
        host.close();
        files.ended().get(10, TimeUnit.SECONDS);
        assertEquals(Errno.EIO, errno(() -> files.getattr(0, "hello.txt", true)));
        assertEquals(Errno.EIO, errno(() -> files.fetch(0, "hello.txt", tmp.resolve("x"))));
        assertEquals(Errno.EIO, errno(() -> files.put(0, "hello.txt", root.resolve("hello.txt"), 0644, false, false)));
        server.done().get(10, TimeUnit.SECONDS);
    }

    @Test
    void aRequestWithoutAnIdResetsTheFilesStreamAndEndsTheServer() throws Exception {
        MuxStream raw = targetStream.get(5, TimeUnit.SECONDS);
        raw.send(FileRequest.newBuilder().setExport(0).setRel(ByteString.copyFromUtf8("hello.txt"))
                .setGetattr(io.tether.protocol.proto.GetAttr.getDefaultInstance()).build());
        server.done().get(10, TimeUnit.SECONDS);
        io.tether.protocol.mux.StreamResetException e = org.junit.jupiter.api.Assertions.assertThrows(
                io.tether.protocol.mux.StreamResetException.class, () -> {
                    while (true) raw.receiveBytes();
                });
        assertEquals(io.tether.protocol.proto.ResetCode.RESET_PROTOCOL_ERROR, e.code());
    }

    @Test
    void aPutCutShortByTheConnectionLeavesTheOldFileAndNoTemporaryFile() throws Exception {
        MuxStream raw = targetStream.get(5, TimeUnit.SECONDS);
        byte[] half = new byte[100_000];
        raw.send(FileRequest.newBuilder().setId(1).setExport(0).setRel(ByteString.copyFromUtf8("hello.txt"))
                .setPut(Put.newBuilder().setOffset(0).setData(ByteString.copyFrom(half, 0, 60_000)).setMode(0644)).build());
        raw.send(FileRequest.newBuilder().setId(1).setExport(0).setRel(ByteString.copyFromUtf8("hello.txt"))
                .setPut(Put.newBuilder().setOffset(60_000).setData(ByteString.copyFrom(half, 60_000, 40_000))).build());
        // The temporary file exists while the Put is open...
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (tempFiles().isEmpty() && System.nanoTime() < deadline) Thread.sleep(10);
        assertEquals(1, tempFiles().size());
        // ...and goes with the connection.
        target.close();
        server.done().get(10, TimeUnit.SECONDS);
        deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!tempFiles().isEmpty() && System.nanoTime() < deadline) Thread.sleep(10);
        assertEquals(List.of(), tempFiles());
        assertEquals("hello\n", Files.readString(root.resolve("hello.txt")));
    }

    @Test
    void aPutWhoseLastMessageArrivedCompletesEvenIfTheStreamEndsRightAfter() throws Exception {
        MuxStream raw = targetStream.get(5, TimeUnit.SECONDS);
        byte[] data = new byte[200_000];
        new Random(5).nextBytes(data);
        for (int off = 0; off < data.length; off += 60_000) {
            int n = Math.min(60_000, data.length - off);
            raw.send(FileRequest.newBuilder().setId(3).setExport(0).setRel(ByteString.copyFromUtf8("hello.txt"))
                    .setPut(Put.newBuilder().setOffset(off).setData(ByteString.copyFrom(data, off, n)).setLast(off + n == data.length))
                    .build(), off + n == data.length);
        }
        FileReply reply = raw.receive(FileReply.parser());
        assertEquals(3, reply.getId());
        assertEquals(0, reply.getErrno());
        assertArrayEquals(data, Files.readAllBytes(root.resolve("hello.txt")));
        assertEquals(List.of(), tempFiles());
    }

    List<Path> tempFiles() throws Exception {
        try (Stream<Path> s = Files.list(root)) {
            return s.filter(p -> p.getFileName().toString().contains(".tether-")).toList();
        }
    }

    @Test
    void aPutSplitOverMessagesIsAnsweredOnceAtTheEnd() throws Exception {
        MuxStream raw = targetStream.get(5, TimeUnit.SECONDS);
        Files.setPosixFilePermissions(root.resolve("hello.txt"), PosixFilePermissions.fromString("rwxr-----"));
        for (int i = 0; i < 5; i++) {
            raw.send(FileRequest.newBuilder().setId(9).setExport(0).setRel(ByteString.copyFromUtf8("hello.txt"))
                    .setPut(Put.newBuilder().setOffset(i * 2L).setData(ByteString.copyFromUtf8("ab")).setLast(i == 4)).build());
        }
        FileReply reply = raw.receive(FileReply.parser());
        assertEquals(9, reply.getId());
        assertEquals(0, reply.getErrno());
        assertEquals(10, reply.getAttr().getSize());
        assertEquals(0740, reply.getAttr().getMode() & 07777, "the replaced file's mode carries over");
        assertEquals("ababababab", Files.readString(root.resolve("hello.txt")));
    }

    @Test
    void anUnknownOperationIsEnosysAndAMalformedMessageResetsTheStream() throws Exception {
        MuxStream raw = targetStream.get(5, TimeUnit.SECONDS);
        // Field 99 is an operation from a newer daemon: parsed as unknown, no op set.
        byte[] newer = FileRequest.newBuilder().setId(5).setExport(0).build().toByteArray();
        byte[] withUnknown = new byte[newer.length + 3];
        System.arraycopy(newer, 0, withUnknown, 0, newer.length);
        withUnknown[newer.length] = (byte) 0x9a; // field 99, length-delimited
        withUnknown[newer.length + 1] = 0x06;
        withUnknown[newer.length + 2] = 0x00;
        raw.sendBytes(withUnknown, false);
        FileReply reply = raw.receive(FileReply.parser());
        assertEquals(5, reply.getId());
        assertEquals(Errno.ENOSYS, reply.getErrno());
        raw.sendBytes(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff}, false);
        assertThrows(StreamResetException.class, () -> {
            while (true) raw.receive(FileReply.parser());
        });
        server.done().get(10, TimeUnit.SECONDS);
    }
}
