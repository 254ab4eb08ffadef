/* vkrt: a Vulkan compute runtime for quantized llama-family LLMs.
 *
 * C API. Every object is an opaque handle; every call that can fail returns a
 * vkrt_status and, on failure, leaves a message for vkrt_last_error() on the
 * calling thread. No C++ exception crosses this boundary. Objects:
 *   vkrt_context  a Vulkan device (VKRT_DEVICE selects one; see vkrt-bench --devices)
 *   vkrt_model    weights from a GGUF file, on that device, plus its tokenizer
 *   vkrt_session  one sequence: KV cache, position, last logits, sampler
 *
 * Lifetimes. Handles may be freed in any order and from any thread: a session
 * keeps its model alive and a model keeps its context (device) alive, so what
 * a handle needs is released only when its last user is freed. Freeing a
 * context while its models and sessions still run is fine; the device goes
 * away with the last of them. Every *_free accepts NULL. Each handle is freed
 * exactly once; a freed, foreign or wrong-kind pointer passed to a call is
 * caught (VKRT_ERROR_INVALID_ARGUMENT, or the documented fallback value of the
 * calls that return no status, with the message in vkrt_last_error) as long as
 * its address has not been reused by a new handle, and a double free is
 * ignored. Pointers returned by a call stay valid as documented there.
 *
 * Threads. Contexts and models may be used by many threads at once (loading,
 * tokenizing, creating sessions; the device's queue, command pools, descriptor
 * pools and pipeline cache are synchronized inside vkrt). A session is used by
 * one thread at a time; it may move between threads. A call on a session that
 * another thread is inside fails with VKRT_ERROR_INVALID_ARGUMENT rather than
 * racing, except vkrt_session_cancel, vkrt_session_events, vkrt_session_pos and
 * vkrt_session_n_ctx, which any thread may call at any time. vkrt_last_error() is per thread. Callbacks (progress, token) run on
 * the calling thread, inside the call.
 */
#ifndef VKRT_H
#define VKRT_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define VKRT_API __declspec(dllexport)
#else
#define VKRT_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vkrt_status {
    VKRT_OK = 0,
    VKRT_ERROR_INVALID_ARGUMENT = 1,
    VKRT_ERROR_IO = 2,
    VKRT_ERROR_BAD_FORMAT = 3,
    VKRT_ERROR_UNSUPPORTED = 4,
    VKRT_ERROR_OUT_OF_MEMORY = 5,
    VKRT_ERROR_DEVICE = 6,
    VKRT_ERROR_LIMIT_EXCEEDED = 7,
    VKRT_ERROR_INTERNAL = 8,
    VKRT_ERROR_CANCELLED = 9, /* stopped on request: vkrt_session_cancel, a load progress callback */
    /* Not a status. As Vulkan's *_MAX_ENUM: makes the enum 32 bits wide and every int32 value a
     * valid value of the type, so a C caller's out-of-range number (vkrt_status_string(99),
     * a field from a newer header) is defined behaviour that the library rejects, not UB. */
    VKRT_STATUS_MAX_ENUM = 0x7fffffff
} vkrt_status;

typedef struct vkrt_context vkrt_context;
typedef struct vkrt_model vkrt_model;
typedef struct vkrt_session vkrt_session;

/* The message of the last failed call on this thread ("" if none). */
VKRT_API const char* vkrt_last_error(void);
VKRT_API const char* vkrt_status_string(vkrt_status status);

