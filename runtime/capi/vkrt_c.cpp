// The C API (include/vkrt/vkrt.h) over the C++ core. Every entry point catches
// everything: vkrt::Error keeps its status, std::bad_alloc is out_of_memory,
// anything else is internal. The message is kept per thread.
//
// Lifetimes: every handle is a reference-counted object. A session holds its
// model, a model its context, so the user may free handles in any order (a
// garbage collector does): what a handle needs stays alive until its last user
// is gone. Handles are also registered in a process-wide table; every call
// looks its handle up there before touching it, so a freed, foreign or
// wrong-kind pointer is refused with VKRT_ERROR_INVALID_ARGUMENT instead of
// being dereferenced (the lookup never reads the pointed-to memory). The call
// holds its own reference for its duration, so a handle freed by another
// thread mid-call stays valid until the call returns.
//
// Threads: contexts and models are shared freely (the device layer
// synchronizes its command pools, queue and pipeline cache); a session is used
// by one thread at a time, and a second thread entering a busy session gets an
// error instead of a data race.
#include "vkrt/vkrt.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <utility>

#include "core/error.hpp"
#include "model/model.hpp"
#include "io/safe_write.hpp"
#include "model/session_state.hpp"
#include "text/sampler.hpp"
#include "capi/chat.hpp"
#include "text/chat_template.hpp"
#include "text/generate.hpp"
#include "text/grammar.hpp"
#include "text/json_schema.hpp"
#include "text/tokenizer.hpp"
#include "text/unicode.hpp"

namespace {

enum class Kind { context, model, session };
const char* kind_name(Kind k) {
    switch (k) {
        case Kind::context: return "vkrt_context";
        case Kind::model: return "vkrt_model";
        case Kind::session: return "vkrt_session";
    }
    return "handle";
}

// Base of every handle; `kind` tells a context from a model from a session.
struct Object {
    explicit Object(Kind k) : kind(k) {}
    virtual ~Object() = default;
    const Kind kind;
};

}  // namespace

struct vkrt_context : Object {
    vkrt_context() : Object(Kind::context) {}
    std::unique_ptr<vkrt::Device> dev;
    std::string description;
};
struct vkrt_model : Object {
    vkrt_model() : Object(Kind::model) {}
    std::shared_ptr<vkrt_context> ctx;  // keeps the device alive while the model lives
    std::unique_ptr<vkrt::model::Model> model;  // declared after ctx: destroyed before it
    std::shared_ptr<vkrt::capi::ChatModelData> chat;  // metadata, vocabulary trie (capi/chat.cpp)
};
struct vkrt_session : Object {
    vkrt_session() : Object(Kind::session) {}
    std::shared_ptr<vkrt_model> model;  // keeps the model (and its device) alive
    std::unique_ptr<vkrt::model::Session> session;  // declared after model: destroyed before it
    std::vector<int32_t> history;  // for the repetition penalty
    std::unique_ptr<vkrt::Sampler> sampler;
    vkrt_sampler_params sampler_params{};
    // Held for the duration of every call that uses the session: a second thread
    // is refused (recursive: a token callback may query its own session).
    std::recursive_mutex busy;
    // Session state (vkrt_session_events): what happened during the last call; written by
    // the calling thread, read by any.
    std::atomic<uint32_t> events{0};
};

