// The C API (include/vkrt/vkrt.h) over the C++ core. Every entry point catches
// everything: vkrt::Error keeps its status, std::bad_alloc is out_of_memory,
// anything else is internal. The message is kept per thread.
#include "vkrt/vkrt.h"

#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "core/error.hpp"
#include "model/llama.hpp"
#include "text/sampler.hpp"

struct vkrt_context {
    std::unique_ptr<vkrt::Device> dev;
    std::string description;
};
struct vkrt_model {
    vkrt_context* ctx;
    std::unique_ptr<vkrt::LlamaModel> model;
};
struct vkrt_session {
    vkrt_model* model;
    std::unique_ptr<vkrt::LlamaSession> session;
    std::vector<int32_t> history;  // for the repetition penalty
    std::unique_ptr<vkrt::Sampler> sampler;
    vkrt_sampler_params sampler_params{};
};

namespace {

thread_local std::string g_last_error;

template <typename F>
vkrt_status guard(F&& f) {
    try {
        g_last_error.clear();
        f();
        return VKRT_OK;
    } catch (const vkrt::Error& e) {
        g_last_error = e.what();
        return static_cast<vkrt_status>(e.status());
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

#define VKRT_REQUIRE_ARG(p) VKRT_CHECK((p) != nullptr, vkrt::Status::invalid_argument, #p " is NULL")

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

}  // namespace

extern "C" {

const char* vkrt_last_error(void) { return g_last_error.c_str(); }

const char* vkrt_status_string(vkrt_status s) { return vkrt::status_name(static_cast<vkrt::Status>(s)); }

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
        auto ctx = std::make_unique<vkrt_context>();
        ctx->dev = std::make_unique<vkrt::Device>(o);
        ctx->description = ctx->dev->caps().report();
        *out = ctx.release();
    });
}

void vkrt_context_free(vkrt_context* ctx) { delete ctx; }

const char* vkrt_context_describe(const vkrt_context* ctx) { return ctx ? ctx->description.c_str() : ""; }

uint64_t vkrt_context_validation_messages(const vkrt_context* ctx) {
    return ctx ? ctx->dev->validation_messages() : 0;
}

vkrt_model_params vkrt_model_default_params(void) {
    vkrt_model_params p{};
    return p;
}

vkrt_status vkrt_model_load(vkrt_context* ctx, const char* path, const vkrt_model_params* params, vkrt_model** out) {
    return guard([&] {
        VKRT_REQUIRE_ARG(out);
        *out = nullptr;
        VKRT_REQUIRE_ARG(ctx);
        VKRT_REQUIRE_ARG(path);
        vkrt::LlamaModel::Progress progress;
        if (params && params->progress) {
            auto cb = params->progress;
            void* user = params->progress_user;
            progress = [cb, user](float f) { cb(f, user); };
        }
        auto m = std::make_unique<vkrt_model>();
        m->ctx = ctx;
        m->model = std::make_unique<vkrt::LlamaModel>(*ctx->dev, path, progress);
        *out = m.release();
    });
}

void vkrt_model_free(vkrt_model* model) { delete model; }

int32_t vkrt_model_n_vocab(const vkrt_model* m) { return m ? int32_t(m->model->hparams().n_vocab) : 0; }
int32_t vkrt_model_n_ctx_train(const vkrt_model* m) { return m ? int32_t(m->model->hparams().n_ctx_train) : 0; }
int32_t vkrt_model_bos(const vkrt_model* m) { return m ? m->model->tokenizer().bos() : -1; }
int32_t vkrt_model_eos(const vkrt_model* m) { return m ? m->model->tokenizer().eos() : -1; }
int vkrt_model_is_eog(const vkrt_model* m, int32_t t) { return m && m->model->tokenizer().is_eog(t) ? 1 : 0; }

vkrt_status vkrt_tokenize(const vkrt_model* model, const char* text, int add_bos, int parse_special, int32_t* tokens,
                          int32_t capacity, int32_t* n_tokens) {
    return guard([&] {
        VKRT_REQUIRE_ARG(model);
        VKRT_REQUIRE_ARG(text);
        VKRT_REQUIRE_ARG(n_tokens);
        VKRT_CHECK(capacity >= 0 && (capacity == 0 || tokens), vkrt::Status::invalid_argument,
                   "tokens is NULL or capacity < 0");
        auto ids = model->model->tokenizer().encode(text, add_bos != 0, parse_special != 0);
        *n_tokens = int32_t(ids.size());
        VKRT_CHECK(ids.size() <= size_t(capacity), vkrt::Status::limit_exceeded, "tokenize: ", ids.size(),
                   " tokens do not fit in a buffer of ", capacity);
        std::copy(ids.begin(), ids.end(), tokens);
    });
}