/* ---- context (device) ---- */
typedef struct vkrt_context_params {
    const char* device;     /* index or name substring; NULL = VKRT_DEVICE or the best device */
    int validation;         /* 1 = Khronos validation layer */
    int disable_int_dot;    /* act as if the feature were missing (testing) */
    int disable_fp16;
    int disable_subgroup;
    /* Directory for the pipeline cache file (pipelines-<vendor>-<device>.bin); created if
     * missing. NULL = $XDG_CACHE_HOME/vkrt or ~/.cache/vkrt. Apps without a usable home
     * directory (Android: pass Context.getCacheDir()) set it; VKRT_PIPELINE_CACHE (a file,
     * or "off") overrides it. */
    const char* pipeline_cache_dir;
} vkrt_context_params;
VKRT_API vkrt_context_params vkrt_context_default_params(void);
VKRT_API vkrt_status vkrt_context_create(const vkrt_context_params* params, vkrt_context** out);
/* Releases the handle; the device lives on while models or sessions created from it do. */
VKRT_API void vkrt_context_free(vkrt_context* ctx);
/* Human-readable device + capability report, valid until the context handle is freed
 * ("" for an invalid handle). */
VKRT_API const char* vkrt_context_describe(const vkrt_context* ctx);
/* Number of Khronos validation-layer messages seen (0 unless validation is on). */
VKRT_API uint64_t vkrt_context_validation_messages(const vkrt_context* ctx);

/* ---- model ---- */
typedef void (*vkrt_progress_callback)(float fraction, void* user);
/* Like vkrt_progress_callback; a non-zero return cancels the load. */
typedef int (*vkrt_load_callback)(float fraction, void* user);
typedef struct vkrt_model_params {
    vkrt_progress_callback progress; /* may be NULL */
    void* progress_user;
    /* Added after progress_user: called like `progress` (with progress_user); when it returns
     * non-zero the load stops, everything it allocated is freed, and vkrt_model_load returns
     * VKRT_ERROR_CANCELLED. May be NULL. */
    vkrt_load_callback progress_cancel;
} vkrt_model_params;
VKRT_API vkrt_model_params vkrt_model_default_params(void);
VKRT_API vkrt_status vkrt_model_load(vkrt_context* ctx, const char* path, const vkrt_model_params* params,
                                     vkrt_model** out);
/* Releases the handle; the weights live on while sessions created from the model do. */
VKRT_API void vkrt_model_free(vkrt_model* model);
/* For an invalid handle these return 0 (n_vocab, n_ctx_train, is_eog) or -1 (bos, eos). */
VKRT_API int32_t vkrt_model_n_vocab(const vkrt_model* model);
VKRT_API int32_t vkrt_model_n_ctx_train(const vkrt_model* model);
VKRT_API int32_t vkrt_model_bos(const vkrt_model* model);
VKRT_API int32_t vkrt_model_eos(const vkrt_model* model);
/* 1 if the token ends generation (eos, eot, <|im_end|>, ...). */
VKRT_API int vkrt_model_is_eog(const vkrt_model* model, int32_t token);

/* Text -> ids. Writes at most `capacity` ids; *n_tokens gets the full count
 * (VKRT_ERROR_LIMIT_EXCEEDED if it did not fit). */
VKRT_API vkrt_status vkrt_tokenize(const vkrt_model* model, const char* text, int add_bos, int parse_special,
                                   int32_t* tokens, int32_t capacity, int32_t* n_tokens);
/* Ids -> UTF-8 text, NUL-terminated. *length gets the full byte length without the NUL
 * (VKRT_ERROR_LIMIT_EXCEEDED if it did not fit). */
VKRT_API vkrt_status vkrt_detokenize(const vkrt_model* model, const int32_t* tokens, int32_t n_tokens, char* buf,
                                     size_t capacity, size_t* length);

/* ---- session ---- */
/* Element type of the KV cache (llama.cpp's -ctk / -ctv). 0 is the default, F16, so that a
 * zero-initialized vkrt_session_params gets llama.cpp's default cache. Q8_0 is ggml's
 * 8-bit block format (34 bytes per 32 values) and needs n_head_kv * head_dim to be a
 * multiple of 32. */
