package org.vkrt;

import java.util.List;
import java.util.Objects;
import java.util.function.LongFunction;

/**
 * Weights of a GGUF file on a {@link Context}'s device, plus the tokenizer. Safe to share
 * between threads (each thread with its own {@link Session}). Closing it while sessions are
 * open is allowed: they keep the weights until they are closed.
 */
public final class Model implements AutoCloseable {
    final NativeHandle handle;
    private final NativeCleaner.Cleanable cleanable;

    public Model(Context context, String path) {
        this(context, path, (ProgressListener) null);
    }

    /**
     * Loads {@code path}. A missing or malformed file throws {@link VkrtException} with
     * {@link Status#IO_ERROR} or {@link Status#BAD_FORMAT} and a message that names it.
     */
    public Model(Context context, String path, ProgressListener progress) {
        this(context, path, progress == null ? null : (Native.ProgressSink) f -> {
            progress.onProgress(f);
            return true;
        });
    }

    /**
     * Loads {@code path} as {@link #Model(Context, String, ProgressListener)} does, and stops when
     * {@code listener} returns false: what the load allocated is freed and this throws
     * {@link VkrtException} with {@link Status#CANCELLED}. (A factory rather than a constructor:
     * {@code new Model(ctx, path, list::add)} stays unambiguous.)
     */
    public static Model load(Context context, String path, LoadListener listener) {
        return new Model(context, path, listener == null ? null : (Native.ProgressSink) listener::onProgress);
    }

    private Model(Context context, String path, Native.ProgressSink progress) {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(path, "path");
        byte[] p8 = Text.utf8(path, "path");
        long c = context.handle.acquire();
        try {
            long m = Native.modelLoad(c, p8, progress);
            handle = new NativeHandle("Model", m, Native::modelFree, context.handle);
        } finally {
            context.handle.release();
        }
        cleanable = NativeCleaner.register(this, handle);
    }

    public int nVocab() {
        return info(Native.INFO_N_VOCAB);
    }

    /** The context length the model was trained with (from the file). */
    public int nCtxTrain() {
        return info(Native.INFO_N_CTX_TRAIN);
    }

    /** Beginning-of-sequence token, or -1. */
    public int bos() {
        return info(Native.INFO_BOS);
    }

    /** End-of-sequence token, or -1. */
    public int eos() {
        return info(Native.INFO_EOS);
    }

    /** True if the token ends generation (eos, eot, &lt;|im_end|&gt;, ...). */
    public boolean isEog(int token) {
        long p = handle.acquire();
        try {
            return Native.modelIsEog(p, token);
        } finally {
            handle.release();
        }
    }

    /** Text to token ids, with the model's BOS in front and special tokens (like &lt;|im_start|&gt;) parsed. */
    public int[] tokenize(String text) {
        return tokenize(text, true, true);
    }

    public int[] tokenize(String text, boolean addBos, boolean parseSpecial) {
        Objects.requireNonNull(text, "text");
        byte[] t8 = Text.utf8(text, "text");
        long p = handle.acquire();
        try {
            return Native.tokenize(p, t8, addBos, parseSpecial);
        } finally {
            handle.release();
        }
    }

    /** Token ids to text; an id outside the vocabulary throws {@link Status#INVALID_ARGUMENT}. */
    public String detokenize(int[] tokens) {
        Objects.requireNonNull(tokens, "tokens");
        long p = handle.acquire();
        try {
            return Text.string(Native.detokenize(p, tokens));
        } finally {
            handle.release();
        }
    }

    // ---- chat: templates and GGUF metadata

    /** The family of the file's chat template ("chatml", "llama3", ...; "none"; "unknown"). */
    public String chatTemplate() {
        return Text.string(call(Native::chatTemplateName));
    }

    /** {@code messages} in the model's chat template; throws {@link Status#UNSUPPORTED} without one. */
    public String applyChatTemplate(List<ChatMessage> messages, boolean addGenerationPrompt) {
        return applyChatTemplate(messages, addGenerationPrompt, null);
    }

    /** {@code messages} in {@code template} (a name such as "chatml" or Jinja text; null: the model's). */
    public String applyChatTemplate(List<ChatMessage> messages, boolean addGenerationPrompt, String template) {
        Objects.requireNonNull(messages, "messages");
        byte[] t = template == null ? null : Text.utf8(template, "template");
        byte[][] roles = ChatMessage.roles(messages), contents = ChatMessage.contents(messages);
        return Text.string(call(p -> Native.applyChatTemplate(p, t, roles, contents, addGenerationPrompt)));
    }

    /** True if the GGUF file has metadata {@code key}. */
    public boolean hasMeta(String key) {
        byte[] k = key(key);
        return call(p -> Native.metaHas(p, k));
    }

    /** A string value by key; a missing key or another type throws naming both. */
    public String metaString(String key) {
        byte[] k = key(key);
        return Text.string(call(p -> Native.metaString(p, k)));
    }

    /** An integer (or bool) value by key. */
    public long metaLong(String key) {
        byte[] k = key(key);
        return call(p -> Native.metaLong(p, k));
    }

    /** A float value by key (integers converted). */
    public double metaDouble(String key) {
        byte[] k = key(key);
        return call(p -> Native.metaDouble(p, k));
    }

    /** The length of an array value by key. */
    public long metaArrayLength(String key) {
        byte[] k = key(key);
        return call(p -> Native.metaArrayLength(p, k));
    }

    private static byte[] key(String key) {
        return Text.utf8(Objects.requireNonNull(key, "key"), "key");
    }

    /** f(native model pointer) with the handle held for the call. */
    private <T> T call(LongFunction<T> f) {
        long p = handle.acquire();
        try {
            return f.apply(p);
        } finally {
            handle.release();
        }
    }

    public boolean isClosed() {
        return handle.isClosed();
    }

    /** Idempotent. Further calls on this object throw IllegalStateException. */
    @Override
    public void close() {
        cleanable.clean();
    }

    private int info(int what) {
        long p = handle.acquire();
        try {
            return Native.modelInfo(p, what);
        } finally {
            handle.release();
        }
    }
}