vkrt_status vkrt_detokenize(const vkrt_model* model, const int32_t* tokens, int32_t n, char* buf, size_t capacity,
                            size_t* length) {
    return guard([&] {
        VKRT_REQUIRE_ARG(model);
        VKRT_REQUIRE_ARG(length);
        VKRT_CHECK(n >= 0 && (n == 0 || tokens), vkrt::Status::invalid_argument, "tokens is NULL or n < 0");
        const int32_t V = int32_t(model->model->hparams().n_vocab);
        for (int32_t i = 0; i < n; ++i)
            VKRT_CHECK(tokens[i] >= 0 && tokens[i] < V, vkrt::Status::invalid_argument, "detokenize: token id ",
                       tokens[i], " is outside the vocabulary (", V, ")");
        std::string s = model->model->tokenizer().decode(std::span<const int32_t>(tokens, size_t(n)));
        *length = s.size();
        VKRT_CHECK(buf && s.size() + 1 <= capacity, vkrt::Status::limit_exceeded, "detokenize: ", s.size() + 1,
                   " bytes do not fit in a buffer of ", capacity);
        std::memcpy(buf, s.c_str(), s.size() + 1);
    });
}

vkrt_session_params vkrt_session_default_params(void) {
    vkrt_session_params p{};
    return p;
}

vkrt_status vkrt_session_create(vkrt_model* model, const vkrt_session_params* params, vkrt_session** out) {
    return guard([&] {
        VKRT_REQUIRE_ARG(out);
        *out = nullptr;
        VKRT_REQUIRE_ARG(model);
        int32_t n_ctx = params ? params->n_ctx : 0, n_batch = params ? params->n_batch : 0;
        VKRT_CHECK(n_ctx >= 0 && n_batch >= 0, vkrt::Status::invalid_argument, "n_ctx and n_batch must be >= 0");
        auto s = std::make_unique<vkrt_session>();
        s->model = model;
        s->session = std::make_unique<vkrt::LlamaSession>(*model->model, uint32_t(n_ctx), uint32_t(n_batch));
        *out = s.release();
    });
}

void vkrt_session_free(vkrt_session* s) { delete s; }
int32_t vkrt_session_n_ctx(const vkrt_session* s) { return s ? int32_t(s->session->n_ctx()) : 0; }
int32_t vkrt_session_pos(const vkrt_session* s) { return s ? int32_t(s->session->pos()) : 0; }

vkrt_status vkrt_session_reset(vkrt_session* s) {
    return guard([&] {
        VKRT_REQUIRE_ARG(s);
        s->session->reset();
        s->history.clear();
        if (s->sampler) s->sampler->reset();
    });
}

vkrt_status vkrt_eval(vkrt_session* s, const int32_t* tokens, int32_t n) {
    return guard([&] {
        VKRT_REQUIRE_ARG(s);
        VKRT_REQUIRE_ARG(tokens);
        VKRT_CHECK(n > 0, vkrt::Status::invalid_argument, "eval: n_tokens must be > 0");
        s->session->eval(std::span<const int32_t>(tokens, size_t(n)));
        s->history.insert(s->history.end(), tokens, tokens + n);
        if (s->sampler)
            for (int32_t i = 0; i < n; ++i) s->sampler->accept(tokens[i]);
    });
}

vkrt_status vkrt_get_logits(vkrt_session* s, const float** logits, int32_t* n_vocab) {
    return guard([&] {
        VKRT_REQUIRE_ARG(s);
        VKRT_REQUIRE_ARG(logits);
        VKRT_CHECK(s->session->pos() > 0, vkrt::Status::invalid_argument, "get_logits: nothing evaluated yet");
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

namespace {
int32_t sample_one(vkrt_session* s, const vkrt_sampler_params& p) {
    if (!s->sampler || !same(p, s->sampler_params)) {
        s->sampler = std::make_unique<vkrt::Sampler>(to_cpp(p));
        s->sampler_params = p;
        for (int32_t t : s->history) s->sampler->accept(t);
    }
    VKRT_CHECK(s->session->pos() > 0, vkrt::Status::invalid_argument, "sample: nothing evaluated yet");
    int32_t t = s->sampler->sample(s->session->logits());
    return t;
}
}  // namespace

vkrt_status vkrt_sample(vkrt_session* s, const vkrt_sampler_params* params, int32_t* token) {
    return guard([&] {
        VKRT_REQUIRE_ARG(s);
        VKRT_REQUIRE_ARG(token);
        *token = sample_one(s, params ? *params : vkrt_sampler_default_params());
    });
}

vkrt_status vkrt_generate(vkrt_session* s, const char* prompt, const vkrt_sampler_params* params, int32_t n_predict,
                          vkrt_token_callback callback, void* user) {
    return guard([&] {
        VKRT_REQUIRE_ARG(s);
        VKRT_REQUIRE_ARG(prompt);
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
            int32_t t = sample_one(s, p);
            s->sampler->accept(t);
            if (tok.is_eog(t)) break;
            std::string piece = tok.token_to_piece(t);
            const bool stop = callback && callback(t, piece.c_str(), user) != 0;
            if (s->session->pos() >= s->session->n_ctx()) break;
            // Evaluated even when the callback stops: the session then holds every token the
            // callback has seen, and a later generate continues after it (not with it again).
            s->session->eval(std::span<const int32_t>(&t, 1));
            s->history.push_back(t);
            if (stop) break;
        }
    });
}

}  // extern "C"