typedef enum vkrt_cache_type {
    VKRT_CACHE_DEFAULT = 0, /* F16 */
    VKRT_CACHE_F32 = 1,
    VKRT_CACHE_F16 = 2,
    VKRT_CACHE_Q8_0 = 3,
    VKRT_CACHE_MAX_ENUM = 0x7fffffff /* not a type: see VKRT_STATUS_MAX_ENUM */
} vkrt_cache_type;

/* Context overflow (vkrt_session_params.overflow). SHIFT does what llama.cpp's context shift
 * does: keep the first n_keep tokens, drop half of the rest, move the kept tail down and
 * re-rotate its cached K to the new positions; where that is not exact (Gemma 3's
 * sliding-window rings, a Q8_0 K cache) the kept tail is evaluated again at its new
 * positions, as SHIFT_RECOMPUTE always does (slower: a prefill of the kept tail; the cache
 * is then exactly a fresh session's over the kept tokens). A call during which a shift
 * happened reports VKRT_SESSION_EVENT_SHIFTED. */
typedef enum vkrt_overflow_policy {
    VKRT_OVERFLOW_ERROR = 0,
    VKRT_OVERFLOW_SHIFT = 1,
    VKRT_OVERFLOW_SHIFT_RECOMPUTE = 2,
    VKRT_OVERFLOW_MAX_ENUM = 0x7fffffff /* not a policy: see VKRT_STATUS_MAX_ENUM */
} vkrt_overflow_policy;

typedef struct vkrt_session_params {
    int32_t n_ctx;    /* 0 = min(model's training context, 4096) */
    int32_t n_batch;  /* largest prefill batch recorded at once; 0 = 512 */
    /* Added after n_batch (fields are only ever appended): */
    int32_t type_k;   /* vkrt_cache_type of the K cache */
    int32_t type_v;   /* vkrt_cache_type of the V cache */
    /* Added after type_v: what happens when a call would pass n_ctx (vkrt_overflow_policy;
     * 0, the default, refuses with VKRT_ERROR_LIMIT_EXCEEDED as before), and the tokens a
     * context shift always keeps (the system prompt; BOS included). */
    int32_t overflow;
    int32_t n_keep;
} vkrt_session_params;
VKRT_API vkrt_session_params vkrt_session_default_params(void);
VKRT_API vkrt_status vkrt_session_create(vkrt_model* model, const vkrt_session_params* params, vkrt_session** out);
VKRT_API void vkrt_session_free(vkrt_session* session);
/* 0 for an invalid handle. */
VKRT_API int32_t vkrt_session_n_ctx(const vkrt_session* session);
VKRT_API int32_t vkrt_session_pos(const vkrt_session* session);   /* tokens in the KV cache */
VKRT_API vkrt_status vkrt_session_reset(vkrt_session* session);   /* empty the KV cache */
/* Device bytes of the session's KV cache (K and V of every layer). */
VKRT_API uint64_t vkrt_session_kv_bytes(const vkrt_session* session);

/* Run `n_tokens` tokens at the current position (prefill when n > 1, decode when 1).
 * Afterwards vkrt_get_logits returns the last token's logits. */
VKRT_API vkrt_status vkrt_eval(vkrt_session* session, const int32_t* tokens, int32_t n_tokens);
/* The last token's logits (n_vocab floats), valid until the next eval, reset or free
 * of this session. */
VKRT_API vkrt_status vkrt_get_logits(vkrt_session* session, const float** logits, int32_t* n_vocab);

typedef struct vkrt_sampler_params {
    float temperature;     /* <= 0: greedy */
    int32_t top_k;         /* <= 0: off */
    float top_p;           /* >= 1: off */
    float min_p;           /* <= 0: off */
    float repeat_penalty;  /* 1: off */
    int32_t repeat_last_n;
    uint64_t seed;
} vkrt_sampler_params;
VKRT_API vkrt_sampler_params vkrt_sampler_default_params(void);
/* Sample from the last logits; the session remembers the token for the repetition penalty. */
VKRT_API vkrt_status vkrt_sample(vkrt_session* session, const vkrt_sampler_params* params, int32_t* token);

