package io.tether.daemon.tracer.handler;

import io.tether.daemon.tracer.arch.Arch;

/**
 * struct msghdr (struct user_msghdr) of the tracee's ABI, as bytes read from it: msg_name, msg_namelen,
 * msg_iov, msg_iovlen, msg_control, msg_controllen, msg_flags, one word each (the two ints padded);
 * and the vectors of struct mmsghdr of sendmmsg/recvmmsg. Little-endian, as all our architectures.
 */
final class Msghdr {
    private static final int NAME = 0, NAMELEN = 1, CONTROLLEN = 5, FLAGS = 6, FIELDS = 7;

    final byte[] bytes;
    private final int word;

    private Msghdr(byte[] bytes, int word) {
        this.bytes = bytes;
        this.word = word;
    }

    static int size(Arch arch) {
        return FIELDS * arch.wordSize();
    }

    static Msghdr of(byte[] bytes, Arch arch) {
        return new Msghdr(bytes.clone(), arch.wordSize());
    }

    /** sizeof(struct mmsghdr): a msghdr, then an unsigned int msg_len, padded to a word. */
    static int mmsgSize(Arch arch) {
        int w = arch.wordSize();
        return (FIELDS * w + 4 + w - 1) / w * w;
    }

    /** The msghdr of entry {@code index} of a struct mmsghdr vector. */
    static Msghdr entry(byte[] vector, int index, Arch arch) {
        int at = index * mmsgSize(arch);
        return new Msghdr(java.util.Arrays.copyOfRange(vector, at, at + size(arch)), arch.wordSize());
    }

    /** Puts this msghdr back as entry {@code index} of a vector (msg_len untouched). */
    void into(byte[] vector, int index, Arch arch) {
        System.arraycopy(bytes, 0, vector, index * mmsgSize(arch), bytes.length);
    }

    /** msg_len of entry {@code index}: what the kernel sent or received for that message. */
    static int msgLen(byte[] vector, int index, Arch arch) {
        int at = index * mmsgSize(arch) + size(arch);
        return u32(java.util.Arrays.copyOfRange(vector, at, at + 4));
    }

    static void msgLen(byte[] vector, int index, Arch arch, int length) {
        System.arraycopy(u32(length), 0, vector, index * mmsgSize(arch) + size(arch), 4);
    }

    long name() { return get(NAME * word, word); }
    void name(long address) { put(NAME * word, word, address); }
    /** socklen_t: an unsigned int the kernel reads as int (a negative one is EINVAL). */
    int namelen() { return (int) get(NAMELEN * word, 4); }
    void namelen(int length) { put(NAMELEN * word, 4, length); }

    /** Copies what recvmsg writes back besides the name: msg_controllen and msg_flags. */
    void resultsFrom(Msghdr kernel) {
        put(CONTROLLEN * word, word, kernel.get(CONTROLLEN * word, word));
        put(FLAGS * word, 4, kernel.get(FLAGS * word, 4));
    }

    private long get(int offset, int length) {
        long v = 0;
        for (int i = length - 1; i >= 0; i--) v = (v << 8) | (bytes[offset + i] & 0xff);
        return v;
    }

    private void put(int offset, int length, long value) {
        for (int i = 0; i < length; i++) bytes[offset + i] = (byte) (value >>> (8 * i));
    }

    /** A little-endian u32, as socklen_t is written. */
    static byte[] u32(int value) {
        return new byte[] {(byte) value, (byte) (value >>> 8), (byte) (value >>> 16), (byte) (value >>> 24)};
    }

    static int u32(byte[] b) {
        return (b[0] & 0xff) | (b[1] & 0xff) << 8 | (b[2] & 0xff) << 16 | (b[3] & 0xff) << 24;
    }
}