namespace {

thread_local std::string g_last_error;

// Live handles: pointer -> owning reference. Never destroyed (a static that
// outlives every handle, also those an application leaks until exit).
class Registry {
public:
    template <typename T>
    T* add(std::shared_ptr<T> obj) {
        T* raw = obj.get();
        std::lock_guard<std::mutex> lock(mu_);
        live_.emplace(static_cast<const void*>(raw), std::move(obj));
        return raw;
    }
    // A reference to the live handle `h` of kind `k`; throws invalid_argument naming
    // `what` for NULL, freed, foreign or wrong-kind handles.
    template <typename T>
    std::shared_ptr<T> get(const T* h, Kind k, const char* what) {
        VKRT_CHECK(h != nullptr, vkrt::Status::invalid_argument, what, ": ", kind_name(k), " is NULL");
        std::shared_ptr<Object> o;
        {
            std::lock_guard<std::mutex> lock(mu_);
            auto it = live_.find(static_cast<const void*>(h));
            if (it != live_.end()) o = it->second;
        }
        VKRT_CHECK(o != nullptr, vkrt::Status::invalid_argument, what, ": ", kind_name(k), " ",
                   static_cast<const void*>(h), " is not a live handle (already freed, or not created by vkrt)");
        VKRT_CHECK(o->kind == k, vkrt::Status::invalid_argument, what, ": ", static_cast<const void*>(h),
                   " is a ", kind_name(o->kind), ", not a ", kind_name(k));
        return std::static_pointer_cast<T>(o);
    }
    // Drops the table's reference; the object dies here unless a dependent handle or a
    // running call still holds it. Returns false when `h` was not live (double free).
    bool remove(const void* h, Kind k) {
        std::shared_ptr<Object> o;  // released after the lock: destructors may take a while
        {
            std::lock_guard<std::mutex> lock(mu_);
            auto it = live_.find(h);
            if (it == live_.end() || it->second->kind != k) return false;
            o = std::move(it->second);
            live_.erase(it);
        }
        return true;
    }

private:
    std::mutex mu_;
    std::unordered_map<const void*, std::shared_ptr<Object>> live_;
};

Registry& registry() {
    static Registry* r = new Registry;  // intentionally never destroyed
    return *r;
}

template <typename T>
std::shared_ptr<T> lookup(const T* h, const char* what);
template <>
std::shared_ptr<vkrt_context> lookup(const vkrt_context* h, const char* what) {
    return registry().get(h, Kind::context, what);
}
template <>
std::shared_ptr<vkrt_model> lookup(const vkrt_model* h, const char* what) {
    return registry().get(h, Kind::model, what);
}
template <>
std::shared_ptr<vkrt_session> lookup(const vkrt_session* h, const char* what) {
    return registry().get(h, Kind::session, what);
}

vkrt_status record(const vkrt::Error& e) {
    g_last_error = e.what();
    return static_cast<vkrt_status>(e.status());
}

template <typename F>
vkrt_status guard(F&& f) {
    try {
        g_last_error.clear();
        f();
        return VKRT_OK;
    } catch (const vkrt::Error& e) {
        return record(e);
    } catch (const std::bad_alloc&) {
        g_last_error = "out of host memory";
        return VKRT_ERROR_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
        g_last_error = std::string("internal error: ") + e.what();
        return VKRT_ERROR_INTERNAL;
    } catch (...) {
        g_last_error = "internal error: unknown exception";
        return VKRT_ERROR_INTERNAL;
    }
}

// For the calls that return a value instead of a status: `fallback` on any
// failure (the message is in vkrt_last_error).
template <typename R, typename F>
R guard_value(R fallback, F&& f) {
    R r = fallback;
    guard([&] { r = f(); });
    return r;
}

// The session of `h`, locked against use by a second thread for the lifetime of this object.
struct SessionUse {
    std::shared_ptr<vkrt_session> s;
    std::unique_lock<std::recursive_mutex> lock;
    SessionUse(const vkrt_session* h, const char* what) : s(lookup(h, what)), lock(s->busy, std::try_to_lock) {
        VKRT_CHECK(lock.owns_lock(), vkrt::Status::invalid_argument, what,
                   ": the session is in use by another thread (a session serves one thread at a time)");
    }
    vkrt_session* operator->() const { return s.get(); }
};

// Frees handle `h` of kind `k`; a handle that is not live is left alone and named in
// vkrt_last_error (a double free must not corrupt the heap).
void free_handle(const void* h, Kind k, const char* what) {
    if (!h) return;
    if (!registry().remove(h, k))
        g_last_error = vkrt::detail::concat(what, ": ", h, " is not a live ", kind_name(k),
                                            " (already freed, or not created by vkrt); ignored");
}

#define VKRT_REQUIRE_ARG(p) VKRT_CHECK((p) != nullptr, vkrt::Status::invalid_argument, #p " is NULL")

vkrt::ops::KvType to_kv_type(int32_t t, const char* field) {
    switch (t) {
        case VKRT_CACHE_DEFAULT: return vkrt::KvCacheTypes{}.k;
        case VKRT_CACHE_F32: return vkrt::ops::KvType::f32;
        case VKRT_CACHE_F16: return vkrt::ops::KvType::f16;
        case VKRT_CACHE_Q8_0: return vkrt::ops::KvType::q8_0;
        default: break;
    }
    vkrt::fail(vkrt::Status::invalid_argument, "vkrt_session_params.", field, " = ", t,
               " is not a vkrt_cache_type (0 default, 1 F32, 2 F16, 3 Q8_0)");
}

vkrt::SamplerParams to_cpp(const vkrt_sampler_params& p) {
    vkrt::SamplerParams s;
    s.temperature = p.temperature;
    s.top_k = p.top_k;
    s.top_p = p.top_p;
    s.min_p = p.min_p;
    s.repeat_penalty = p.repeat_penalty;
    s.repeat_last_n = p.repeat_last_n;
    s.seed = p.seed;
    return s;
}

bool same(const vkrt_sampler_params& a, const vkrt_sampler_params& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// The session's sampler for params `p` (recreated, with the history replayed, when they change).
vkrt::Sampler& session_sampler(vkrt_session* s, const vkrt_sampler_params& p) {
    if (!s->sampler || !same(p, s->sampler_params)) {
        s->sampler = std::make_unique<vkrt::Sampler>(to_cpp(p));
        s->sampler_params = p;
        for (int32_t t : s->history) s->sampler->accept(t);
    }
    return *s->sampler;
}

// Empties the KV cache, the token history and the sampler's window.
void session_clear(vkrt_session* s) {
    s->session->reset();
    s->history.clear();
    if (s->sampler) s->sampler->reset();
}

int32_t sample_one(vkrt_session* s, const vkrt_sampler_params& p) {
    vkrt::Sampler& sampler = session_sampler(s, p);
    VKRT_CHECK(s->session->pos() > 0, vkrt::Status::invalid_argument, "sample: nothing evaluated yet");
    VKRT_CHECK(!s->session->logits().empty(), vkrt::Status::invalid_argument,
               "sample: no logits since vkrt_session_truncate (evaluate a token first)");
    return sampler.sample(s->session->logits());
}

// ---- session state helpers (rewind, cancellation, saved sessions)

// One call of the session-state family, eval or generate: clears the events and a cancel
// request left from before; on the way out records a context shift as an event.
struct SessionCall {
    vkrt_session* s;
    uint32_t shifts;
    explicit SessionCall(vkrt_session* s_) : s(s_), shifts(s_->session->shifts()) {
        s->events.store(0);
        s->session->clear_cancel();
    }
    ~SessionCall() {
        if (s->session->shifts() != shifts) s->events.fetch_or(VKRT_SESSION_EVENT_SHIFTED);
        // A request that arrived during the call, also one that ended it some other way
        // (the Java binding's token sink stops the generation on its own flag first).
        if (s->session->cancel_requested()) cancelled();
    }
    void cancelled() { s->events.fetch_or(VKRT_SESSION_EVENT_CANCELLED); }
};

// The history and the sampler's repetition window take what the session holds (after a
// rewind, a cancelled eval, a restore).
void sync_history(vkrt_session* s) {
    s->history = s->session->tokens();
    if (s->sampler) s->sampler->set_history(s->history);
}

bool is_cancel(const vkrt::Error& e) { return e.status() == vkrt::Status::cancelled; }

// The C API's part of a saved state (model::Session::save_state's `extra`): whether there
// is a sampler, its vkrt_sampler_params, and its state text (Sampler::save_state).
std::vector<uint8_t> sampler_section(const vkrt_session* s) {
    const uint32_t has = s->sampler ? 1 : 0;
    const std::string text = s->sampler ? s->sampler->save_state() : std::string();
    std::vector<uint8_t> out(4 + sizeof(vkrt_sampler_params) + text.size());
    std::memcpy(out.data(), &has, 4);
    std::memcpy(out.data() + 4, &s->sampler_params, sizeof(vkrt_sampler_params));
    std::memcpy(out.data() + 4 + sizeof(vkrt_sampler_params), text.data(), text.size());
    return out;
}

// The sampler a saved state holds (nullptr: none), checked whole before anything changes.
std::unique_ptr<vkrt::Sampler> read_sampler_section(std::span<const uint8_t> x, vkrt_sampler_params& params) {
    VKRT_CHECK(x.size() >= 4 + sizeof params, vkrt::Status::bad_format, "session state: sampler section of ",
               x.size(), " bytes");
    uint32_t has = 0;
    std::memcpy(&has, x.data(), 4);
    std::memcpy(&params, x.data() + 4, sizeof params);
    const std::string text(reinterpret_cast<const char*>(x.data()) + 4 + sizeof params, x.size() - 4 - sizeof params);
    VKRT_CHECK(has <= 1 && (has || text.empty()), vkrt::Status::bad_format, "session state: bad sampler flag");
    if (!has) return nullptr;
    std::unique_ptr<vkrt::Sampler> sampler;
    try {
        sampler = std::make_unique<vkrt::Sampler>(to_cpp(params));
    } catch (const vkrt::Error& e) {
        vkrt::fail(vkrt::Status::bad_format, "session state: ", e.what());
    }
    sampler->load_state(text);
    return sampler;
}

std::vector<uint8_t> session_state(vkrt_session* s) {
    return s->session->save_state(sampler_section(s));
}

// Restores `blob`; every check (the model's part and the sampler's) passes before the
// session changes.
void set_session_state(vkrt_session* s, std::span<const uint8_t> blob) {
    vkrt_sampler_params params{};
    std::unique_ptr<vkrt::Sampler> sampler =
        read_sampler_section(vkrt::model::parse_state(blob).extra, params);
    s->session->load_state(blob);
    s->sampler = std::move(sampler);
    s->sampler_params = params;
    s->history = s->session->tokens();
}

}  // namespace

extern "C" {

const char* vkrt_last_error(void) { return g_last_error.c_str(); }

const char* vkrt_status_string(vkrt_status s) { return vkrt::status_name(static_cast<vkrt::Status>(s)); }

// ---------------------------------------------------------------- context

vkrt_context_params vkrt_context_default_params(void) {
    vkrt_context_params p{};
    return p;
}

vkrt_status vkrt_context_create(const vkrt_context_params* params, vkrt_context** out) {
    return guard([&] {
        VKRT_REQUIRE_ARG(out);
        *out = nullptr;
        vkrt::DeviceOptions o = vkrt::DeviceOptions::from_env();
        if (params) {
            if (params->device) o.select = params->device;
            o.validation |= params->validation != 0;
            o.disable_int_dot |= params->disable_int_dot != 0;
            o.disable_fp16 |= params->disable_fp16 != 0;
            o.disable_subgroup |= params->disable_subgroup != 0;
            if (params->pipeline_cache_dir) o.pipeline_cache_dir = params->pipeline_cache_dir;
        }
        auto ctx = std::make_shared<vkrt_context>();
        ctx->dev = std::make_unique<vkrt::Device>(o);
        ctx->description = ctx->dev->caps().report();
        *out = registry().add(std::move(ctx));
    });
}

void vkrt_context_free(vkrt_context* ctx) { free_handle(ctx, Kind::context, "vkrt_context_free"); }

const char* vkrt_context_describe(const vkrt_context* ctx) {
    // The string lives in the context object, which outlives this handle while models use it.
    return guard_value<const char*>("", [&] { return lookup(ctx, "vkrt_context_describe")->description.c_str(); });
}

uint64_t vkrt_context_validation_messages(const vkrt_context* ctx) {
    return guard_value<uint64_t>(0, [&] {
        return lookup(ctx, "vkrt_context_validation_messages")->dev->validation_messages();
    });
}

// ---------------------------------------------------------------- model

vkrt_model_params vkrt_model_default_params(void) {
    vkrt_model_params p{};
    return p;
}

vkrt_status vkrt_model_load(vkrt_context* ctx, const char* path, const vkrt_model_params* params, vkrt_model** out) {
    return guard([&] {
        VKRT_REQUIRE_ARG(out);
        *out = nullptr;
        auto c = lookup(ctx, "vkrt_model_load");
        VKRT_REQUIRE_ARG(path);
        vkrt::model::Model::Progress progress;
        if (params && (params->progress || params->progress_cancel)) {
            auto cb = params->progress;
            auto stop = params->progress_cancel;
            void* user = params->progress_user;
            // A cancel unwinds the loader: the weights loaded so far are members of the model
            // under construction and are freed with it.
            progress = [cb, stop, user](float f) {
                if (cb) cb(f, user);
                VKRT_CHECK(!stop || stop(f, user) == 0, vkrt::Status::cancelled, "model load cancelled by the "
                           "progress callback at ", int(f * 100.0f), "%");
            };
        }
        auto m = std::make_shared<vkrt_model>();
        m->ctx = c;
        m->model = std::make_unique<vkrt::model::Model>(*c->dev, path, progress);
        m->chat = vkrt::capi::chat_model_data(path);
        *out = registry().add(std::move(m));
    });
}

void vkrt_model_free(vkrt_model* model) { free_handle(model, Kind::model, "vkrt_model_free"); }

int32_t vkrt_model_n_vocab(const vkrt_model* m) {
    return guard_value<int32_t>(0, [&] { return int32_t(lookup(m, "vkrt_model_n_vocab")->model->hparams().n_vocab); });
}
int32_t vkrt_model_n_ctx_train(const vkrt_model* m) {
    return guard_value<int32_t>(
        0, [&] { return int32_t(lookup(m, "vkrt_model_n_ctx_train")->model->hparams().n_ctx_train); });
}
int32_t vkrt_model_bos(const vkrt_model* m) {
    return guard_value<int32_t>(-1, [&] { return lookup(m, "vkrt_model_bos")->model->tokenizer().bos(); });
}
int32_t vkrt_model_eos(const vkrt_model* m) {
    return guard_value<int32_t>(-1, [&] { return lookup(m, "vkrt_model_eos")->model->tokenizer().eos(); });
}
int vkrt_model_is_eog(const vkrt_model* m, int32_t t) {
    return guard_value<int>(0, [&] { return lookup(m, "vkrt_model_is_eog")->model->tokenizer().is_eog(t) ? 1 : 0; });
}

vkrt_status vkrt_tokenize(const vkrt_model* model, const char* text, int add_bos, int parse_special, int32_t* tokens,
                          int32_t capacity, int32_t* n_tokens) {
    return guard([&] {
        auto m = lookup(model, "vkrt_tokenize");
        VKRT_REQUIRE_ARG(text);
        VKRT_REQUIRE_ARG(n_tokens);
        VKRT_CHECK(capacity >= 0 && (capacity == 0 || tokens), vkrt::Status::invalid_argument,
                   "tokens is NULL or capacity < 0");
        auto ids = m->model->tokenizer().encode(text, add_bos != 0, parse_special != 0);
        VKRT_CHECK(ids.size() <= size_t(INT32_MAX), vkrt::Status::limit_exceeded, "tokenize: ", ids.size(),
                   " tokens do not fit in an int32_t count");
        *n_tokens = int32_t(ids.size());
        VKRT_CHECK(ids.size() <= size_t(capacity), vkrt::Status::limit_exceeded, "tokenize: ", ids.size(),
                   " tokens do not fit in a buffer of ", capacity);
        std::copy(ids.begin(), ids.end(), tokens);
    });
}

vkrt_status vkrt_detokenize(const vkrt_model* model, const int32_t* tokens, int32_t n, char* buf, size_t capacity,
                            size_t* length) {
    return guard([&] {
        auto m = lookup(model, "vkrt_detokenize");
        VKRT_REQUIRE_ARG(length);
        VKRT_CHECK(n >= 0 && (n == 0 || tokens), vkrt::Status::invalid_argument, "tokens is NULL or n < 0");
        const int32_t V = int32_t(m->model->hparams().n_vocab);
        for (int32_t i = 0; i < n; ++i)
            VKRT_CHECK(tokens[i] >= 0 && tokens[i] < V, vkrt::Status::invalid_argument, "detokenize: token id ",
                       tokens[i], " is outside the vocabulary (", V, ")");
        std::string s = m->model->tokenizer().decode(std::span<const int32_t>(tokens, size_t(n)));
        *length = s.size();
        VKRT_CHECK(buf && s.size() + 1 <= capacity, vkrt::Status::limit_exceeded, "detokenize: ", s.size() + 1,
                   " bytes do not fit in a buffer of ", capacity);
        std::memcpy(buf, s.c_str(), s.size() + 1);
    });
}

// ---------------------------------------------------------------- session

vkrt_session_params vkrt_session_default_params(void) {
    vkrt_session_params p{};
    return p;
}

vkrt_status vkrt_session_create(vkrt_model* model, const vkrt_session_params* params, vkrt_session** out) {
    return guard([&] {
        VKRT_REQUIRE_ARG(out);
        *out = nullptr;
        auto m = lookup(model, "vkrt_session_create");
        int32_t n_ctx = params ? params->n_ctx : 0, n_batch = params ? params->n_batch : 0;
        VKRT_CHECK(n_ctx >= 0 && n_batch >= 0, vkrt::Status::invalid_argument, "n_ctx and n_batch must be >= 0");
        vkrt::KvCacheTypes kv;
        if (params) {
            kv.k = to_kv_type(params->type_k, "type_k");
            kv.v = to_kv_type(params->type_v, "type_v");
        }
        auto s = std::make_shared<vkrt_session>();
        s->model = m;
        s->session = std::make_unique<vkrt::model::Session>(*m->model, uint32_t(n_ctx), uint32_t(n_batch), kv);
        if (params) {
            VKRT_CHECK(params->overflow >= VKRT_OVERFLOW_ERROR && params->overflow <= VKRT_OVERFLOW_SHIFT_RECOMPUTE,
                       vkrt::Status::invalid_argument, "vkrt_session_params.overflow = ", params->overflow,
                       " is not a vkrt_overflow_policy (0 error, 1 shift, 2 shift_recompute)");
            VKRT_CHECK(params->n_keep >= 0, vkrt::Status::invalid_argument, "vkrt_session_params.n_keep = ",
                       params->n_keep, " must be >= 0");
            s->session->set_overflow(vkrt::model::Session::Overflow(params->overflow), uint32_t(params->n_keep));
        }
        *out = registry().add(std::move(s));
    });
}

void vkrt_session_free(vkrt_session* s) { free_handle(s, Kind::session, "vkrt_session_free"); }
uint64_t vkrt_session_kv_bytes(const vkrt_session* s) {
    return guard_value<uint64_t>(0, [&] { return SessionUse(s, "vkrt_session_kv_bytes")->session->memory().kv; });
}

int32_t vkrt_session_n_ctx(const vkrt_session* s) {
    return guard_value<int32_t>(0, [&] { return int32_t(lookup(s, "vkrt_session_n_ctx")->session->n_ctx()); });
}
int32_t vkrt_session_pos(const vkrt_session* s) {
    return guard_value<int32_t>(0, [&] { return int32_t(lookup(s, "vkrt_session_pos")->session->pos()); });
}

vkrt_status vkrt_session_reset(vkrt_session* h) {
    return guard([&] {
        SessionUse s(h, "vkrt_session_reset");
        session_clear(s.s.get());
    });
}

vkrt_status vkrt_eval(vkrt_session* h, const int32_t* tokens, int32_t n) {
    return guard([&] {
        SessionUse s(h, "vkrt_eval");
        VKRT_REQUIRE_ARG(tokens);
        VKRT_CHECK(n > 0, vkrt::Status::invalid_argument, "eval: n_tokens must be > 0");
        SessionCall call(s.s.get());
        try {
            s->session->eval(std::span<const int32_t>(tokens, size_t(n)));
        } catch (const vkrt::Error& e) {
            if (is_cancel(e)) call.cancelled();
            sync_history(s.s.get());  // a cancelled or shifted eval kept part of the tokens
            throw;
        }
        s->history.insert(s->history.end(), tokens, tokens + n);
        if (s->sampler)
            for (int32_t i = 0; i < n; ++i) s->sampler->accept(tokens[i]);
        if (s->session->shifts() != call.shifts) sync_history(s.s.get());  // the shift dropped tokens
    });
}

vkrt_status vkrt_get_logits(vkrt_session* h, const float** logits, int32_t* n_vocab) {
    return guard([&] {
        SessionUse s(h, "vkrt_get_logits");
        VKRT_REQUIRE_ARG(logits);
        VKRT_CHECK(s->session->pos() > 0, vkrt::Status::invalid_argument, "get_logits: nothing evaluated yet");
        VKRT_CHECK(!s->session->logits().empty(), vkrt::Status::invalid_argument,
                   "get_logits: none since vkrt_session_truncate (evaluate a token first)");
        *logits = s->session->logits().data();
        if (n_vocab) *n_vocab = int32_t(s->model->model->hparams().n_vocab);
    });
}

vkrt_sampler_params vkrt_sampler_default_params(void) {
    vkrt::SamplerParams d;
    vkrt_sampler_params p{};
    p.temperature = d.temperature;
    p.top_k = d.top_k;
    p.top_p = d.top_p;
    p.min_p = d.min_p;
    p.repeat_penalty = d.repeat_penalty;
    p.repeat_last_n = d.repeat_last_n;
    p.seed = d.seed;
    return p;
}

vkrt_status vkrt_sample(vkrt_session* h, const vkrt_sampler_params* params, int32_t* token) {
    return guard([&] {
        SessionUse s(h, "vkrt_sample");
        VKRT_REQUIRE_ARG(token);
        *token = sample_one(s.s.get(), params ? *params : vkrt_sampler_default_params());
    });
}

vkrt_status vkrt_generate(vkrt_session* h, const char* prompt, const vkrt_sampler_params* params, int32_t n_predict,
                          vkrt_token_callback callback, void* user) {
    return guard([&] {
        SessionUse use(h, "vkrt_generate");
        vkrt_session* s = use.s.get();
        VKRT_REQUIRE_ARG(prompt);
        SessionCall call(s);
        try {
            const vkrt::Tokenizer& tok = s->model->model->tokenizer();
            const vkrt_sampler_params p = params ? *params : vkrt_sampler_default_params();
            bool add_bos = s->session->pos() == 0;
            auto ids = tok.encode(prompt, add_bos, true);
            if (!ids.empty()) {
                s->session->eval(ids);
                s->history.insert(s->history.end(), ids.begin(), ids.end());
                if (s->sampler)
                    for (int32_t t : ids) s->sampler->accept(t);
            }
            VKRT_CHECK(s->session->pos() > 0, vkrt::Status::invalid_argument, "generate: empty prompt and empty session");
            for (int32_t i = 0; i < n_predict; ++i) {
                if (s->session->cancel_requested()) vkrt::fail(vkrt::Status::cancelled, "generate cancelled");
                int32_t t = sample_one(s, p);
                s->sampler->accept(t);
                if (tok.is_eog(t)) break;
                std::string piece = tok.token_to_piece(t);
                const bool stop = callback && callback(t, piece.c_str(), user) != 0;
                if (s->session->pos() >= s->session->n_ctx() &&
                    s->session->overflow() == vkrt::model::Session::Overflow::error) {
                    s->events.fetch_or(VKRT_SESSION_EVENT_CONTEXT_FULL);
                    break;
                }
                // Evaluated even when the callback stops: the session then holds every token the
                // callback has seen, and a later generate continues after it (not with it again).
                s->session->eval(std::span<const int32_t>(&t, 1));
                s->history.push_back(t);
                if (stop) break;
            }
        } catch (const vkrt::Error& e) {
            // Cancellation ends the generation, not as a failure: the session holds what it evaluated.
            if (!is_cancel(e)) throw;
            call.cancelled();
            sync_history(s);
        }
        if (s->session->shifts() != call.shifts) sync_history(s);
    });
}

// ---------------------------------------------------------------- session state

vkrt_status vkrt_session_truncate(vkrt_session* h, int32_t n) {
    return guard([&] {
        SessionUse s(h, "vkrt_session_truncate");
        VKRT_CHECK(n >= 0 && uint32_t(n) <= s->session->pos(), vkrt::Status::invalid_argument,
                   "vkrt_session_truncate: n = ", n, " is outside [0, pos = ", s->session->pos(), "]");
        SessionCall call(s.s.get());
        try {
            s->session->truncate(uint32_t(n));
        } catch (const vkrt::Error& e) {
            if (is_cancel(e)) call.cancelled();
            sync_history(s.s.get());
            throw;
        }
        sync_history(s.s.get());
    });
}

vkrt_status vkrt_session_tokens(vkrt_session* h, int32_t* tokens, int32_t capacity, int32_t* n_tokens) {
    return guard([&] {
        SessionUse s(h, "vkrt_session_tokens");
        VKRT_REQUIRE_ARG(n_tokens);
        VKRT_CHECK(capacity >= 0 && (capacity == 0 || tokens), vkrt::Status::invalid_argument,
                   "vkrt_session_tokens: tokens is NULL or capacity < 0");
        const std::vector<int32_t>& t = s->session->tokens();
        *n_tokens = int32_t(t.size());
        VKRT_CHECK(t.size() <= size_t(capacity), vkrt::Status::limit_exceeded, "vkrt_session_tokens: ", t.size(),
                   " tokens do not fit in a buffer of ", capacity);
        std::copy(t.begin(), t.end(), tokens);
    });
}

vkrt_status vkrt_session_eval_prompt(vkrt_session* h, const int32_t* tokens, int32_t n, int32_t* n_reused) {
    return guard([&] {
        SessionUse s(h, "vkrt_session_eval_prompt");
        VKRT_CHECK(n > 0 && tokens, vkrt::Status::invalid_argument,
                   "vkrt_session_eval_prompt: tokens is NULL or n_tokens <= 0");
        if (n_reused) *n_reused = 0;
        SessionCall call(s.s.get());
        try {
            const uint32_t kept = s->session->eval_prompt(std::span<const int32_t>(tokens, size_t(n)));
            if (n_reused) *n_reused = int32_t(kept);
        } catch (const vkrt::Error& e) {
            if (is_cancel(e)) call.cancelled();
            sync_history(s.s.get());
            throw;
        }
        sync_history(s.s.get());
    });
}

vkrt_status vkrt_session_cancel(vkrt_session* h) {
    // No SessionUse: this is the call that reaches a session another thread is inside. The
    // reference from lookup keeps the session alive if it is freed meanwhile.
    return guard([&] { lookup(h, "vkrt_session_cancel")->session->cancel(); });
}

uint32_t vkrt_session_events(const vkrt_session* h) {
    return guard_value<uint32_t>(0, [&] { return lookup(h, "vkrt_session_events")->events.load(); });
}

vkrt_status vkrt_session_state_size(vkrt_session* h, size_t* size) {
    return guard([&] {
        SessionUse s(h, "vkrt_session_state_size");
        VKRT_REQUIRE_ARG(size);
        *size = size_t(s->session->state_size(sampler_section(s.s.get()).size()));
    });
}

vkrt_status vkrt_session_state_get(vkrt_session* h, void* buf, size_t capacity, size_t* size) {
    return guard([&] {
        SessionUse s(h, "vkrt_session_state_get");
        VKRT_REQUIRE_ARG(size);
        const std::vector<uint8_t> blob = session_state(s.s.get());
        *size = blob.size();
        VKRT_CHECK(buf && blob.size() <= capacity, vkrt::Status::limit_exceeded, "vkrt_session_state_get: ",
                   blob.size(), " bytes do not fit in a buffer of ", capacity);
        std::memcpy(buf, blob.data(), blob.size());
    });
}

vkrt_status vkrt_session_state_set(vkrt_session* h, const void* buf, size_t size) {
    return guard([&] {
        SessionUse s(h, "vkrt_session_state_set");
        VKRT_CHECK(buf || size == 0, vkrt::Status::invalid_argument, "vkrt_session_state_set: buf is NULL");
        set_session_state(s.s.get(), std::span<const uint8_t>(static_cast<const uint8_t*>(buf), size));
    });
}

vkrt_status vkrt_session_save(vkrt_session* h, const char* path) {
    return guard([&] {
        SessionUse s(h, "vkrt_session_save");
        VKRT_REQUIRE_ARG(path);
        const std::vector<uint8_t> blob = session_state(s.s.get());
        vkrt::io::write_file(path, std::string_view(reinterpret_cast<const char*>(blob.data()), blob.size()));
    });
}

vkrt_status vkrt_session_load(vkrt_session* h, const char* path) {
    return guard([&] {
        SessionUse s(h, "vkrt_session_load");
        VKRT_REQUIRE_ARG(path);
        std::FILE* f = std::fopen(path, "rb");
        VKRT_CHECK(f, vkrt::Status::io_error, "vkrt_session_load: cannot open '", path, "'");
        std::vector<uint8_t> blob;
        uint8_t chunk[1 << 16];
        for (size_t got; (got = std::fread(chunk, 1, sizeof chunk, f)) > 0;) blob.insert(blob.end(), chunk, chunk + got);
        const bool bad = std::ferror(f) != 0;
        std::fclose(f);
        VKRT_CHECK(!bad, vkrt::Status::io_error, "vkrt_session_load: cannot read '", path, "'");
        set_session_state(s.s.get(), blob);
    });
}

}  // extern "C"

// ==== chat: templates, generation with stop strings and finish reasons, logprobs,
// penalties, logit bias, constrained output, GGUF metadata (vkrt.h "chat" section) ====

namespace chat_hooks {
// Where the chat calls meet the session-state calls (prefix rewind, context shift,
// cancellation). Each is called with the session locked by the calling thread.
//
// Keep the first n (< pos) cached positions of `s` and drop the rest, with s->history and
// the sampler's window cut to match; false where the session would have to evaluate the
// kept tokens again (a sliding-window ring no longer holds the window of position n; the
// caller then evaluates the whole prompt once, as model::Session::eval_prompt does).
bool rewind(vkrt_session* s, int32_t n) {
    if (!s->session->rewind_keeps_cache(uint32_t(n))) return false;
    s->session->truncate(uint32_t(n));
    sync_history(s);
    return true;
}
// Make room for n more tokens in a full context: the session's overflow policy (a context
// shift keeping n_keep tokens); false under Overflow::error, or when n does not fit beside
// the kept tokens.
bool make_room(vkrt_session* s, uint32_t n) {
    vkrt::model::Session& m = *s->session;
    if (m.overflow() == vkrt::model::Session::Overflow::error) return false;
    if (uint64_t(std::min(m.n_keep(), m.pos())) + n >= m.n_ctx()) return false;
    m.shift_context(n);
    // The cache dropped tokens: the history follows (the sampler's window keeps the recent
    // tokens, which the shift kept).
    s->history = m.tokens();
    return true;
}
// Checked between tokens: vkrt::Finish::cancelled once vkrt_session_cancel was called
// (from any thread) during this call, else Finish::none.
vkrt::Finish interrupted(vkrt_session* s) {
    return s->session->cancel_requested() ? vkrt::Finish::cancelled : vkrt::Finish::none;
}
}  // namespace chat_hooks

namespace {

using vkrt::Status;

// UTF-8 text: refused with a message naming `what` and the byte offset when invalid.
void check_utf8(std::string_view s, const std::string& what) {
    for (size_t i = 0; i < s.size();) {
        const vkrt::text::Utf8Char u = vkrt::text::decode_utf8(s, i);
        VKRT_CHECK(u.valid, Status::invalid_argument, what, " is not valid UTF-8 (byte ", i, ")");
        i += u.len;
    }
}

// Writes `s` into the caller's buffer as vkrt_detokenize does.
void copy_out(const std::string& s, char* buf, size_t capacity, size_t* length, const char* what) {
    VKRT_REQUIRE_ARG(length);
    *length = s.size();
    VKRT_CHECK(buf && s.size() + 1 <= capacity, Status::limit_exceeded, what, ": ", s.size() + 1,
               " bytes do not fit in a buffer of ", capacity);
    std::memcpy(buf, s.c_str(), s.size() + 1);
}

const vkrt::capi::MetaValue& meta_get(const vkrt_model* model, const char* key, const char* what) {
    auto m = lookup(model, what);
    VKRT_REQUIRE_ARG(key);
    auto it = m->chat->meta.find(std::string_view(key));
    VKRT_CHECK(it != m->chat->meta.end(), Status::invalid_argument, what, ": the model has no metadata key '", key,
               "'");
    return it->second;  // lives in ChatModelData, which the model handle keeps
}

bool meta_is_int(vkrt::gguf::ValueType t) {
    using T = vkrt::gguf::ValueType;
    return t == T::UINT8 || t == T::INT8 || t == T::UINT16 || t == T::INT16 || t == T::UINT32 || t == T::INT32 ||
           t == T::UINT64 || t == T::INT64 || t == T::BOOL;
}
bool meta_is_signed(vkrt::gguf::ValueType t) {
    using T = vkrt::gguf::ValueType;
    return t == T::INT8 || t == T::INT16 || t == T::INT32 || t == T::INT64;
}

// The template style of `tmpl` (a name or Jinja text) or of the model; unsupported when unknown.
vkrt::ChatStyle chat_style(const vkrt_model* m, const char* tmpl, const char* what) {
    if (tmpl) {
        const vkrt::ChatStyle st = vkrt::detect_chat_style(tmpl);
        VKRT_CHECK(st != vkrt::ChatStyle::unknown && st != vkrt::ChatStyle::none, Status::unsupported, what,
                   ": chat template '", std::string_view(tmpl).substr(0, 80),
                   std::strlen(tmpl) > 80 ? "...'" : "'",
                   " is not one vkrt recognises (chatml, llama2, llama3, phi3, zephyr, gemma and their Jinja "
                   "templates)");
        return st;
    }
    VKRT_CHECK(m != nullptr, Status::invalid_argument, what, ": model and tmpl are both NULL");
    const std::string& jinja = m->model->chat_template();
    const vkrt::ChatStyle st = vkrt::detect_chat_style(jinja);
    VKRT_CHECK(st != vkrt::ChatStyle::none, Status::unsupported, what,
               ": the model has no tokenizer.chat_template; pass a template name (e.g. \"chatml\")");
    VKRT_CHECK(st != vkrt::ChatStyle::unknown, Status::unsupported, what, ": the model's chat template '",
               std::string_view(jinja).substr(0, 80), jinja.size() > 80 ? "...'" : "'",
               " is not one vkrt recognises (chatml, llama2, llama3, phi3, zephyr, gemma)");
    return st;
}

std::vector<vkrt::ChatMessage> chat_messages(const vkrt_chat_message* msgs, size_t n, const char* what) {
    VKRT_CHECK(n == 0 || msgs, Status::invalid_argument, what, ": messages is NULL");
    std::vector<vkrt::ChatMessage> out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        const std::string at = vkrt::detail::concat(what, ": message ", i);
        VKRT_CHECK(msgs[i].role && msgs[i].content, Status::invalid_argument, at, ": role or content is NULL");
        const std::string_view role = msgs[i].role;
        VKRT_CHECK(role == "system" || role == "user" || role == "assistant", Status::invalid_argument, at,
                   ": unknown role '", role.substr(0, 40), "' (system, user or assistant)");
        check_utf8(msgs[i].content, at + " content");
        out.push_back({std::string(role), msgs[i].content});
    }
    return out;
}

// The C parameters as the generation loop's, checked.
vkrt::GenerationOptions generate_options(const vkrt_generate_params& p, std::vector<std::string>& stops) {
    vkrt::GenerationOptions o;
    o.max_tokens = p.max_tokens;
    VKRT_CHECK(p.n_stop >= 0 && p.n_stop <= VKRT_MAX_STOP_STRINGS, Status::invalid_argument, "n_stop = ", p.n_stop,
               " (0 .. ", VKRT_MAX_STOP_STRINGS, ")");
    VKRT_CHECK(p.n_stop == 0 || p.stop, Status::invalid_argument, "stop is NULL with n_stop = ", p.n_stop);
    for (int32_t i = 0; i < p.n_stop; ++i) {
        VKRT_CHECK(p.stop[i], Status::invalid_argument, "stop string ", i, " is NULL");
        const size_t n = std::strlen(p.stop[i]);
        VKRT_CHECK(n >= 1 && n <= VKRT_MAX_STOP_BYTES, Status::invalid_argument, "stop string ", i, " has ", n,
                   " bytes (1 .. ", VKRT_MAX_STOP_BYTES, ")");
        check_utf8(p.stop[i], vkrt::detail::concat("stop string ", i));
        stops.emplace_back(p.stop[i], n);
    }
    o.presence_penalty = p.presence_penalty;
    o.frequency_penalty = p.frequency_penalty;
    VKRT_CHECK(p.n_logit_bias >= 0 && (p.n_logit_bias == 0 || p.logit_bias), Status::invalid_argument,
               "logit_bias is NULL or n_logit_bias < 0");
    for (int32_t i = 0; i < p.n_logit_bias; ++i) o.logit_bias.emplace_back(p.logit_bias[i].token, p.logit_bias[i].bias);
    VKRT_CHECK(p.top_logprobs >= 0 && p.top_logprobs <= VKRT_MAX_TOP_LOGPROBS, Status::invalid_argument,
               "top_logprobs = ", p.top_logprobs, " (0 .. ", VKRT_MAX_TOP_LOGPROBS, ")");
    VKRT_CHECK(p.top_logprobs == 0 || p.logprobs, Status::invalid_argument, "top_logprobs needs logprobs = 1");
    o.logprobs = p.logprobs != 0;
    o.top_logprobs = p.top_logprobs;
    VKRT_CHECK(!(p.grammar && p.json_schema), Status::invalid_argument, "give grammar or json_schema, not both");
    return o;
}

// The GBNF of `grammar` or `json_schema` ("" for neither).
std::string grammar_text(const char* grammar, const char* json_schema) {
    if (grammar) {
        check_utf8(grammar, "grammar");
        return grammar;
    }
    if (json_schema) return vkrt::json::schema_to_gbnf(json_schema);
    return {};
}

// Runs one generation of session `s` after `prompt`; `style` adds the template's stops.
void run_generation(vkrt_session* s, std::span<const int32_t> prompt, vkrt::ChatStyle style,
                    const vkrt_generate_params& p, vkrt_stream_callback cb, void* user, vkrt_generate_result& r) {
    std::vector<std::string> stop_strings;
    const vkrt::GenerationOptions opt = generate_options(p, stop_strings);
    const vkrt::Tokenizer& tok = s->model->model->tokenizer();
    vkrt::ChatStops stops = vkrt::ChatStops::of(style, tok);
    for (const std::string& str : stop_strings) stops.strings.push_back(str);

    std::unique_ptr<vkrt::grammar::Matcher> matcher;
    if (const std::string g = grammar_text(p.grammar, p.json_schema); !g.empty()) {
        auto gr = std::make_shared<const vkrt::grammar::Grammar>(vkrt::grammar::Grammar::parse(g));
        const vkrt::ChatStyle model_style = vkrt::detect_chat_style(s->model->model->chat_template());
        matcher = std::make_unique<vkrt::grammar::Matcher>(
            gr, s->model->chat->trie(tok, vkrt::chat_eog_ids(model_style, tok)));
    }
    vkrt::Sampler& sampler = session_sampler(s, p.sampler);

    vkrt::GenerationHooks hooks;
    hooks.make_room = [s](uint32_t n) { return chat_hooks::make_room(s, n); };
    hooks.interrupted = [s] { return chat_hooks::interrupted(s); };
    std::vector<int32_t> top_ids;
    std::vector<float> top_lp;
    auto on_step = [&](const vkrt::StepInfo& st) {
        if (!cb) return true;
        top_ids.clear();
        top_lp.clear();
        for (const auto& [id, lp] : st.top) {
            top_ids.push_back(id);
            top_lp.push_back(lp);
        }
        const std::string text(st.text);  // NUL-terminated for C
        vkrt_token_info info{};
        info.token = st.token;
        info.text = text.c_str();
        info.text_length = text.size();
        info.logprob = st.logprob;
        info.n_top = int32_t(top_ids.size());
        info.top_tokens = top_ids.data();
        info.top_logprobs = top_lp.data();
        return cb(&info, user) == 0;
    };
    const uint32_t shifts = s->session->shifts();
    try {
        const vkrt::GenerationResult g =
            vkrt::generate(*s->session, sampler, s->history, prompt, stops, matcher.get(), opt, hooks, on_step);
        r.finish_reason = int32_t(g.finish);
        r.n_generated = g.n_generated;
        if (g.finish == vkrt::Finish::context_full) s->events.fetch_or(VKRT_SESSION_EVENT_CONTEXT_FULL);
    } catch (const vkrt::Error& e) {
        // vkrt_session_cancel during the prompt (between its batches): the turn ends, not as a
        // failure; the session holds the batches evaluated.
        if (!is_cancel(e)) throw;
        r.finish_reason = VKRT_FINISH_CANCELLED;
        sync_history(s);
    }
    // A shift inside an eval (the prompt's) moved the cache under the history.
    if (s->session->shifts() != shifts) sync_history(s);
}

// After context shifts the cache holds the first n_keep tokens and a later part of the
// conversation, while the rendered prompt holds all of it: the prompt drops what the shifts
// dropped (up to where the start of the cached tail appears in it), so that the cache is
// again its prefix. Only under a shift policy and after a shift.
void align_to_shifted_cache(const vkrt_session* s, std::vector<int32_t>& ids) {
    const vkrt::model::Session& m = *s->session;
    if (m.overflow() == vkrt::model::Session::Overflow::error || m.shifts() == 0) return;
    const std::vector<int32_t>& c = m.tokens();
    const size_t keep = std::min<size_t>(m.n_keep(), ids.size());
    if (keep >= c.size() || c.size() >= ids.size() || !std::equal(c.begin(), c.begin() + ptrdiff_t(keep), ids.begin()) ||
        c[keep] == ids[keep])
        return;
    // A window of the tail's first tokens (its end may be a reply the rendering tokenizes
    // differently): a false match would need 16 tokens repeated in the conversation.
    const size_t w = std::min<size_t>(16, c.size() - keep);
    const auto at = std::search(ids.begin() + ptrdiff_t(keep) + 1, ids.end(), c.begin() + ptrdiff_t(keep),
                                c.begin() + ptrdiff_t(keep + w));
    if (at != ids.end()) ids.erase(ids.begin() + ptrdiff_t(keep), at);
}

// Keeps the longest common prefix of the cache and `ids` (at most ids.size() - 1 tokens, so
// that the last prompt token is evaluated and the logits are the prompt's) and returns its
// length; a session that cannot rewind there without evaluating it again starts over.
size_t reuse_prefix(vkrt_session* s, const std::vector<int32_t>& ids) {
    size_t common = 0;
    while (common < s->history.size() && common < ids.size() && s->history[common] == ids[common]) ++common;
    common = std::min(common, ids.size() - 1);
    if (common < s->history.size() && !(common > 0 && chat_hooks::rewind(s, int32_t(common)))) {
        session_clear(s);
        common = 0;
    }
    return common;
}

// A prompt that does not fit n_ctx after the cached prefix, under a shift policy: the cache
// is shifted (keeping n_keep tokens, dropping the oldest of the rest) and the prompt drops
// the same tokens, so that the cache stays its prefix; where even the uncached part does
// not fit, the prompt loses half of what follows n_keep until it does (the start of the
// conversation forgotten, as llama.cpp's server truncates a long prompt) and the cache
// follows it. Returns the cached prefix's new length; false in *trimmed when nothing was
// dropped from the prompt.
size_t fit_context(vkrt_session* s, std::vector<int32_t>& ids, size_t common, bool& trimmed) {
    vkrt::model::Session& m = *s->session;
    trimmed = false;
    if (m.overflow() == vkrt::model::Session::Overflow::error || ids.size() < m.n_ctx()) return common;
    const size_t keep = std::min<size_t>(m.n_keep(), common);
    const size_t uncached = ids.size() - common;
    if (common > keep && keep + uncached + 1 < m.n_ctx()) {
        const uint32_t before = m.pos();
        if (chat_hooks::make_room(s, uint32_t(uncached + 1))) {
            const size_t d = before - m.pos();  // positions [keep, keep + d) left the cache
            ids.erase(ids.begin() + ptrdiff_t(keep), ids.begin() + ptrdiff_t(keep + d));
            trimmed = d > 0;
            return common - d;
        }
    }
    const size_t k = std::min<size_t>(m.n_keep(), ids.size());
    while (ids.size() >= m.n_ctx() && ids.size() > k + 1) {
        const size_t discard = std::max<size_t>(1, (ids.size() - k) / 2);
        ids.erase(ids.begin() + ptrdiff_t(k), ids.begin() + ptrdiff_t(k + discard));
        trimmed = true;
    }
    return reuse_prefix(s, ids);
}

}  // namespace