/* Called with each generated token and its text piece (the token's bytes: a byte token can
 * end inside a multi-byte UTF-8 character); return non-zero to stop (cancel) the generation. */
typedef int (*vkrt_token_callback)(int32_t token, const char* piece, void* user);
/* Tokenize `prompt` (BOS when the session is empty), evaluate it, then sample and evaluate up
 * to n_predict tokens, stopping at an end-of-generation token (not passed to the callback, not
 * evaluated), when the context is full, or when the callback asks. Every token passed to the
 * callback is evaluated, also the one at which it asks to stop (unless the context is full),
 * so a later call continues the text after it. */
VKRT_API vkrt_status vkrt_generate(vkrt_session* session, const char* prompt, const vkrt_sampler_params* params,
                                   int32_t n_predict, vkrt_token_callback callback, void* user);


/* ==== chat: templates, generation with stop strings and finish reasons, logprobs,
 * penalties, logit bias, constrained output (grammar / JSON Schema), GGUF metadata ==== */

/* ---- GGUF metadata by key (any key of the file, e.g. "general.name",
 * "llama.context_length", "tokenizer.ggml.tokens"). A missing key or a value of another
 * type fails with VKRT_ERROR_INVALID_ARGUMENT naming the key and the stored type. */
/* 1 if the model's file has `key`, else 0 (also for an invalid handle or NULL key). */
VKRT_API int vkrt_model_meta_has(const vkrt_model* model, const char* key);
/* A string value, NUL-terminated; *length gets its byte length without the NUL
 * (VKRT_ERROR_LIMIT_EXCEEDED if it did not fit; buf may be NULL with capacity 0). */
VKRT_API vkrt_status vkrt_model_meta_string(const vkrt_model* model, const char* key, char* buf, size_t capacity,
                                            size_t* length);
/* An integer value (any GGUF integer type, or a bool as 0/1). A UINT64 above INT64_MAX
 * is VKRT_ERROR_LIMIT_EXCEEDED. */
VKRT_API vkrt_status vkrt_model_meta_int(const vkrt_model* model, const char* key, int64_t* value);
/* A FLOAT32/FLOAT64 value, or an integer one converted. */
VKRT_API vkrt_status vkrt_model_meta_float(const vkrt_model* model, const char* key, double* value);
/* The number of elements of an ARRAY value. */
VKRT_API vkrt_status vkrt_model_meta_array_length(const vkrt_model* model, const char* key, uint64_t* length);

/* ---- chat templates ---- */
/* role: "system", "user" or "assistant"; role and content are UTF-8 (invalid UTF-8 and
 * other roles are refused with VKRT_ERROR_INVALID_ARGUMENT naming the message). */
typedef struct vkrt_chat_message {
    const char* role;
    const char* content;
} vkrt_chat_message;

/* The family of the model's tokenizer.chat_template: "chatml", "llama2", "llama2-sys",
 * "llama2-sys-bos", "llama2-sys-strip", "llama3", "phi3", "zephyr", "gemma"; "none"
 * when the file has no template, "unknown" when vkrt does not recognise it ("" for an
 * invalid handle). The string is static. */
VKRT_API const char* vkrt_model_chat_template(const vkrt_model* model);

/* Renders `messages` in a chat template, as llama.cpp's llama_chat_apply_template does:
 * `tmpl` NULL = the model's tokenizer.chat_template; otherwise a template's Jinja text or
 * one of the family names above (model may then be NULL). add_generation_prompt = 1
 * appends the opening of an assistant turn. A template vkrt does not recognise, or a
 * model without one and tmpl NULL, is VKRT_ERROR_UNSUPPORTED with a message naming it.
 * Output as vkrt_detokenize: NUL-terminated, *length = full byte length without the NUL,
 * VKRT_ERROR_LIMIT_EXCEEDED if it did not fit (buf may be NULL with capacity 0). */
