package org.vkrt;

import java.util.List;
import java.util.Objects;

/**
 * One conversation with a {@link Model}: its KV cache, position, last logits and sampler
 * state. A session is used by one thread at a time (calls from several threads are
 * serialized); {@link #cancel()}, {@link #close()}, {@link #pos()}, {@link #nCtx()} and
 * {@link #events()} may come from any thread and never wait for a running call. Several
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
        this(model, nCtx, nBatch, Overflow.ERROR, 0);
    }

    /** What a turn that would pass {@code nCtx} does (vkrt_overflow_policy). */
    public enum Overflow {
        /** Refuse with {@link Status#LIMIT_EXCEEDED}; a generation ends at n_ctx. */
        ERROR,
        /**
         * llama.cpp's context shift: keep the first {@code nKeep} tokens, drop half of the rest,
         * re-rotate the kept tail's cached K (or evaluate it again where that is not exact),
         * continue; {@link #events()} reports {@link #EVENT_SHIFTED}.
         */
        SHIFT,
        /** As SHIFT, always evaluating the kept tail again: exactly a fresh session's cache. */
        SHIFT_RECOMPUTE
    }

    /**
     * @param overflow what a turn that would pass {@code nCtx} does
     * @param nKeep    tokens a context shift always keeps (the system prompt, BOS included)
     */
    public Session(Model model, int nCtx, int nBatch, Overflow overflow, int nKeep) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(overflow, "overflow");
        long m = model.handle.acquire();
        try {
            long s = Native.sessionCreateOverflow(m, nCtx, nBatch, overflow.ordinal(), nKeep);
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
     * Stops a {@link #generate}, {@link #chat}, {@link #complete}, {@link #eval} or {@link #evalPrompt} running on another thread,
     * without waiting for it: a generation after its current token, a prompt between two batches
     * of nBatch tokens. The session keeps exactly what was evaluated ({@link #events()} reports
     * {@link #EVENT_CANCELLED}; an interrupted eval throws with {@link Status#CANCELLED}).
     * Without a running call it does nothing.
     */
    public void cancel() {
        cancelRequested = true;
        long p;
        try {
            p = handle.acquire();
        } catch (IllegalStateException closed) {
            return;
        }
        try {
            Native.sessionCancel(p);
        } finally {
            handle.release();
        }
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

    /** Tokens in the KV cache; never waits for a call running on another thread. */
    public int pos() {
        long p = handle.acquire();
        try {
            return Native.sessionPos(p);
        } finally {
            handle.release();
        }
    }

    /** Tokens the KV cache holds; never waits for a call running on another thread. */
    public int nCtx() {
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
        cancel();
        cleanable.clean();
    }

    // ---- session state: rewind, prefix reuse, saved sessions

    /** {@link #events()}: the last call was stopped by {@link #cancel()}. */
    public static final int EVENT_CANCELLED = 1;
    /** {@link #events()}: the last generation stopped because the context was full. */
    public static final int EVENT_CONTEXT_FULL = 2;
    /** {@link #events()}: the context was shifted during the last call ({@link Overflow#SHIFT}). */
    public static final int EVENT_SHIFTED = 4;

    /** What happened during the last generate/eval (EVENT_* bits); never waits. */
    public int events() {
        long p = handle.acquire();
        try {
            return Native.sessionEvents(p);
        } finally {
            handle.release();
        }
    }

    /**
     * Keeps the first {@code n} positions (0 <= n <= {@link #pos()}) and drops the rest, with the
     * sampler's repetition window; evaluate a token before sampling again.
     */
    public synchronized void truncate(int n) {
        long p = handle.acquire();
        try {
            Native.sessionTruncate(p, n);
        } finally {
            handle.release();
        }
    }

    /** The ids of the tokens in the KV cache (positions 0 .. pos()-1). */
    public synchronized int[] tokens() {
        long p = handle.acquire();
        try {
            return Native.sessionTokens(p);
        } finally {
            handle.release();
        }
    }

    /**
     * Makes the session hold exactly {@code tokens} (a whole prompt from position 0), evaluating
     * only what follows the longest common prefix with the cached tokens; afterwards
     * {@link #logits()} are the last prompt token's.
     *
     * @return the number of cached tokens reused
     */
    public synchronized int evalPrompt(int[] tokens) {
        Objects.requireNonNull(tokens, "tokens");
        long p = handle.acquire();
        try {
            return Native.sessionEvalPrompt(p, tokens);
        } finally {
            handle.release();
        }
    }

    /** The session's state (KV cache rows, tokens, sampler, logits) for {@link #restoreState}. */
    public synchronized byte[] saveState() {
        long p = handle.acquire();
        try {
            return Native.sessionStateGet(p);
        } finally {
            handle.release();
        }
    }

    /**
     * Restores a state of {@link #saveState()} or {@link #save}; another model's, other cache
     * types, a larger n_ctx, truncated or corrupt data are refused with the session unchanged.
     */
    public synchronized void restoreState(byte[] state) {
        Objects.requireNonNull(state, "state");
        long p = handle.acquire();
        try {
            Native.sessionStateSet(p, state);
        } finally {
            handle.release();
        }
    }

    /** The state to a file, written safely (a temporary file renamed over the target). */
    public synchronized void save(String path) {
        byte[] p8 = Text.utf8(Objects.requireNonNull(path, "path"), "path");
        long p = handle.acquire();
        try {
            Native.sessionSave(p, p8);
        } finally {
            handle.release();
        }
    }

    /** Restores a file written by {@link #save}, as {@link #restoreState}. */
    public synchronized void load(String path) {
        byte[] p8 = Text.utf8(Objects.requireNonNull(path, "path"), "path");
        long p = handle.acquire();
        try {
            Native.sessionLoad(p, p8);
        } finally {
            handle.release();
        }
    }
}
