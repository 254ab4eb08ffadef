package org.vkrt;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Turns the byte pieces of consecutive tokens into text without splitting a character: a
 * byte-fallback token can carry one byte of a multi-byte UTF-8 character, so the bytes of an
 * unfinished character at the end of a piece wait for the next piece. Invalid bytes become
 * U+FFFD as with {@code new String(bytes, UTF_8)}.
 */
final class Utf8Stream {
    private final ByteArrayOutputStream pending = new ByteArrayOutputStream();
    private final StringBuilder all = new StringBuilder();

    /** The text completed by {@code piece} ("" while a character is unfinished). */
    String push(byte[] piece) {
        pending.write(piece, 0, piece.length);
        byte[] b = pending.toByteArray();
        int keep = unfinishedTail(b);
        String s = new String(b, 0, b.length - keep, StandardCharsets.UTF_8);
        pending.reset();
        pending.write(b, b.length - keep, keep);
        all.append(s);
        return s;
    }

    /** Everything pushed, as text; bytes of a character that never finished become U+FFFD. */
    String finish() {
        if (pending.size() > 0) {
            all.append(new String(pending.toByteArray(), StandardCharsets.UTF_8));
            pending.reset();
        }
        return all.toString();
    }

    /** Bytes at the end of b that start a UTF-8 character without completing it (0..3). */
    static int unfinishedTail(byte[] b) {
        // Walk back over at most 3 continuation bytes to the lead byte.
        for (int i = b.length - 1, seen = 0; i >= 0 && seen < 4; --i, ++seen) {
            int c = b[i] & 0xff;
            if ((c & 0xc0) == 0x80) continue;  // continuation byte
            int need = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 1;
            if (c >= 0xf5) need = 1;  // never a lead byte: invalid, decode it now
            int have = b.length - i;
            return have < need ? have : 0;
        }
        return 0;
    }
}