VKRT_API vkrt_status vkrt_chat_apply_template(const vkrt_model* model, const char* tmpl,
                                              const vkrt_chat_message* messages, size_t n_messages,
                                              int add_generation_prompt, char* buf, size_t capacity,
                                              size_t* length);

/* ---- generation with stop strings, finish reasons, logprobs, penalties, bias, grammar ---- */
typedef enum vkrt_finish_reason {
    VKRT_FINISH_NONE = 0,         /* not finished: the call failed before the end */
    VKRT_FINISH_EOG = 1,          /* an end-of-generation token (or the template's end-of-turn token) */
    VKRT_FINISH_STOP_STRING = 2,  /* one of the stop strings (or the template's) appeared */
    VKRT_FINISH_LENGTH = 3,       /* max_tokens generated */
    VKRT_FINISH_CONTEXT_FULL = 4, /* the KV cache is full (n_ctx) under VKRT_OVERFLOW_ERROR (a shift
                                     policy shifts the context and goes on) */
    VKRT_FINISH_CANCELLED = 5,    /* the callback returned non-zero, or vkrt_session_cancel */
    VKRT_FINISH_MAX_ENUM = 0x7fffffff /* not a reason: see VKRT_STATUS_MAX_ENUM */
} vkrt_finish_reason;
/* "eog", "stop", "length", "context_full", "cancelled", "none" ("?" otherwise). */
VKRT_API const char* vkrt_finish_reason_string(int32_t reason);

typedef struct vkrt_logit_bias {
    int32_t token;
    float bias; /* added to the token's logit; -INFINITY bans it */
} vkrt_logit_bias;

#define VKRT_MAX_STOP_STRINGS 16
#define VKRT_MAX_STOP_BYTES 65535 /* a stop string has 1 .. 65535 bytes */
#define VKRT_MAX_TOP_LOGPROBS 20

typedef struct vkrt_generate_params {
    vkrt_sampler_params sampler;
    int32_t max_tokens;        /* tokens to generate at most; < 0: until another finish reason */
    const char* const* stop;   /* n_stop UTF-8 stop strings; the text ends before the first one */
    int32_t n_stop;            /* 0 .. VKRT_MAX_STOP_STRINGS */
    /* OpenAI's penalties over the tokens generated in this call: a token's logit loses
     * presence_penalty once it has appeared and frequency_penalty per appearance. */
    float presence_penalty;
    float frequency_penalty;
    const vkrt_logit_bias* logit_bias; /* n_logit_bias entries, applied before sampling */
    int32_t n_logit_bias;
    int32_t logprobs;          /* 1: report the chosen token's log-probability */
    int32_t top_logprobs;      /* 0 .. VKRT_MAX_TOP_LOGPROBS alternatives (needs logprobs) */
    /* Constrained output: at most one of them. A GBNF grammar (llama.cpp's format, start
     * rule "root") or a JSON Schema (object, array, string, number, integer, boolean, null,
     * enum, const, anyOf, required properties) compiled to one. Tokens the grammar does not
     * allow are masked; generation ends (VKRT_FINISH_EOG) when the grammar is complete. */
    const char* grammar;
    const char* json_schema;
    /* vkrt_chat_generate only: the template (as vkrt_chat_apply_template's tmpl; NULL =
     * the model's). */
    const char* chat_template;
} vkrt_generate_params;
/* Sampler defaults, max_tokens -1, no stop strings, penalties, bias, logprobs or grammar. */
VKRT_API vkrt_generate_params vkrt_generate_default_params(void);

