package io.tether.daemon.mirror;

import io.tether.daemon.files.HostAttr;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.CheckedInputStream;
import java.util.zip.CheckedOutputStream;

/**
 * The persistent index of one tree ({@code index.d/<tree>} in the cache directory): its entries with their
 * host attributes, listed/contents state, size, last use and the local file identity of their contents.
 * One file per tree, so a change in one tree rewrites only that tree's file. Written whole to a temp file,
 * fsynced and renamed over the old one, so a crash leaves the old or the new file; a CRC at the end makes
 * a torn or foreign file read as absent. {@link #readLegacy} reads the single {@code index} of every
 * tree that caches made before (format 1), once, so they stay warm.
 */
final class MirrorIndex {
    private static final int MAGIC = 0x544d5431; // "TMT1": one tree
    /** 2 added absent entries (ABSENT, a symlink's target after them); 1 is read alike. */
    private static final int VERSION = 2;
    private static final int LEGACY_MAGIC = 0x544d4931; // "TMI1": every tree in one file
    private static final int LEGACY_VERSION = 1;
    private static final int LISTED = 1, CONTENTS = 2, HAS_ATTR = 4, ABSENT = 8;

    private MirrorIndex() {}

    /** One tree's entries as stored. */
    record Stored(String key, List<Entry> entries) {}

    /** Writes {@code tree}'s entries to {@code file} by way of {@code tmp} (same file system). */
    static void write(Path file, Path tmp, Tree tree) throws IOException {
        try (FileOutputStream fos = new FileOutputStream(tmp.toFile())) {
            CheckedOutputStream checked = new CheckedOutputStream(new BufferedOutputStream(fos, 1 << 16), new CRC32());
            DataOutputStream out = new DataOutputStream(checked);
            out.writeInt(MAGIC);
            out.writeInt(VERSION);
            List<Entry> all = new ArrayList<>(tree.entries.values());
            writeString(out, tree.key);
            out.writeInt(all.size());
            for (Entry e : all) writeEntry(out, e, tree.incomplete.contains(e.rel));
            out.flush();
            long crc = checked.getChecksum().getValue();
            out.writeLong(crc);
            out.flush();
            fos.getFD().sync();
        } catch (IOException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private static void writeEntry(DataOutputStream out, Entry e, boolean incomplete) throws IOException {
        HostAttr a;
        int flags;
        long bytes, lastUse, ino, ctime;
        String linkTarget;
        synchronized (e) {
            linkTarget = e.absent ? (e.linkTarget == null ? "" : e.linkTarget) : null;
            a = e.attr;
            // An entry being written here is not known to match the host after a restart.
            boolean contents = e.contents && e.writers == 0;
            // A directory missing entries is listed again after a restart (Tree.incomplete is not stored).
            flags = (e.listed && !incomplete ? LISTED : 0) | (contents ? CONTENTS : 0) | (a != null ? HAS_ATTR : 0)
                    | (e.absent ? ABSENT : 0);
            bytes = contents ? e.bytes : 0;
            lastUse = e.lastUse;
            ino = e.localIno;
            ctime = e.localCtimeNs;
        }
        writeString(out, e.rel);
        out.writeByte(flags);
        if (a != null) {
            out.writeInt(a.mode());
            out.writeInt(a.uid());
            out.writeInt(a.gid());
            out.writeLong(a.size());
            out.writeLong(a.atimeNs());
            out.writeLong(a.mtimeNs());
            out.writeLong(a.ctimeNs());
            out.writeLong(a.ino());
            out.writeLong(a.dev());
            out.writeInt(a.nlink());
            out.writeLong(a.rdev());
            out.writeLong(a.blocks());
        }
        out.writeLong(bytes);
        out.writeLong(lastUse);
        out.writeLong(ino);
        out.writeLong(ctime);
        if (linkTarget != null) writeString(out, linkTarget);
    }

    /** The tree stored in {@code file}, or null if it is missing, torn or not ours. */
    static Stored read(Path file) {
        if (!Files.isRegularFile(file)) return null;
        try (InputStream raw = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
            CheckedInputStream checked = new CheckedInputStream(raw, new CRC32());
            DataInputStream in = new DataInputStream(checked);
            int version;
            if (in.readInt() != MAGIC || ((version = in.readInt()) != VERSION && version != 1)) return null;
            Stored tree = readTree(in);
            return tree != null && crcMatches(checked, raw) ? tree : null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** Every tree of a format-1 index (one file for all), or null if it is missing, torn or not ours. */
    static Map<String, List<Entry>> readLegacy(Path file) {
        if (!Files.isRegularFile(file)) return null;
        try (InputStream raw = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
            CheckedInputStream checked = new CheckedInputStream(raw, new CRC32());
            DataInputStream in = new DataInputStream(checked);
            if (in.readInt() != LEGACY_MAGIC || in.readInt() != LEGACY_VERSION) return null;
            int trees = in.readInt();
            if (trees < 0) return null;
            Map<String, List<Entry>> result = new LinkedHashMap<>();
            for (int t = 0; t < trees; t++) {
                Stored tree = readTree(in);
                if (tree == null) return null;
                result.put(tree.key(), tree.entries());
            }
            return crcMatches(checked, raw) ? result : null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private static Stored readTree(DataInputStream in) throws IOException {
        String key = readString(in);
        int n = in.readInt();
        if (n < 0) return null;
        List<Entry> entries = new ArrayList<>(Math.min(n, 1 << 20));
        for (int i = 0; i < n; i++) entries.add(readEntry(in));
        return new Stored(key, entries);
    }

    /** Whether the CRC stored after what {@code checked} read matches it (it must be the file's last word). */
    private static boolean crcMatches(CheckedInputStream checked, InputStream raw) throws IOException {
        long expected = checked.getChecksum().getValue();
        long stored = new DataInputStream(raw).readLong();
        return stored == expected && raw.read() < 0;
    }

    private static Entry readEntry(DataInputStream in) throws IOException {
        String rel = readString(in);
        int flags = in.readByte();
        HostAttr a = null;
        if ((flags & HAS_ATTR) != 0) {
            a = new HostAttr(in.readInt(), in.readInt(), in.readInt(), in.readLong(), in.readLong(), in.readLong(),
                    in.readLong(), in.readLong(), in.readLong(), in.readInt(), in.readLong(), in.readLong());
        }
        Entry e = new Entry(rel, a);
        e.listed = (flags & LISTED) != 0;
        e.contents = (flags & CONTENTS) != 0;
        e.bytes = in.readLong();
        e.lastUse = in.readLong();
        e.localIno = in.readLong();
        e.localCtimeNs = in.readLong();
        if ((flags & ABSENT) != 0) {
            e.absent = true;
            e.linkTarget = readString(in);
        }
        return e;
    }

    private static void writeString(DataOutputStream out, String s) throws IOException {
        byte[] b = s.getBytes(StandardCharsets.ISO_8859_1);
        out.writeInt(b.length);
        out.write(b);
    }

    private static String readString(DataInputStream in) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > 1 << 16) throw new IOException("bad string length " + n);
        byte[] b = new byte[n];
        in.readFully(b);
        return new String(b, StandardCharsets.ISO_8859_1);
    }
}
