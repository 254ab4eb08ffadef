package org.vkrt;

/**
 * The JNI entry points (bindings/java/src/main/cpp/vkrt_jni.cpp), one per C API call. Text
 * crosses as UTF-8 byte arrays, never as JNI "modified UTF-8" strings, so every character
 * (NUL excepted, which the C API cannot take) survives. Failures throw {@link VkrtException}.
 * Pointers are the C API's handles; only {@link NativeHandle} owns them.
 */
final class Native {
    private Native() {}

    static {
        // Loaded from java.library.path (desktop) or the APK's native libraries (Android).
        System.loadLibrary("vkrt_jni");
    }

    /** Called with each generated token; returns false to stop. */
    interface TokenSink {
        boolean onToken(int token, byte[] piece);
    }

    /** Load progress; returns false to stop the load (VKRT_ERROR_CANCELLED). */
    interface ProgressSink {
        boolean onProgress(float fraction);
    }

    // ---- context
    static native long contextCreate(byte[] device, boolean validation, byte[] pipelineCacheDir);
    static native void contextFree(long ctx);
    static native byte[] contextDescribe(long ctx);
    static native long contextValidationMessages(long ctx);

    // ---- model
    static native long modelLoad(long ctx, byte[] path, ProgressSink progress);
    static native void modelFree(long model);
    static final int INFO_N_VOCAB = 0, INFO_N_CTX_TRAIN = 1, INFO_BOS = 2, INFO_EOS = 3;
    static native int modelInfo(long model, int what);
    static native boolean modelIsEog(long model, int token);
    static native int[] tokenize(long model, byte[] text, boolean addBos, boolean parseSpecial);
    static native byte[] detokenize(long model, int[] tokens);

    // ---- session
    static native long sessionCreate(long model, int nCtx, int nBatch);
    static native void sessionFree(long session);
    static native int sessionNCtx(long session);
    static native int sessionPos(long session);
    static native void sessionReset(long session);
    static native void eval(long session, int[] tokens);
    static native float[] logits(long session);

    /** {temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n} and seed of vkrt_sampler_default_params. */
    static native float[] samplerDefaults();
    static native long samplerDefaultSeed();

    static native int sample(long session, float temperature, int topK, float topP, float minP,
                             float repeatPenalty, int repeatLastN, long seed);
    static native void generate(long session, byte[] prompt, float temperature, int topK, float topP,
                                float minP, float repeatPenalty, int repeatLastN, long seed,
                                int nPredict, TokenSink sink);

    // ---- chat (vkrt.h "chat" section; vkrt_jni.cpp register_chat)
    /** One step of a chat/text generation: the text bytes it released, logprobs. */
    interface ChatSink {
        boolean onStep(int token, byte[] text, float logprob, int[] topTokens, float[] topLogprobs);
    }
    /**
     * roles == null: vkrt_generate_text(prompt); else vkrt_chat_generate(roles, contents).
     * iparams {maxTokens, topK, repeatLastN, logprobs, topLogprobs}, fparams {temperature, topP,
     * minP, repeatPenalty, presencePenalty, frequencyPenalty}; returns {finish, nPrompt, nCached,
     * nGenerated}.
     */
    static native int[] chatGenerate(long session, byte[] prompt, byte[][] roles, byte[][] contents, int[] iparams,
                                     float[] fparams, long seed, byte[][] stops, int[] biasTokens,
                                     float[] biasValues, byte[] grammar, byte[] jsonSchema, byte[] chatTemplate,
                                     ChatSink sink);
    static native byte[] applyChatTemplate(long model, byte[] tmpl, byte[][] roles, byte[][] contents,
                                           boolean addGenerationPrompt);
    static native byte[] chatTemplateName(long model);
    static native boolean metaHas(long model, byte[] key);
    static native byte[] metaString(long model, byte[] key);
    static native long metaLong(long model, byte[] key);
    static native double metaDouble(long model, byte[] key);
    static native long metaArrayLength(long model, byte[] key);
    static native void grammarCheck(byte[] grammar, byte[] jsonSchema);
    static native byte[] jsonSchemaToGrammar(byte[] jsonSchema);
    // ---- session state: rewind, prefix reuse, cancellation, context overflow, saved sessions
    static native long sessionCreateOverflow(long model, int nCtx, int nBatch, int overflow, int nKeep);
    static native void sessionTruncate(long session, int n);
    static native int[] sessionTokens(long session);
    static native int sessionEvalPrompt(long session, int[] tokens);
    /** Any thread, also while another thread is inside a call on the session. */
    static native void sessionCancel(long session);
    static native int sessionEvents(long session);
    static native byte[] sessionStateGet(long session);
    static native void sessionStateSet(long session, byte[] state);
    static native void sessionSave(long session, byte[] path);
    static native void sessionLoad(long session, byte[] path);

    // ---- diagnostics for the tests
    /** Native handles created through this library and not yet freed. */
    static native long liveObjects();
    /**
     * Calls sink.onToken(token, piece) from a new native thread (attached to the JVM for the
     * call, then detached) and returns its answer: the path a callback from a driver or worker
     * thread takes. An exception thrown by the sink is rethrown here.
     */
    static native boolean callSinkFromNativeThread(TokenSink sink, int token, byte[] piece);
}