/* One step of a streamed generation. `text` is the new text released by this step,
 * NUL-terminated (text_length bytes): text that could still be the start of a stop
 * string is held back until it is resolved, so the concatenated texts are exactly the
 * reply and never contain a stop string. A byte token can end inside a multi-byte UTF-8
 * character. The last call of a generation may have token = -1: no token, only the text
 * held back at the end. Logprobs are the model's (log-softmax of the raw logits). All
 * pointers are valid during the callback only. */
typedef struct vkrt_token_info {
    int32_t token;
    const char* text;
    size_t text_length;
    float logprob;              /* 0 unless params.logprobs */
    int32_t n_top;              /* params.top_logprobs entries (fewer for a tiny vocabulary) */
    const int32_t* top_tokens;  /* most likely first */
    const float* top_logprobs;
} vkrt_token_info;
/* Return non-zero to stop (VKRT_FINISH_CANCELLED). */
typedef int (*vkrt_stream_callback)(const vkrt_token_info* info, void* user);

typedef struct vkrt_generate_result {
    int32_t finish_reason;   /* vkrt_finish_reason */
    int32_t n_prompt;        /* prompt tokens of this call (cached ones included) */
    int32_t n_cached;        /* of those, reused from the KV cache (vkrt_chat_generate) */
    int32_t n_generated;     /* tokens sampled (the stop token included) */
} vkrt_generate_result;

/* Like vkrt_generate with params: tokenize `prompt` (BOS when the session is empty),
 * evaluate it, then generate. Every token passed to the callback is evaluated (unless the
 * context is full), so a later call continues after it. params NULL = defaults; callback
 * and result may be NULL. */
VKRT_API vkrt_status vkrt_generate_text(vkrt_session* session, const char* prompt,
                                        const vkrt_generate_params* params, vkrt_stream_callback callback,
                                        void* user, vkrt_generate_result* result);
/* One assistant turn: renders the whole conversation with the generation prompt, keeps the
 * cached tokens that match its start (rewinding the cache, its token history and the
 * sampler's repetition window to them, as vkrt_session_truncate) and evaluates only the rest
 * (result.n_cached; a Gemma 3 ring that no longer holds that prefix's window evaluates it
 * all), then generates until the template's end-of-turn, an end-of-generation token, a stop
 * string, max_tokens, a full context (VKRT_OVERFLOW_ERROR only) or a cancel (the callback,
 * or vkrt_session_cancel from any thread: between prompt batches or before the next token;
 * the session keeps what was evaluated). Under a shift policy a full context is shifted and
 * the turn goes on; a later turn's conversation drops what the shifts dropped (keeping the
 * cache its prefix), and one that no longer fits n_ctx loses half of what follows n_keep
 * until it does (VKRT_SESSION_EVENT_SHIFTED). Pass the reply back as an "assistant" message
 * in the next call. */
VKRT_API vkrt_status vkrt_chat_generate(vkrt_session* session, const vkrt_chat_message* messages,
                                        size_t n_messages, const vkrt_generate_params* params,
                                        vkrt_stream_callback callback, void* user,
                                        vkrt_generate_result* result);

/* Checks a GBNF grammar or a JSON Schema without generating: VKRT_ERROR_INVALID_ARGUMENT
 * with "line L, column C: ..." for text that cannot be parsed, or naming the rule for left
 * recursion, an undefined rule or a language with no string. Either argument may be NULL. */
VKRT_API vkrt_status vkrt_grammar_check(const char* grammar, const char* json_schema);
/* The GBNF grammar a JSON Schema compiles to, as vkrt_detokenize returns text. */
VKRT_API vkrt_status vkrt_json_schema_to_grammar(const char* json_schema, char* buf, size_t capacity,
                                                 size_t* length);
/* ==== end of chat ==== */
/* ---- session state: rewind, prefix reuse, cancellation, saved sessions ----
 * A session keeps the ids of the tokens in its KV cache (positions [0, pos)). */