extern "C" {

// ---------------------------------------------------------------- metadata

int vkrt_model_meta_has(const vkrt_model* model, const char* key) {
    return guard_value<int>(0, [&] {
        auto m = lookup(model, "vkrt_model_meta_has");
        return key && m->chat->meta.count(std::string_view(key)) ? 1 : 0;
    });
}

vkrt_status vkrt_model_meta_string(const vkrt_model* model, const char* key, char* buf, size_t capacity,
                                   size_t* length) {
    return guard([&] {
        const auto& v = meta_get(model, key, "vkrt_model_meta_string");
        VKRT_CHECK(v.type == vkrt::gguf::ValueType::STRING, Status::invalid_argument, "vkrt_model_meta_string: '",
                   key, "' is ", vkrt::capi::meta_type_name(v), ", not STRING");
        copy_out(v.s, buf, capacity, length, "vkrt_model_meta_string");
    });
}

vkrt_status vkrt_model_meta_int(const vkrt_model* model, const char* key, int64_t* value) {
    return guard([&] {
        VKRT_REQUIRE_ARG(value);
        const auto& v = meta_get(model, key, "vkrt_model_meta_int");
        VKRT_CHECK(meta_is_int(v.type), Status::invalid_argument, "vkrt_model_meta_int: '", key, "' is ",
                   vkrt::capi::meta_type_name(v), ", not an integer");
        if (meta_is_signed(v.type)) {
            *value = v.i;
        } else {
            VKRT_CHECK(v.u <= uint64_t(INT64_MAX), Status::limit_exceeded, "vkrt_model_meta_int: '", key, "' = ",
                       v.u, " does not fit in an int64_t");
            *value = int64_t(v.u);
        }
    });
}

vkrt_status vkrt_model_meta_float(const vkrt_model* model, const char* key, double* value) {
    return guard([&] {
        VKRT_REQUIRE_ARG(value);
        const auto& v = meta_get(model, key, "vkrt_model_meta_float");
        using T = vkrt::gguf::ValueType;
        if (v.type == T::FLOAT32 || v.type == T::FLOAT64) {
            *value = v.f;
        } else {
            VKRT_CHECK(meta_is_int(v.type) && v.type != T::BOOL, Status::invalid_argument, "vkrt_model_meta_float: '",
                       key, "' is ", vkrt::capi::meta_type_name(v), ", not a number");
            *value = meta_is_signed(v.type) ? double(v.i) : double(v.u);
        }
    });
}

vkrt_status vkrt_model_meta_array_length(const vkrt_model* model, const char* key, uint64_t* length) {
    return guard([&] {
        VKRT_REQUIRE_ARG(length);
        const auto& v = meta_get(model, key, "vkrt_model_meta_array_length");
        VKRT_CHECK(v.type == vkrt::gguf::ValueType::ARRAY, Status::invalid_argument,
                   "vkrt_model_meta_array_length: '", key, "' is ", vkrt::capi::meta_type_name(v), ", not ARRAY");
        *length = v.length;
    });
}

// ---------------------------------------------------------------- chat templates

const char* vkrt_model_chat_template(const vkrt_model* model) {
    return guard_value<const char*>("", [&] {
        return vkrt::chat_style_name(
            vkrt::detect_chat_style(lookup(model, "vkrt_model_chat_template")->model->chat_template()));
    });
}

vkrt_status vkrt_chat_apply_template(const vkrt_model* model, const char* tmpl, const vkrt_chat_message* messages,
                                     size_t n_messages, int add_generation_prompt, char* buf, size_t capacity,
                                     size_t* length) {
    return guard([&] {
        std::shared_ptr<vkrt_model> m;
        if (model || !tmpl) m = lookup(model, "vkrt_chat_apply_template");
        const vkrt::ChatStyle style = chat_style(m.get(), tmpl, "vkrt_chat_apply_template");
        const auto msgs = chat_messages(messages, n_messages, "vkrt_chat_apply_template");
        copy_out(vkrt::apply_chat_template(style, msgs, add_generation_prompt != 0), buf, capacity, length,
                 "vkrt_chat_apply_template");
    });
}

// ---------------------------------------------------------------- generation

const char* vkrt_finish_reason_string(int32_t reason) {
    if (reason < 0 || reason > int32_t(vkrt::Finish::cancelled)) return "?";
    return vkrt::finish_name(vkrt::Finish(reason));
}

vkrt_generate_params vkrt_generate_default_params(void) {
    vkrt_generate_params p{};
    p.sampler = vkrt_sampler_default_params();
    p.max_tokens = -1;
    return p;
}

vkrt_status vkrt_generate_text(vkrt_session* h, const char* prompt, const vkrt_generate_params* params,
                               vkrt_stream_callback callback, void* user, vkrt_generate_result* result) {
    if (result) *result = vkrt_generate_result{};
    return guard([&] {
        SessionUse use(h, "vkrt_generate_text");
        vkrt_session* s = use.s.get();
        SessionCall call(s);  // clears the events and an old cancel request
        VKRT_REQUIRE_ARG(prompt);
        check_utf8(prompt, "vkrt_generate_text: prompt");
        const vkrt_generate_params p = params ? *params : vkrt_generate_default_params();
        const auto ids = s->model->model->tokenizer().encode(prompt, s->session->pos() == 0, true);
        vkrt_generate_result r{};
        r.n_prompt = int32_t(ids.size());
        struct Out {  // the result is written also when the generation throws midway
            vkrt_generate_result* dst;
            vkrt_generate_result& r;
            ~Out() { if (dst) *dst = r; }
        } out{result, r};
        run_generation(s, ids, vkrt::ChatStyle::none, p, callback, user, r);
    });
}

vkrt_status vkrt_chat_generate(vkrt_session* h, const vkrt_chat_message* messages, size_t n_messages,
                               const vkrt_generate_params* params, vkrt_stream_callback callback, void* user,
                               vkrt_generate_result* result) {
    if (result) *result = vkrt_generate_result{};
    return guard([&] {
        SessionUse use(h, "vkrt_chat_generate");
        vkrt_session* s = use.s.get();
        SessionCall call(s);
        const vkrt_generate_params p = params ? *params : vkrt_generate_default_params();
        const vkrt::ChatStyle style = chat_style(s->model.get(), p.chat_template, "vkrt_chat_generate");
        const auto msgs = chat_messages(messages, n_messages, "vkrt_chat_generate");
        VKRT_CHECK(!msgs.empty(), Status::invalid_argument, "vkrt_chat_generate: no messages");
        const std::string text = vkrt::apply_chat_template(style, msgs, true);
        auto ids = s->model->model->tokenizer().encode(text, true, true);
        VKRT_CHECK(!ids.empty(), Status::invalid_argument, "vkrt_chat_generate: the conversation is empty");
        align_to_shifted_cache(s, ids);
        const size_t n_rendered = ids.size();
        bool trimmed = false;
        const size_t common = fit_context(s, ids, reuse_prefix(s, ids), trimmed);
        if (trimmed || ids.size() != n_rendered) s->events.fetch_or(VKRT_SESSION_EVENT_SHIFTED);
        vkrt_generate_result r{};
        r.n_prompt = int32_t(ids.size());
        r.n_cached = int32_t(common);
        struct Out {
            vkrt_generate_result* dst;
            vkrt_generate_result& r;
            ~Out() { if (dst) *dst = r; }
        } out{result, r};
        run_generation(s, std::span<const int32_t>(ids).subspan(common), style, p, callback, user, r);
    });
}

vkrt_status vkrt_grammar_check(const char* grammar, const char* json_schema) {
    return guard([&] {
        VKRT_CHECK(!(grammar && json_schema), Status::invalid_argument, "give grammar or json_schema, not both");
        if (const std::string g = grammar_text(grammar, json_schema); !g.empty()) {
            (void)vkrt::grammar::Grammar::parse(g);
        } else {
            VKRT_CHECK(!grammar, Status::invalid_argument, "grammar: line 1, column 1: the grammar is empty");
        }
    });
}

vkrt_status vkrt_json_schema_to_grammar(const char* json_schema, char* buf, size_t capacity, size_t* length) {
    return guard([&] {
        VKRT_REQUIRE_ARG(json_schema);
        const std::string g = vkrt::json::schema_to_gbnf(json_schema);
        (void)vkrt::grammar::Grammar::parse(g);  // what the schema compiles to always parses
        copy_out(g, buf, capacity, length, "vkrt_json_schema_to_grammar");
    });
}

}  // extern "C"
