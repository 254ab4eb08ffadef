// JNI glue: org.vkrt.Native's static methods over the C API (include/vkrt/vkrt.h).
//
// - Text crosses as UTF-8 byte[] (JNI's "modified UTF-8" would mangle NUL and characters
//   outside the BMP); Java refuses a NUL inside text before it gets here.
// - A failed C call throws org.vkrt.VkrtException(status, vkrt_last_error()).
// - Callbacks (token, progress) may run on any thread: each gets its JNIEnv from the JavaVM,
//   attaching the thread for the call when it is not attached and detaching it afterwards.
//   An exception thrown by Java code in a callback is taken out of that thread (callbacks
//   must not return into C with one pending), stops the operation, and is rethrown on the
//   calling thread when the C call returns.
// - Methods are registered in JNI_OnLoad, so only JNI_OnLoad is exported.
#include <jni.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "vkrt/vkrt.h"

namespace {

JavaVM* g_vm = nullptr;
jclass g_exception_class = nullptr;        // org.vkrt.VkrtException
jmethodID g_exception_ctor = nullptr;      // (I[B)V
jmethodID g_token_sink_on_token = nullptr;  // Native$TokenSink.onToken(I[B)Z
jmethodID g_progress_on_progress = nullptr; // Native$ProgressSink.onProgress(F)Z
std::atomic<long> g_live{0};               // handles created here and not yet freed

constexpr jint kJniVersion = JNI_VERSION_1_6;

template <typename T>
T* from_jlong(jlong p) {
    return reinterpret_cast<T*>(static_cast<intptr_t>(p));
}
template <typename T>
jlong to_jlong(T* p) {
    return static_cast<jlong>(reinterpret_cast<intptr_t>(p));
}

jbyteArray bytes(JNIEnv* env, const char* s, size_t n) {
    jbyteArray a = env->NewByteArray(jsize(n));
    if (a && n) env->SetByteArrayRegion(a, 0, jsize(n), reinterpret_cast<const jbyte*>(s));
    return a;  // null with OutOfMemoryError pending if it could not be made
}

// Throws VkrtException(status, message) unless an exception is already pending (a callback's,
// which wins: it says why the operation stopped).
void throw_vkrt(JNIEnv* env, vkrt_status status, const char* message) {
    if (env->ExceptionCheck()) return;
    jbyteArray msg = bytes(env, message, std::strlen(message));
    if (!msg) return;
    auto ex = static_cast<jthrowable>(env->NewObject(g_exception_class, g_exception_ctor, jint(status), msg));
    if (ex) env->Throw(ex);
}

// true if ok; otherwise throws with vkrt_last_error() (thread-local: read it right away).
bool check(JNIEnv* env, vkrt_status s) {
    if (s == VKRT_OK) return true;
    throw_vkrt(env, s, vkrt_last_error());
    return false;
}

// A Java byte[] as a NUL-terminated std::string. A null array reads as "no value".
bool to_string(JNIEnv* env, jbyteArray a, std::string& out) {
    out.clear();
    if (!a) return true;
    jsize n = env->GetArrayLength(a);
    out.resize(size_t(n));
    if (n) env->GetByteArrayRegion(a, 0, n, reinterpret_cast<jbyte*>(out.data()));
    return !env->ExceptionCheck();
}

// The JNIEnv of the current thread, attaching it (as a daemon) for the lifetime of this object
// when a native thread calls into Java.
class ScopedEnv {
public:
    ScopedEnv() {
        if (!g_vm) return;
        jint r = g_vm->GetEnv(reinterpret_cast<void**>(&env_), kJniVersion);
        if (r == JNI_EDETACHED) {
            JavaVMAttachArgs args{kJniVersion, const_cast<char*>("vkrt-native"), nullptr};
#if defined(__ANDROID__)
            r = g_vm->AttachCurrentThreadAsDaemon(&env_, &args);
#else
            r = g_vm->AttachCurrentThreadAsDaemon(reinterpret_cast<void**>(&env_), &args);
#endif
            attached_ = r == JNI_OK;
        }
        if (r != JNI_OK) env_ = nullptr;
    }
    ~ScopedEnv() {
        if (attached_) g_vm->DetachCurrentThread();
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;
    JNIEnv* get() const { return env_; }

private:
    JNIEnv* env_ = nullptr;
    bool attached_ = false;
};

// What a callback trampoline needs: the Java object and the first exception it threw, both as
// global references (a local reference is valid only on the thread of the native method that
// got it). Made and destroyed on the thread that calls into the C API.
struct Callback {
    JNIEnv* owner;
    jobject target = nullptr;
    jthrowable error = nullptr;
    bool stop = false;  // a load listener returned false

