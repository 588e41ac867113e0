package io.tether.daemon.mirror;

import io.tether.posix.ErrnoException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * What the loader will need next for an ELF file: its interpreter (PT_INTERP) and the libraries it
 * names (DT_NEEDED, with DT_RUNPATH/DT_RPATH), read from a local file. Anything malformed reads as
 * "needs nothing": prefetch is only a hint, the loader reports real errors.
 */
final class Elf {
    private static final int PT_LOAD = 1, PT_DYNAMIC = 2, PT_INTERP = 3;
    private static final long DT_NULL = 0, DT_NEEDED = 1, DT_STRTAB = 5, DT_STRSZ = 10, DT_RPATH = 15, DT_RUNPATH = 29;
    private static final int MAX_HEADERS = 256, MAX_DYNAMIC = 1 << 16, MAX_STRTAB = 1 << 20;

    private Elf() {}

    /** {@code machine} is e_machine; {@code runpath} holds DT_RUNPATH or DT_RPATH directories as written. */
    record Info(int machine, String interp, List<String> needed, List<String> runpath) {
        static final Info NONE = new Info(0, null, List.of(), List.of());
    }

    /** The Debian multiarch triplet of an e_machine, or null. */
    static String triplet(int machine) {
        return switch (machine) {
            case 62 -> "x86_64-linux-gnu";
            case 183 -> "aarch64-linux-gnu";
            case 40 -> "arm-linux-gnueabihf";
            case 3 -> "i386-linux-gnu";
            case 243 -> "riscv64-linux-gnu";
            case 8 -> "mips-linux-gnu";
            case 21 -> "powerpc64le-linux-gnu";
            case 22 -> "s390x-linux-gnu";
            default -> null;
        };
    }

    static Info read(String localPath) throws ErrnoException {
        byte[] head = MirrorFs.pread(localPath, 0, 64);
        if (head.length < 52 || head[0] != 0x7f || head[1] != 'E' || head[2] != 'L' || head[3] != 'F') return Info.NONE;
        boolean is64 = head[4] == 2;
        ByteOrder order = head[5] == 2 ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN;
        ByteBuffer h = ByteBuffer.wrap(head).order(order);
        int machine = h.getShort(18) & 0xffff;
        long phoff = is64 ? h.getLong(32) : h.getInt(28) & 0xffffffffL;
        int phentsize = h.getShort(is64 ? 54 : 42) & 0xffff;
        int phnum = h.getShort(is64 ? 56 : 44) & 0xffff;
        if (phnum == 0 || phnum > MAX_HEADERS || phentsize < (is64 ? 56 : 32)) return new Info(machine, null, List.of(), List.of());
        ByteBuffer ph = ByteBuffer.wrap(MirrorFs.pread(localPath, phoff, phnum * phentsize)).order(order);
        if (ph.capacity() < phnum * phentsize) return new Info(machine, null, List.of(), List.of());
        String interp = null;
        long dynOff = -1, dynSize = 0;
        List<long[]> loads = new ArrayList<>(); // {vaddr, offset, filesz}
        for (int i = 0; i < phnum; i++) {
            int b = i * phentsize;
            int type = ph.getInt(b);
            long offset = is64 ? ph.getLong(b + 8) : ph.getInt(b + 4) & 0xffffffffL;
            long vaddr = is64 ? ph.getLong(b + 16) : ph.getInt(b + 8) & 0xffffffffL;
            long filesz = is64 ? ph.getLong(b + 32) : ph.getInt(b + 16) & 0xffffffffL;
            if (type == PT_INTERP && filesz > 1 && filesz < 4096) {
                interp = cString(MirrorFs.pread(localPath, offset, (int) filesz), 0);
            } else if (type == PT_DYNAMIC) {
                dynOff = offset;
                dynSize = Math.min(filesz, MAX_DYNAMIC);
            } else if (type == PT_LOAD) {
                loads.add(new long[] {vaddr, offset, filesz});
            }
        }
        List<String> needed = new ArrayList<>();
        List<String> runpath = new ArrayList<>();
        if (dynOff >= 0 && dynSize > 0) {
            ByteBuffer dyn = ByteBuffer.wrap(MirrorFs.pread(localPath, dynOff, (int) dynSize)).order(order);
            int step = is64 ? 16 : 8;
            long strtab = -1, strsz = 0;
            List<Long> neededOffsets = new ArrayList<>();
            long runpathOffset = -1, rpathOffset = -1;
            for (int p = 0; p + step <= dyn.capacity(); p += step) {
                long tag = is64 ? dyn.getLong(p) : dyn.getInt(p);
                long val = is64 ? dyn.getLong(p + 8) : dyn.getInt(p + 4) & 0xffffffffL;
                if (tag == DT_NULL) break;
                if (tag == DT_NEEDED) neededOffsets.add(val);
                else if (tag == DT_STRTAB) strtab = val;
                else if (tag == DT_STRSZ) strsz = val;
                else if (tag == DT_RUNPATH) runpathOffset = val;
                else if (tag == DT_RPATH) rpathOffset = val;
            }
            long strFileOff = -1;
            for (long[] load : loads) {
                if (strtab >= load[0] && strtab < load[0] + load[2]) strFileOff = strtab - load[0] + load[1];
            }
            if (strFileOff >= 0 && strsz > 0) {
                byte[] strings = MirrorFs.pread(localPath, strFileOff, (int) Math.min(strsz, MAX_STRTAB));
                for (long off : neededOffsets) {
                    if (off < strings.length) needed.add(cString(strings, (int) off));
                }
                long rp = runpathOffset >= 0 ? runpathOffset : rpathOffset;
                if (rp >= 0 && rp < strings.length) {
                    for (String d : cString(strings, (int) rp).split(":")) {
                        if (!d.isEmpty()) runpath.add(d);
                    }
                }
            }
        }
        return new Info(machine, interp, needed, runpath);
    }

    private static String cString(byte[] b, int from) {
        int end = from;
        while (end < b.length && b[end] != 0) end++;
        return new String(b, from, end - from, StandardCharsets.ISO_8859_1);
    }
}
