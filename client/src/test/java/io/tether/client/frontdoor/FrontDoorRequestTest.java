package io.tether.client.frontdoor;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class FrontDoorRequestTest {
    private static final FrontDoorRequest SAMPLE = new FrontDoorRequest(List.of(0, 1, 2, 5), FrontDoorRequest.STDIN_TTY, 022,
            "/home/me/src", "net:[1] mnt:[2]", List.of("run", "-t", "board", "--", "echo", "h\u00e9llo", ""),
            List.of("PATH=/bin", "EMPTY=", "LANG=C.UTF-8"));

    private static byte[] body(byte[] encoded) {
        return Arrays.copyOfRange(encoded, FrontDoorRequest.HEADER, encoded.length);
    }

    @Test
    void encodedRequestDecodesToTheSameFields() {
        byte[] wire = SAMPLE.encode();
        assertEquals(wire.length - FrontDoorRequest.HEADER,
                FrontDoorRequest.bodyLength(Arrays.copyOf(wire, FrontDoorRequest.HEADER)));
        assertEquals(SAMPLE, FrontDoorRequest.decode(body(wire)));
    }

    @Test
    void headerIsMagicThenBigEndianLength() {
        byte[] wire = SAMPLE.encode();
        assertEquals("TFD2", new String(wire, 0, 4, java.nio.charset.StandardCharsets.US_ASCII));
        assertEquals(wire.length - 8, ByteBuffer.wrap(wire, 4, 4).getInt());
        // First body fields as tether-fe.c writes them: fd count, the fds, tty bits, umask.
        ByteBuffer b = ByteBuffer.wrap(wire, 8, wire.length - 8);
        assertEquals(4, b.getInt());
        assertEquals(List.of(0, 1, 2, 5), List.of(b.getInt(), b.getInt(), b.getInt(), b.getInt()));
        assertEquals(FrontDoorRequest.STDIN_TTY, b.getInt());
        assertEquals(022, b.getInt());
    }

    @Test
    void badMagicOrOversizedLengthIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> FrontDoorRequest.bodyLength("XFD1\0\0\0\1".getBytes()));
        byte[] huge = {'T', 'F', 'D', '2', 0x7f, 0, 0, 0};
        assertThrows(IllegalArgumentException.class, () -> FrontDoorRequest.bodyLength(huge));
    }

    @Test
    void truncatedOrPaddedBodyIsRefused() {
        byte[] body = body(SAMPLE.encode());
        assertThrows(IllegalArgumentException.class, () -> FrontDoorRequest.decode(Arrays.copyOf(body, body.length - 1)));
        assertThrows(IllegalArgumentException.class, () -> FrontDoorRequest.decode(Arrays.copyOf(body, body.length + 1)));
    }

    @Test
    void countLargerThanTheRestIsRefusedBeforeAllocating() {
        byte[] body = ByteBuffer.allocate(8).putInt(Integer.MAX_VALUE).putInt(0).array();
        assertThrows(IllegalArgumentException.class, () -> FrontDoorRequest.decode(body));
    }
}
