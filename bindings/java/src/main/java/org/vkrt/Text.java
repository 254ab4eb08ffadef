package org.vkrt;

import java.nio.charset.StandardCharsets;

/** Java strings to the C API's NUL-terminated UTF-8. */
final class Text {
    private Text() {}

    /** UTF-8 bytes of s; a NUL inside it is refused (the C API would silently cut the text there). */
    static byte[] utf8(String s, String what) {
        if (s.indexOf('\0') >= 0)
            throw new VkrtException(Status.INVALID_ARGUMENT,
                    what + " contains a NUL character (at index " + s.indexOf('\0') + ")");
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String string(byte[] utf8) {
        return new String(utf8, StandardCharsets.UTF_8);
    }
}
