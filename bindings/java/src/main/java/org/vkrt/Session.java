package org.vkrt;

import java.util.List;
import java.util.Objects;

/**
 * One conversation with a {@link Model}: its KV cache, position, last logits and sampler
 * state. A session is used by one thread at a time (calls from several threads are
 * serialized); {@link #cancel()} and {@link #close()} may come from any thread. Several
 * sessions on one model may run on several threads at once.
 *
 * <pre>{@code
 * try (Context ctx = new Context();
 *      Model model = new Model(ctx, "/data/local/tmp/stories260K.gguf");
 *      Session s = new Session(model)) {
 *     String text = s.generate("Once upon a time", SamplerParams.greedy(), 64,
 *             (token, piece) -> { System.out.print(piece); return true; });
 * }
 * }</pre>
 */
public final class Session implements AutoCloseable {
    final NativeHandle handle;
    private final NativeCleaner.Cleanable cleanable;
    private volatile boolean cancelRequested;

    /** A session with the default context length: min(the model's training context, 4096). */
    public Session(Model model) {
        this(model, 0, 0);
    }

    public Session(Model model, int nCtx) {
        this(model, nCtx, 0);
    }

    /**
     * @param nCtx   tokens the KV cache holds (0 = min(training context, 4096))
     * @param nBatch largest prompt batch evaluated at once (0 = 512)
     */
    public Session(Model model, int nCtx, int nBatch) {
        Objects.requireNonNull(model, "model");
        long m = model.handle.acquire();
        try {
            long s = Native.sessionCreate(m, nCtx, nBatch);
            handle = new NativeHandle("Session", s, Native::sessionFree, model.handle);
        } finally {
            model.handle.release();
        }
        cleanable = NativeCleaner.register(this, handle);
    }

    /**
     * Evaluates {@code prompt} at the current position (with BOS when the session is empty),
     * then samples and evaluates up to {@code maxTokens} tokens, passing each to
     * {@code callback}. Stops at an end-of-generation token, when the context is full, when the
     * callback returns false, or when {@link #cancel()} or {@link #close()} is called. The
     * session keeps its state: a further call continues the same text.
     *
     * @return the generated text (what the callback's pieces add up to)
     */
    public synchronized String generate(String prompt, SamplerParams params, int maxTokens, TokenCallback callback) {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(params, "params");
        if (maxTokens < 0) throw new IllegalArgumentException("maxTokens must be >= 0, got " + maxTokens);
        byte[] p8 = Text.utf8(prompt, "prompt");
        cancelRequested = false;
        final Utf8Stream text = new Utf8Stream();
        Native.TokenSink sink = (token, piece) -> {
            String s = text.push(piece);
            if (callback != null && !callback.onToken(token, s)) return false;
            return !cancelRequested && !handle.isClosed();
        };
        long p = handle.acquire();
        try {
            Native.generate(p, p8, params.getTemperature(), params.getTopK(), params.getTopP(), params.getMinP(),
                    params.getRepeatPenalty(), params.getRepeatLastN(), params.getSeed(), maxTokens, sink);
        } finally {
            handle.release();
        }
        return text.finish();
    }

    /** {@link #generate(String, SamplerParams, int, TokenCallback)} without a callback. */
    public String generate(String prompt, SamplerParams params, int maxTokens) {
        return generate(prompt, params, maxTokens, null);
    }

    // ---- chat: messages, stop strings, finish reasons, logprobs, grammar

    /**
     * One assistant turn: the conversation in the model's chat template (or
     * {@link GenerateParams#setChatTemplate}), reusing the cached tokens it starts with, then
     * generation until the template's end of turn, an end-of-generation token, a stop string,
     * maxTokens, a full context, the callback returning false, or {@link #cancel()}. Add the
     * reply as {@link ChatMessage#assistant} for the next turn.
     */
    public synchronized GenerateResult chat(List<ChatMessage> messages, GenerateParams params,
                                            StreamCallback callback) {
        Objects.requireNonNull(messages, "messages");
        return run(null, ChatMessage.roles(messages), ChatMessage.contents(messages), params, callback);
    }

    /** {@link #chat(List, GenerateParams, StreamCallback)} without a callback. */
    public GenerateResult chat(List<ChatMessage> messages, GenerateParams params) {
        return chat(messages, params, null);
    }

    /** Text completion of {@code prompt} after what the session holds, with every {@link GenerateParams}. */
    public synchronized GenerateResult complete(String prompt, GenerateParams params, StreamCallback callback) {
        Objects.requireNonNull(prompt, "prompt");
        return run(Text.utf8(prompt, "prompt"), null, null, params, callback);
    }

    private GenerateResult run(byte[] prompt, byte[][] roles, byte[][] contents, GenerateParams params,
                               StreamCallback callback) {
        Objects.requireNonNull(params, "params");
        cancelRequested = false;
        final Utf8Stream text = new Utf8Stream();
        Native.ChatSink sink = (token, bytes, logprob, topTokens, topLogprobs) -> {
            String s = text.push(bytes);
            if (callback != null && !callback.onToken(new TokenInfo(token, s, logprob, topTokens, topLogprobs)))
                return false;
            return !cancelRequested && !handle.isClosed();
        };
        long p = handle.acquire();
        try {
            int[] r = params.run(p, prompt == null ? new byte[0] : prompt, roles, contents, sink);
            return new GenerateResult(text.finish(), r);
        } finally {
            handle.release();
        }
    }

    /**
     * Stops a {@link #generate} running on another thread after its current token (the prompt
     * itself is evaluated to the end first). Without a running generate it does nothing.
     */
    public void cancel() {
        cancelRequested = true;
    }

    /** Evaluates tokens at the current position; afterwards {@link #logits()} are the last token's. */
    public synchronized void eval(int[] tokens) {
        Objects.requireNonNull(tokens, "tokens");
        long p = handle.acquire();
        try {
            Native.eval(p, tokens);
        } finally {
            handle.release();
        }
    }

    /** The last evaluated token's logits, one per vocabulary entry. */
    public synchronized float[] logits() {
        long p = handle.acquire();
        try {
            return Native.logits(p);
        } finally {
            handle.release();
        }
    }

    /** Samples the next token from the last logits (not evaluated: pass it to {@link #eval}). */
    public synchronized int sample(SamplerParams params) {
        Objects.requireNonNull(params, "params");
        long p = handle.acquire();
        try {
            return Native.sample(p, params.getTemperature(), params.getTopK(), params.getTopP(), params.getMinP(),
                    params.getRepeatPenalty(), params.getRepeatLastN(), params.getSeed());
        } finally {
            handle.release();
        }
    }

    /** Empties the KV cache and the sampler's history. */
    public synchronized void reset() {
        long p = handle.acquire();
        try {
            Native.sessionReset(p);
        } finally {
            handle.release();
        }
    }

    /** Tokens in the KV cache. */
    public synchronized int pos() {
        long p = handle.acquire();
        try {
            return Native.sessionPos(p);
        } finally {
            handle.release();
        }
    }

    /** Tokens the KV cache holds. */
    public synchronized int nCtx() {
        long p = handle.acquire();
        try {
            return Native.sessionNCtx(p);
        } finally {
            handle.release();
        }
    }

    public boolean isClosed() {
        return handle.isClosed();
    }

    /**
     * Idempotent, from any thread. A generate running on another thread stops after its current
     * token and the native session is freed when it returns.
     */
    @Override
    public void close() {
        cancelRequested = true;
        cleanable.clean();
    }
}
