package org.vkrt;

/** Why a vkrt call failed: the {@code vkrt_status} codes of the C API ({@code include/vkrt/vkrt.h}). */
public enum Status {
    OK(0, "ok"),
    /** Wrong shapes, bad options, a token id outside the vocabulary, a NUL inside text. */
    INVALID_ARGUMENT(1, "invalid_argument"),
    /** A file cannot be opened, read or written. */
    IO_ERROR(2, "io_error"),
    /** Corrupt or unsupported file content (GGUF). */
    BAD_FORMAT(3, "bad_format"),
    /** The device lacks a feature the model needs, or the file uses an unknown tensor type. */
    UNSUPPORTED(4, "unsupported"),
    /** A host or device allocation failed. */
    OUT_OF_MEMORY(5, "out_of_memory"),
    /** A Vulkan call failed, the device was lost, or there is no Vulkan device. */
    DEVICE_ERROR(6, "device_error"),
    /** A limit was hit: the context is full, a tensor is above the device's buffer range. */
    LIMIT_EXCEEDED(7, "limit_exceeded"),
    /** A bug in vkrt. */
    INTERNAL(8, "internal"),
    /** Stopped on request: {@link Session#cancel()}, or a load progress listener that asked. */
    CANCELLED(9, "cancelled");

    private final int code;
    private final String cName;

    Status(int code, String cName) {
        this.code = code;
        this.cName = cName;
    }

    /** The numeric {@code vkrt_status}. */
    public int code() {
        return code;
    }

    /** The C API's name for it, as {@code vkrt_status_string} prints it. */
    @Override
    public String toString() {
        return cName;
    }

    /** The status with this code; an unknown code (a newer library) reads as {@link #INTERNAL}. */
    public static Status fromCode(int code) {
        for (Status s : values())
            if (s.code == code) return s;
        return INTERNAL;
    }
}
