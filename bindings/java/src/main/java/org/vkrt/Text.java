package org.vkrt;

import java.nio.charset.StandardCharsets;

/** Java strings to the C API's NUL-terminated UTF-8. */
final class Text {
    private Text() {}

    /**
     * UTF-8 bytes of s. Refused: a NUL inside it (the C API would silently cut the text there)
     * and an unpaired surrogate (String.getBytes would silently write '?': the Java side of the
     * C API's "invalid UTF-8 is refused").
     */
    static byte[] utf8(String s, String what) {
        if (s.indexOf('\0') >= 0)
            throw new VkrtException(Status.INVALID_ARGUMENT,
                    what + " contains a NUL character (at index " + s.indexOf('\0') + ")");
        for (int i = 0; i < s.length(); ++i) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                ++i;
            } else if (Character.isSurrogate(c)) {
                throw new VkrtException(Status.INVALID_ARGUMENT, what + " is not valid Unicode: an unpaired surrogate "
                        + String.format("U+%04X at index %d", (int) c, i));
            }
        }
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String string(byte[] utf8) {
        return new String(utf8, StandardCharsets.UTF_8);
    }
}
