package org.vkrt;

/** Why a generation ended (vkrt_finish_reason). */
public enum FinishReason {
    /** Not finished (the call failed). */
    NONE,
    /** An end-of-generation token, or the chat template's end-of-turn token. */
    EOG,
    /** A stop string appeared (it is not part of the text). */
    STOP_STRING,
    /** maxTokens were generated. */
    LENGTH,
    /** The session's context (nCtx) is full. */
    CONTEXT_FULL,
    /** The callback returned false, or {@link Session#cancel()} / {@link Session#close()} was called. */
    CANCELLED;

    static FinishReason of(int code) {
        FinishReason[] v = values();
        return code >= 0 && code < v.length ? v[code] : NONE;
    }
}