    Callback(JNIEnv* env, jobject obj) : owner(env), target(obj ? env->NewGlobalRef(obj) : nullptr) {}
    ~Callback() {
        if (target) owner->DeleteGlobalRef(target);
        if (error) owner->DeleteGlobalRef(error);
    }
    Callback(const Callback&) = delete;
    Callback& operator=(const Callback&) = delete;
    // false with OutOfMemoryError pending if the global reference could not be made
    bool ok(jobject obj) const { return !obj || target; }

    // Takes a pending exception out of env into `error`; true if there was one.
    bool take_exception(JNIEnv* env) {
        if (!env->ExceptionCheck()) return false;
        jthrowable ex = env->ExceptionOccurred();
        env->ExceptionClear();
        if (!error) error = static_cast<jthrowable>(env->NewGlobalRef(ex));
        env->DeleteLocalRef(ex);
        return true;
    }
    // On the calling thread once the C call has returned: rethrow what a callback threw.
    bool rethrow() {
        if (!error) return false;
        auto local = static_cast<jthrowable>(owner->NewLocalRef(error));
        owner->DeleteGlobalRef(error);
        error = nullptr;
        if (local) owner->Throw(local);
        return true;
    }
};

// vkrt_token_callback: non-zero stops the generation.
int on_token(int32_t token, const char* piece, void* user) {
    auto* cb = static_cast<Callback*>(user);
    if (cb->error) return 1;
    ScopedEnv scoped;
    JNIEnv* env = scoped.get();
    if (!env) return 1;  // cannot reach the JVM from this thread: stop rather than run blind
    jbyteArray p = bytes(env, piece, std::strlen(piece));
    jboolean go = JNI_FALSE;
    if (p) {
        go = env->CallBooleanMethod(cb->target, g_token_sink_on_token, jint(token), p);
        env->DeleteLocalRef(p);
    }
    if (cb->take_exception(env)) return 1;
    return go ? 0 : 1;
}

// vkrt_load_callback: non-zero stops the load, when the listener returns false or throws.
int on_progress(float fraction, void* user) {
    auto* cb = static_cast<Callback*>(user);
    if (cb->error || cb->stop) return 1;
    ScopedEnv scoped;
    JNIEnv* env = scoped.get();
    if (!env) return 1;  // cannot reach the JVM from this thread: stop rather than run blind
    const jboolean go = env->CallBooleanMethod(cb->target, g_progress_on_progress, jfloat(fraction));
    if (cb->take_exception(env)) return 1;
    cb->stop = !go;
    return cb->stop ? 1 : 0;
}

vkrt_sampler_params sampler(jfloat temperature, jint top_k, jfloat top_p, jfloat min_p, jfloat repeat_penalty,
                            jint repeat_last_n, jlong seed) {
    vkrt_sampler_params p = vkrt_sampler_default_params();
    p.temperature = temperature;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.repeat_penalty = repeat_penalty;
    p.repeat_last_n = repeat_last_n;
    p.seed = uint64_t(seed);
    return p;
}

// ---------------------------------------------------------------- context

jlong context_create(JNIEnv* env, jclass, jbyteArray device, jboolean validation, jbyteArray cache_dir) {
    std::string dev, dir;
    if (!to_string(env, device, dev) || !to_string(env, cache_dir, dir)) return 0;
    vkrt_context_params p = vkrt_context_default_params();
    p.device = device ? dev.c_str() : nullptr;
    p.validation = validation ? 1 : 0;
    p.pipeline_cache_dir = cache_dir ? dir.c_str() : nullptr;
    vkrt_context* ctx = nullptr;
    if (!check(env, vkrt_context_create(&p, &ctx))) return 0;
    ++g_live;
    return to_jlong(ctx);
}

void context_free(JNIEnv*, jclass, jlong ctx) {
    vkrt_context_free(from_jlong<vkrt_context>(ctx));
    --g_live;
}

jbyteArray context_describe(JNIEnv* env, jclass, jlong ctx) {
    const char* d = vkrt_context_describe(from_jlong<vkrt_context>(ctx));
    return bytes(env, d, std::strlen(d));
}

jlong context_validation_messages(JNIEnv*, jclass, jlong ctx) {
    return jlong(vkrt_context_validation_messages(from_jlong<vkrt_context>(ctx)));
}

// ---------------------------------------------------------------- model

jlong model_load(JNIEnv* env, jclass, jlong ctx, jbyteArray path, jobject progress) {
    std::string p8;
    if (!to_string(env, path, p8)) return 0;
    Callback cb(env, progress);
    if (!cb.ok(progress)) return 0;
    vkrt_model_params mp = vkrt_model_default_params();
    if (progress) {
        // The listener is asked through progress_cancel alone (progress would call it twice);
        // one that returned false or threw stops the load at once (everything loaded so far is
        // freed: VKRT_ERROR_CANCELLED).
        mp.progress_user = &cb;
        mp.progress_cancel = on_progress;
    }
    vkrt_model* m = nullptr;
    vkrt_status s = vkrt_model_load(from_jlong<vkrt_context>(ctx), p8.c_str(), &mp, &m);
    if (cb.rethrow()) {  // the listener failed: the load fails with its exception
        vkrt_model_free(m);
        return 0;
    }
    if (!check(env, s)) return 0;
    ++g_live;
    return to_jlong(m);
}

void model_free(JNIEnv*, jclass, jlong m) {
    vkrt_model_free(from_jlong<vkrt_model>(m));
    --g_live;
}

jint model_info(JNIEnv*, jclass, jlong mp, jint what) {
    auto* m = from_jlong<vkrt_model>(mp);
    switch (what) {
        case 0: return vkrt_model_n_vocab(m);
        case 1: return vkrt_model_n_ctx_train(m);
        case 2: return vkrt_model_bos(m);
        case 3: return vkrt_model_eos(m);
        default: return -1;
    }
}

jboolean model_is_eog(JNIEnv*, jclass, jlong m, jint token) {
    return vkrt_model_is_eog(from_jlong<vkrt_model>(m), token) ? JNI_TRUE : JNI_FALSE;
}

jintArray tokenize(JNIEnv* env, jclass, jlong mp, jbyteArray text, jboolean add_bos, jboolean parse_special) {
    std::string t;
    if (!to_string(env, text, t)) return nullptr;
    auto* m = from_jlong<vkrt_model>(mp);
    std::vector<int32_t> ids(t.size() + 8);  // a token covers at least one byte (+ BOS, specials)
    int32_t n = 0;
    vkrt_status s = vkrt_tokenize(m, t.c_str(), add_bos, parse_special, ids.data(), int32_t(ids.size()), &n);
    if (s == VKRT_ERROR_LIMIT_EXCEEDED && n > int32_t(ids.size())) {
        ids.resize(size_t(n));
        s = vkrt_tokenize(m, t.c_str(), add_bos, parse_special, ids.data(), n, &n);
    }
    if (!check(env, s)) return nullptr;
    jintArray out = env->NewIntArray(n);
    if (out && n) env->SetIntArrayRegion(out, 0, n, reinterpret_cast<const jint*>(ids.data()));
    return out;
}

jbyteArray detokenize(JNIEnv* env, jclass, jlong mp, jintArray tokens) {
    auto* m = from_jlong<vkrt_model>(mp);
    jsize n = env->GetArrayLength(tokens);
    std::vector<int32_t> ids(static_cast<size_t>(n));
    if (n) env->GetIntArrayRegion(tokens, 0, n, reinterpret_cast<jint*>(ids.data()));
    std::string out(size_t(n) * 8 + 16, '\0');
    size_t len = 0;
    vkrt_status s = vkrt_detokenize(m, ids.data(), n, out.data(), out.size(), &len);
    if (s == VKRT_ERROR_LIMIT_EXCEEDED && len + 1 > out.size()) {
        out.resize(len + 1);
        s = vkrt_detokenize(m, ids.data(), n, out.data(), out.size(), &len);
    }
    if (!check(env, s)) return nullptr;
    return bytes(env, out.data(), len);
}

// ---------------------------------------------------------------- session

jlong create_session(JNIEnv* env, jlong m, const vkrt_session_params& p) {
    vkrt_session* s = nullptr;
    if (!check(env, vkrt_session_create(from_jlong<vkrt_model>(m), &p, &s))) return 0;
    ++g_live;
    return to_jlong(s);
}

jlong session_create(JNIEnv* env, jclass, jlong m, jint n_ctx, jint n_batch) {
    vkrt_session_params p = vkrt_session_default_params();
    p.n_ctx = n_ctx;
    p.n_batch = n_batch;
    return create_session(env, m, p);
}

void session_free(JNIEnv*, jclass, jlong s) {
    vkrt_session_free(from_jlong<vkrt_session>(s));
    --g_live;
}

jint session_n_ctx(JNIEnv*, jclass, jlong s) { return vkrt_session_n_ctx(from_jlong<vkrt_session>(s)); }
jint session_pos(JNIEnv*, jclass, jlong s) { return vkrt_session_pos(from_jlong<vkrt_session>(s)); }

void session_reset(JNIEnv* env, jclass, jlong s) { check(env, vkrt_session_reset(from_jlong<vkrt_session>(s))); }

void eval(JNIEnv* env, jclass, jlong s, jintArray tokens) {
    jsize n = env->GetArrayLength(tokens);
    std::vector<int32_t> ids(static_cast<size_t>(n));
    if (n) env->GetIntArrayRegion(tokens, 0, n, reinterpret_cast<jint*>(ids.data()));
    check(env, vkrt_eval(from_jlong<vkrt_session>(s), ids.data(), n));
}

jfloatArray logits(JNIEnv* env, jclass, jlong s) {
    const float* l = nullptr;
    int32_t n = 0;
    if (!check(env, vkrt_get_logits(from_jlong<vkrt_session>(s), &l, &n))) return nullptr;
    jfloatArray out = env->NewFloatArray(n);
    if (out && n) env->SetFloatArrayRegion(out, 0, n, l);
    return out;
}

jfloatArray sampler_defaults(JNIEnv* env, jclass) {
    vkrt_sampler_params p = vkrt_sampler_default_params();
    const jfloat v[6] = {p.temperature, jfloat(p.top_k), p.top_p, p.min_p, p.repeat_penalty, jfloat(p.repeat_last_n)};
    jfloatArray out = env->NewFloatArray(6);
    if (out) env->SetFloatArrayRegion(out, 0, 6, v);
    return out;
}

jlong sampler_default_seed(JNIEnv*, jclass) { return jlong(vkrt_sampler_default_params().seed); }

jint sample(JNIEnv* env, jclass, jlong s, jfloat temperature, jint top_k, jfloat top_p, jfloat min_p,
            jfloat repeat_penalty, jint repeat_last_n, jlong seed) {
    vkrt_sampler_params p = sampler(temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n, seed);
    int32_t t = -1;
    if (!check(env, vkrt_sample(from_jlong<vkrt_session>(s), &p, &t))) return -1;
    return t;
}

void generate(JNIEnv* env, jclass, jlong s, jbyteArray prompt, jfloat temperature, jint top_k, jfloat top_p,
              jfloat min_p, jfloat repeat_penalty, jint repeat_last_n, jlong seed, jint n_predict, jobject sink) {
    std::string p8;
    if (!to_string(env, prompt, p8)) return;
    vkrt_sampler_params p = sampler(temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n, seed);
    Callback cb(env, sink);
    if (!cb.ok(sink)) return;
    vkrt_status st = vkrt_generate(from_jlong<vkrt_session>(s), p8.c_str(), &p, n_predict, sink ? on_token : nullptr,
                                   &cb);
    if (cb.rethrow()) return;
    check(env, st);
}

// ---------------------------------------------------------------- session state
// Rewind, prefix reuse, cancellation, context overflow and saved sessions (vkrt.h).

jlong session_create_overflow(JNIEnv* env, jclass, jlong m, jint n_ctx, jint n_batch, jint overflow, jint n_keep) {
    vkrt_session_params p = vkrt_session_default_params();
    p.n_ctx = n_ctx;
    p.n_batch = n_batch;
    p.overflow = overflow;
    p.n_keep = n_keep;
    return create_session(env, m, p);
}

void session_truncate(JNIEnv* env, jclass, jlong s, jint n) {
    check(env, vkrt_session_truncate(from_jlong<vkrt_session>(s), n));
}

jintArray session_tokens(JNIEnv* env, jclass, jlong s) {
    vkrt_session* h = from_jlong<vkrt_session>(s);
    int32_t n = 0;
    vkrt_status st = vkrt_session_tokens(h, nullptr, 0, &n);
    if (st != VKRT_ERROR_LIMIT_EXCEEDED && !check(env, st)) return nullptr;
    std::vector<int32_t> ids(static_cast<size_t>(n));
    if (!check(env, vkrt_session_tokens(h, ids.data(), n, &n))) return nullptr;
    jintArray out = env->NewIntArray(n);
    if (out && n) env->SetIntArrayRegion(out, 0, n, reinterpret_cast<const jint*>(ids.data()));
    return out;
}

jint session_eval_prompt(JNIEnv* env, jclass, jlong s, jintArray tokens) {
    jsize n = env->GetArrayLength(tokens);
    std::vector<int32_t> ids(static_cast<size_t>(n));
    if (n) env->GetIntArrayRegion(tokens, 0, n, reinterpret_cast<jint*>(ids.data()));
    int32_t reused = 0;
    if (!check(env, vkrt_session_eval_prompt(from_jlong<vkrt_session>(s), ids.data(), n, &reused))) return 0;
    return reused;
}

void session_cancel(JNIEnv* env, jclass, jlong s) { check(env, vkrt_session_cancel(from_jlong<vkrt_session>(s))); }
jint session_events(JNIEnv*, jclass, jlong s) { return jint(vkrt_session_events(from_jlong<vkrt_session>(s))); }

jbyteArray session_state_get(JNIEnv* env, jclass, jlong s) {
    vkrt_session* h = from_jlong<vkrt_session>(s);
    size_t n = 0;
    if (!check(env, vkrt_session_state_size(h, &n))) return nullptr;
    if (n > size_t(INT32_MAX)) {
        check(env, VKRT_ERROR_LIMIT_EXCEEDED);
        return nullptr;
    }
    std::vector<char> blob(n);
    if (!check(env, vkrt_session_state_get(h, blob.data(), blob.size(), &n))) return nullptr;
    return bytes(env, blob.data(), n);
}

void session_state_set(JNIEnv* env, jclass, jlong s, jbyteArray state) {
    jsize n = env->GetArrayLength(state);
    std::vector<jbyte> blob(static_cast<size_t>(n));
    if (n) env->GetByteArrayRegion(state, 0, n, blob.data());
    check(env, vkrt_session_state_set(from_jlong<vkrt_session>(s), blob.data(), size_t(n)));
}

void session_save(JNIEnv* env, jclass, jlong s, jbyteArray path) {
    std::string p8;
    if (!to_string(env, path, p8)) return;
    check(env, vkrt_session_save(from_jlong<vkrt_session>(s), p8.c_str()));
}

void session_load(JNIEnv* env, jclass, jlong s, jbyteArray path) {
    std::string p8;
    if (!to_string(env, path, p8)) return;
    check(env, vkrt_session_load(from_jlong<vkrt_session>(s), p8.c_str()));
}

// ---------------------------------------------------------------- diagnostics

jlong live_objects(JNIEnv*, jclass) { return g_live.load(); }

jboolean call_sink_from_native_thread(JNIEnv* env, jclass, jobject sink, jint token, jbyteArray piece) {
    std::string p8;
    if (!to_string(env, piece, p8)) return JNI_FALSE;
    Callback cb(env, sink);
    if (!cb.ok(sink)) return JNI_FALSE;
    int stop = 1;
    std::thread t([&] { stop = on_token(token, p8.c_str(), &cb); });
    t.join();
    if (cb.rethrow()) return JNI_FALSE;
    return stop ? JNI_FALSE : JNI_TRUE;
}

// ---------------------------------------------------------------- chat (vkrt.h "chat" section)
// Registered by register_chat() from JNI_OnLoad: metadata, templates, vkrt_generate_text /
// vkrt_chat_generate with every parameter, grammar checks.

jmethodID g_chat_sink_on_step = nullptr;  // Native$ChatSink.onStep(I[BF[I[F)Z

// A byte[][] as strings (null elements stay "no value": the C call refuses them by name).
bool to_strings(JNIEnv* env, jobjectArray a, std::vector<std::string>& out, std::vector<bool>& present) {
    out.clear();
    present.clear();
    if (!a) return true;
    const jsize n = env->GetArrayLength(a);
    for (jsize i = 0; i < n; ++i) {
        auto e = static_cast<jbyteArray>(env->GetObjectArrayElement(a, i));
        std::string s;
        if (!to_string(env, e, s)) return false;
        out.push_back(std::move(s));
        present.push_back(e != nullptr);
        if (e) env->DeleteLocalRef(e);
    }
    return true;
}

// vkrt_stream_callback into Native$ChatSink.onStep(token, text bytes, logprob, top ids, top logprobs).
int on_chat_step(const vkrt_token_info* info, void* user) {
    auto* cb = static_cast<Callback*>(user);
    if (cb->error) return 1;
    ScopedEnv scoped;
    JNIEnv* env = scoped.get();
    if (!env) return 1;
    jbyteArray text = bytes(env, info->text, info->text_length);
    jintArray top = env->NewIntArray(info->n_top);
    jfloatArray top_lp = env->NewFloatArray(info->n_top);
    jboolean go = JNI_FALSE;
    if (text && top && top_lp) {
        if (info->n_top) {
            env->SetIntArrayRegion(top, 0, info->n_top, reinterpret_cast<const jint*>(info->top_tokens));
            env->SetFloatArrayRegion(top_lp, 0, info->n_top, info->top_logprobs);
        }
        go = env->CallBooleanMethod(cb->target, g_chat_sink_on_step, jint(info->token), text, jfloat(info->logprob),
                                    top, top_lp);
    }
    for (jobject o : {static_cast<jobject>(text), static_cast<jobject>(top), static_cast<jobject>(top_lp)}) {
        if (o) env->DeleteLocalRef(o);
    }
    if (cb->take_exception(env)) return 1;
    return go ? 0 : 1;
}

// iparams: {maxTokens, topK, repeatLastN, logprobs, topLogprobs}; fparams: {temperature, topP,
// minP, repeatPenalty, presencePenalty, frequencyPenalty}. roles == null: a text prompt.
// Returns {finish reason, nPrompt, nCached, nGenerated}.
jintArray chat_generate(JNIEnv* env, jclass, jlong sp, jbyteArray prompt, jobjectArray roles, jobjectArray contents,
                        jintArray iparams, jfloatArray fparams, jlong seed, jobjectArray stops, jintArray bias_tokens,
                        jfloatArray bias_values, jbyteArray grammar, jbyteArray schema, jbyteArray tmpl,
                        jobject sink) {
    std::string p8, g8, s8, t8;
    std::vector<std::string> r8, c8, stop8;
    std::vector<bool> rp, cp, sp8;
    if (!to_string(env, prompt, p8) || !to_string(env, grammar, g8) || !to_string(env, schema, s8) ||
        !to_string(env, tmpl, t8) || !to_strings(env, roles, r8, rp) || !to_strings(env, contents, c8, cp) ||
        !to_strings(env, stops, stop8, sp8))
        return nullptr;
    jint ip[5] = {};
    jfloat fp[6] = {};
    env->GetIntArrayRegion(iparams, 0, 5, ip);
    env->GetFloatArrayRegion(fparams, 0, 6, fp);
    const jsize n_bias = bias_tokens ? env->GetArrayLength(bias_tokens) : 0;
    std::vector<vkrt_logit_bias> bias(static_cast<size_t>(n_bias));
    std::vector<jint> bt(bias.size());
    std::vector<jfloat> bv(bias.size());
    if (n_bias) {
        env->GetIntArrayRegion(bias_tokens, 0, n_bias, bt.data());
        env->GetFloatArrayRegion(bias_values, 0, n_bias, bv.data());
    }
    if (env->ExceptionCheck()) return nullptr;
    for (size_t i = 0; i < bias.size(); ++i) bias[i] = {bt[i], bv[i]};

    vkrt_generate_params p = vkrt_generate_default_params();
    p.sampler = sampler(fp[0], ip[1], fp[1], fp[2], fp[3], ip[2], seed);
    p.max_tokens = ip[0];
    p.logprobs = ip[3];
    p.top_logprobs = ip[4];
    p.presence_penalty = fp[4];
    p.frequency_penalty = fp[5];
    std::vector<const char*> stop_ptrs;
    for (size_t i = 0; i < stop8.size(); ++i) stop_ptrs.push_back(sp8[i] ? stop8[i].c_str() : nullptr);
    p.stop = stop_ptrs.data();
    p.n_stop = int32_t(stop_ptrs.size());
    p.logit_bias = bias.data();
    p.n_logit_bias = int32_t(bias.size());
    p.grammar = grammar ? g8.c_str() : nullptr;
    p.json_schema = schema ? s8.c_str() : nullptr;
    p.chat_template = tmpl ? t8.c_str() : nullptr;

    Callback cb(env, sink);
    if (!cb.ok(sink)) return nullptr;
    vkrt_generate_result r{};
    vkrt_status st;
    auto* session = from_jlong<vkrt_session>(sp);
    if (roles) {
        std::vector<vkrt_chat_message> msgs;
        for (size_t i = 0; i < r8.size() && i < c8.size(); ++i)
            msgs.push_back({rp[i] ? r8[i].c_str() : nullptr, cp[i] ? c8[i].c_str() : nullptr});
        st = vkrt_chat_generate(session, msgs.data(), msgs.size(), &p, sink ? on_chat_step : nullptr, &cb, &r);
    } else {
        st = vkrt_generate_text(session, p8.c_str(), &p, sink ? on_chat_step : nullptr, &cb, &r);
    }
    if (cb.rethrow() || !check(env, st)) return nullptr;
    const jint out[4] = {r.finish_reason, r.n_prompt, r.n_cached, r.n_generated};
    jintArray a = env->NewIntArray(4);
    if (a) env->SetIntArrayRegion(a, 0, 4, out);
    return a;
}

// A (buf, capacity, length) C call as a byte[], retried with the needed size.
template <typename F>
jbyteArray string_call(JNIEnv* env, F&& f) {
    std::string out(256, '\0');
    size_t len = 0;
    vkrt_status s = f(out.data(), out.size(), &len);
    if (s == VKRT_ERROR_LIMIT_EXCEEDED && len + 1 > out.size()) {
        out.resize(len + 1);
        s = f(out.data(), out.size(), &len);
    }
    if (!check(env, s)) return nullptr;
    return bytes(env, out.data(), len);
}

jbyteArray apply_template(JNIEnv* env, jclass, jlong mp, jbyteArray tmpl, jobjectArray roles, jobjectArray contents,
                          jboolean add_generation_prompt) {
    std::string t8;
    std::vector<std::string> r8, c8;
    std::vector<bool> rp, cp;
    if (!to_string(env, tmpl, t8) || !to_strings(env, roles, r8, rp) || !to_strings(env, contents, c8, cp))
        return nullptr;
    std::vector<vkrt_chat_message> msgs;
    for (size_t i = 0; i < r8.size() && i < c8.size(); ++i)
        msgs.push_back({rp[i] ? r8[i].c_str() : nullptr, cp[i] ? c8[i].c_str() : nullptr});
    return string_call(env, [&](char* b, size_t cap, size_t* len) {
        return vkrt_chat_apply_template(mp ? from_jlong<vkrt_model>(mp) : nullptr, tmpl ? t8.c_str() : nullptr,
                                        msgs.data(), msgs.size(), add_generation_prompt ? 1 : 0, b, cap, len);
    });
}

jbyteArray chat_template_name(JNIEnv* env, jclass, jlong m) {
    const char* n = vkrt_model_chat_template(from_jlong<vkrt_model>(m));
    return bytes(env, n, std::strlen(n));
}

jboolean meta_has(JNIEnv* env, jclass, jlong m, jbyteArray key) {
    std::string k;
    if (!to_string(env, key, k)) return JNI_FALSE;
    return vkrt_model_meta_has(from_jlong<vkrt_model>(m), k.c_str()) ? JNI_TRUE : JNI_FALSE;
}

jbyteArray meta_string(JNIEnv* env, jclass, jlong m, jbyteArray key) {
    std::string k;
    if (!to_string(env, key, k)) return nullptr;
    return string_call(env, [&](char* b, size_t cap, size_t* len) {
        return vkrt_model_meta_string(from_jlong<vkrt_model>(m), k.c_str(), b, cap, len);
    });
}

jlong meta_long(JNIEnv* env, jclass, jlong m, jbyteArray key) {
    std::string k;
    int64_t v = 0;
    if (!to_string(env, key, k) || !check(env, vkrt_model_meta_int(from_jlong<vkrt_model>(m), k.c_str(), &v))) return 0;
    return jlong(v);
}

jdouble meta_double(JNIEnv* env, jclass, jlong m, jbyteArray key) {
    std::string k;
    double v = 0;
    if (!to_string(env, key, k) || !check(env, vkrt_model_meta_float(from_jlong<vkrt_model>(m), k.c_str(), &v)))
        return 0;
    return v;
}

jlong meta_array_length(JNIEnv* env, jclass, jlong m, jbyteArray key) {
    std::string k;
    uint64_t v = 0;
    if (!to_string(env, key, k) ||
        !check(env, vkrt_model_meta_array_length(from_jlong<vkrt_model>(m), k.c_str(), &v)))
        return 0;
    return jlong(v);
}

void grammar_check(JNIEnv* env, jclass, jbyteArray grammar, jbyteArray schema) {
    std::string g, s;
    if (!to_string(env, grammar, g) || !to_string(env, schema, s)) return;
    check(env, vkrt_grammar_check(grammar ? g.c_str() : nullptr, schema ? s.c_str() : nullptr));
}

jbyteArray schema_to_grammar(JNIEnv* env, jclass, jbyteArray schema) {
    std::string s;
    if (!to_string(env, schema, s)) return nullptr;
    return string_call(env, [&](char* b, size_t cap, size_t* len) {
        return vkrt_json_schema_to_grammar(s.c_str(), b, cap, len);
    });
}

#define M(name, sig, fn) JNINativeMethod{const_cast<char*>(name), const_cast<char*>(sig), reinterpret_cast<void*>(fn)}
const JNINativeMethod kChatMethods[] = {
    M("chatGenerate", "(J[B[[B[[B[I[FJ[[B[I[F[B[B[BLorg/vkrt/Native$ChatSink;)[I", chat_generate),
    M("applyChatTemplate", "(J[B[[B[[BZ)[B", apply_template),
    M("chatTemplateName", "(J)[B", chat_template_name),
    M("metaHas", "(J[B)Z", meta_has),
    M("metaString", "(J[B)[B", meta_string),
    M("metaLong", "(J[B)J", meta_long),
    M("metaDouble", "(J[B)D", meta_double),
    M("metaArrayLength", "(J[B)J", meta_array_length),
    M("grammarCheck", "([B[B)V", grammar_check),
    M("jsonSchemaToGrammar", "([B)[B", schema_to_grammar),
};
#undef M

bool register_chat(JNIEnv* env, jclass native) {
    jclass chat_sink = env->FindClass("org/vkrt/Native$ChatSink");
    if (!chat_sink) return false;
    g_chat_sink_on_step = env->GetMethodID(chat_sink, "onStep", "(I[BF[I[F)Z");
    return g_chat_sink_on_step &&
           env->RegisterNatives(native, kChatMethods, jint(sizeof kChatMethods / sizeof kChatMethods[0])) == 0;
}

#define M(name, sig, fn) JNINativeMethod{const_cast<char*>(name), const_cast<char*>(sig), reinterpret_cast<void*>(fn)}
const JNINativeMethod kMethods[] = {
    M("contextCreate", "([BZ[B)J", context_create),
    M("contextFree", "(J)V", context_free),
    M("contextDescribe", "(J)[B", context_describe),
    M("contextValidationMessages", "(J)J", context_validation_messages),
    M("modelLoad", "(J[BLorg/vkrt/Native$ProgressSink;)J", model_load),
    M("modelFree", "(J)V", model_free),
    M("modelInfo", "(JI)I", model_info),
    M("modelIsEog", "(JI)Z", model_is_eog),
    M("tokenize", "(J[BZZ)[I", tokenize),
    M("detokenize", "(J[I)[B", detokenize),
    M("sessionCreate", "(JII)J", session_create),
    M("sessionFree", "(J)V", session_free),
    M("sessionNCtx", "(J)I", session_n_ctx),
    M("sessionPos", "(J)I", session_pos),
    M("sessionReset", "(J)V", session_reset),
    M("eval", "(J[I)V", eval),
    M("logits", "(J)[F", logits),
    M("samplerDefaults", "()[F", sampler_defaults),
    M("samplerDefaultSeed", "()J", sampler_default_seed),
    M("sample", "(JFIFFFIJ)I", sample),
    M("generate", "(J[BFIFFFIJILorg/vkrt/Native$TokenSink;)V", generate),
    M("sessionCreateOverflow", "(JIIII)J", session_create_overflow),
    M("sessionTruncate", "(JI)V", session_truncate),
    M("sessionTokens", "(J)[I", session_tokens),
    M("sessionEvalPrompt", "(J[I)I", session_eval_prompt),
    M("sessionCancel", "(J)V", session_cancel),
    M("sessionEvents", "(J)I", session_events),
    M("sessionStateGet", "(J)[B", session_state_get),
    M("sessionStateSet", "(J[B)V", session_state_set),
    M("sessionSave", "(J[B)V", session_save),
    M("sessionLoad", "(J[B)V", session_load),
    M("liveObjects", "()J", live_objects),
    M("callSinkFromNativeThread", "(Lorg/vkrt/Native$TokenSink;I[B)Z", call_sink_from_native_thread),
};
#undef M

}  // namespace

extern "C" JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM* vm, void*) {
    JNIEnv* env = nullptr;
    if (vm->GetEnv(reinterpret_cast<void**>(&env), kJniVersion) != JNI_OK) return JNI_ERR;
    g_vm = vm;
    // Classes are looked up here, with the class loader that loads the library: FindClass
    // from a native thread would see only the system class loader (Android).
    jclass native = env->FindClass("org/vkrt/Native");
    jclass ex = env->FindClass("org/vkrt/VkrtException");
    jclass token_sink = env->FindClass("org/vkrt/Native$TokenSink");
    jclass progress_sink = env->FindClass("org/vkrt/Native$ProgressSink");
    if (!native || !ex || !token_sink || !progress_sink) return JNI_ERR;
    g_exception_class = static_cast<jclass>(env->NewGlobalRef(ex));
    g_exception_ctor = env->GetMethodID(ex, "<init>", "(I[B)V");
    g_token_sink_on_token = env->GetMethodID(token_sink, "onToken", "(I[B)Z");
    g_progress_on_progress = env->GetMethodID(progress_sink, "onProgress", "(F)Z");
    if (!g_exception_class || !g_exception_ctor || !g_token_sink_on_token || !g_progress_on_progress) return JNI_ERR;
    if (env->RegisterNatives(native, kMethods, jint(sizeof kMethods / sizeof kMethods[0])) != 0) return JNI_ERR;
    if (!register_chat(env, native)) return JNI_ERR;
    return kJniVersion;
}
