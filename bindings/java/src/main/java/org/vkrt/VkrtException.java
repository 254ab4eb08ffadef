package org.vkrt;

import java.nio.charset.StandardCharsets;

/**
 * A failed vkrt call: the {@link Status} and vkrt's own message, which names the file, key,
 * tensor, token or limit at fault (for example {@code cannot open /sdcard/m.gguf: No such file
 * or directory}). Unchecked, like the exceptions of Android's own APIs.
 */
public class VkrtException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final Status status;

    public VkrtException(Status status, String message) {
        super(message);
        this.status = status;
    }

    /** Thrown by the JNI glue: status code and the UTF-8 bytes of vkrt_last_error(). */
    VkrtException(int code, byte[] utf8Message) {
        this(Status.fromCode(code), new String(utf8Message, StandardCharsets.UTF_8));
    }

    public Status getStatus() {
        return status;
    }

    @Override
    public String toString() {
        return getClass().getName() + " [" + status + "]: " + getMessage();
    }
}