/* Keeps the first n positions (0 <= n <= pos) and drops the rest, with the sampler's
 * repetition window. Sliding-window layers (Gemma 3) whose ring no longer holds the window
 * of position n are rebuilt by evaluating the kept tokens again. The last token's logits
 * are not kept: evaluate a token (or use vkrt_session_eval_prompt) before sampling. */
VKRT_API vkrt_status vkrt_session_truncate(vkrt_session* session, int32_t n);
/* The ids of positions [0, pos): at most `capacity` are written; *n_tokens gets pos
 * (VKRT_ERROR_LIMIT_EXCEEDED if they did not fit). */
VKRT_API vkrt_status vkrt_session_tokens(vkrt_session* session, int32_t* tokens, int32_t capacity, int32_t* n_tokens);
/* Prefix reuse: makes the session hold exactly `tokens` (the whole prompt of a turn, from
 * position 0) evaluating only what follows the longest common prefix with the cached
 * tokens; the last prompt token is always evaluated, so vkrt_get_logits/vkrt_sample follow.
 * *n_reused (may be NULL) gets the number of cached tokens kept. */
VKRT_API vkrt_status vkrt_session_eval_prompt(vkrt_session* session, const int32_t* tokens, int32_t n_tokens,
                                              int32_t* n_reused);

/* Cancels the call running on this session (vkrt_eval, vkrt_generate, a restore, ...), from
 * any thread, without waiting: it is checked between prefill batches (n_batch tokens) and
 * before every generated token (a token already passed to the callback is still evaluated).
 * vkrt_eval then fails with VKRT_ERROR_CANCELLED; vkrt_generate returns VKRT_OK with
 * VKRT_SESSION_EVENT_CANCELLED set. The session stays usable and holds exactly the tokens
 * evaluated. A request is forgotten when the next call on the session starts. */
VKRT_API vkrt_status vkrt_session_cancel(vkrt_session* session);

/* What happened during the last eval/generate/eval_prompt on this session (reset when one
 * starts; readable from any thread while it runs), for a finish reason:
 *   CANCELLED     vkrt_session_cancel was called while it ran (and stopped it, unless it
 *                 ended first)
 *   CONTEXT_FULL  it stopped because the context was full (overflow policy ERROR)
 *   SHIFTED       the context was shifted (overflow policy SHIFT) */
enum {
    VKRT_SESSION_EVENT_CANCELLED = 1,
    VKRT_SESSION_EVENT_CONTEXT_FULL = 2,
    VKRT_SESSION_EVENT_SHIFTED = 4
};
VKRT_API uint32_t vkrt_session_events(const vkrt_session* session);

/* Saved sessions. The state holds the KV rows of positions [0, pos) of every layer in their
 * cache types, the token history, the sampler (parameters, random state, repetition
 * window), the last logits, under a header with a format version, the model's identity (a
 * hash of its metadata and tensor data), the cache types and n_ctx, and a checksum.
 * Restoring refuses (session unchanged) a state of another model (VKRT_ERROR_INVALID_ARGUMENT),
 * other cache types, a larger n_ctx than this session's, and truncated or corrupt data
 * (VKRT_ERROR_BAD_FORMAT), with a message naming the mismatch. */
VKRT_API vkrt_status vkrt_session_state_size(vkrt_session* session, size_t* size);
/* Writes the state into buf (capacity bytes); *size gets its size (VKRT_ERROR_LIMIT_EXCEEDED
 * if it did not fit). */
VKRT_API vkrt_status vkrt_session_state_get(vkrt_session* session, void* buf, size_t capacity, size_t* size);
VKRT_API vkrt_status vkrt_session_state_set(vkrt_session* session, const void* buf, size_t size);
/* The state to a file, written safely (a temporary file renamed over the target), and back. */
VKRT_API vkrt_status vkrt_session_save(vkrt_session* session, const char* path);
VKRT_API vkrt_status vkrt_session_load(vkrt_session* session, const char* path);

#ifdef __cplusplus
}
#endif
#endif /* VKRT_H */
