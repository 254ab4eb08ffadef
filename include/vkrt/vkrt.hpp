// vkrt C++ API: RAII owners over the C API in vkrt.h (same core, same library).
// Failures throw vkrt::Exception carrying the status and the message.
// Lifetimes and threads follow vkrt.h: Context, Model and Session may be destroyed
// in any order (a Session keeps its Model and Context alive); a Session is used
// by one thread at a time.
#pragma once
#include <exception>
#include <functional>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vkrt/vkrt.h"

namespace vkrt {

class Exception : public std::runtime_error {
public:
    Exception(vkrt_status s, const std::string& msg) : std::runtime_error(msg), status_(s) {}
    vkrt_status status() const noexcept { return status_; }

private:
    vkrt_status status_;
};

inline void check(vkrt_status s) {
    if (s != VKRT_OK) throw Exception(s, vkrt_last_error());
}

template <typename T, void (*Free)(T*)>
class Handle {
public:
    Handle() = default;
    explicit Handle(T* p) : p_(p) {}
    Handle(Handle&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    Handle& operator=(Handle&& o) noexcept {
        if (this != &o) { reset(); p_ = std::exchange(o.p_, nullptr); }
        return *this;
    }
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    ~Handle() { reset(); }
    void reset() { if (p_) Free(p_); p_ = nullptr; }
    T* get() const { return p_; }

private:
    T* p_ = nullptr;
};

class Context {
public:
    explicit Context(const vkrt_context_params& p = vkrt_context_default_params()) {
        vkrt_context* c = nullptr;
        check(vkrt_context_create(&p, &c));
        h_ = Handle<vkrt_context, vkrt_context_free>(c);
    }
    std::string describe() const { return vkrt_context_describe(h_.get()); }
    vkrt_context* get() const { return h_.get(); }

private:
    Handle<vkrt_context, vkrt_context_free> h_;
};

class Model {
public:
    Model(Context& ctx, const std::string& path, const vkrt_model_params& p = vkrt_model_default_params()) {
        vkrt_model* m = nullptr;
        check(vkrt_model_load(ctx.get(), path.c_str(), &p, &m));
        h_ = Handle<vkrt_model, vkrt_model_free>(m);
    }
    std::vector<int32_t> tokenize(const std::string& text, bool add_bos = true, bool parse_special = true) const {
        std::vector<int32_t> ids(text.size() + 8);
        int32_t n = 0;
        vkrt_status s = vkrt_tokenize(h_.get(), text.c_str(), add_bos, parse_special, ids.data(),
                                      int32_t(ids.size()), &n);
        if (s == VKRT_ERROR_LIMIT_EXCEEDED) {
            ids.resize(size_t(n));
            s = vkrt_tokenize(h_.get(), text.c_str(), add_bos, parse_special, ids.data(), n, &n);
        }
        check(s);
        ids.resize(size_t(n));
        return ids;
    }
    std::string detokenize(const std::vector<int32_t>& ids) const {
        size_t len = 0;
        std::string out(ids.size() * 8 + 16, '\0');
        vkrt_status s = vkrt_detokenize(h_.get(), ids.data(), int32_t(ids.size()), out.data(), out.size(), &len);
        if (s == VKRT_ERROR_LIMIT_EXCEEDED) {
            out.resize(len + 1);
            s = vkrt_detokenize(h_.get(), ids.data(), int32_t(ids.size()), out.data(), out.size(), &len);
        }
        check(s);
        out.resize(len);
        return out;
    }
    int32_t n_vocab() const { return vkrt_model_n_vocab(h_.get()); }
    int32_t bos() const { return vkrt_model_bos(h_.get()); }
    int32_t eos() const { return vkrt_model_eos(h_.get()); }
    bool is_eog(int32_t t) const { return vkrt_model_is_eog(h_.get(), t) != 0; }
    vkrt_model* get() const { return h_.get(); }

private:
    Handle<vkrt_model, vkrt_model_free> h_;
};

class Session {
public:
    explicit Session(Model& m, const vkrt_session_params& p = vkrt_session_default_params()) {
        vkrt_session* s = nullptr;
        check(vkrt_session_create(m.get(), &p, &s));
        h_ = Handle<vkrt_session, vkrt_session_free>(s);
    }
    void eval(const std::vector<int32_t>& ids) { check(vkrt_eval(h_.get(), ids.data(), int32_t(ids.size()))); }
    std::vector<float> logits() {
        const float* l = nullptr;
        int32_t n = 0;
        check(vkrt_get_logits(h_.get(), &l, &n));
        return std::vector<float>(l, l + n);
    }
    int32_t sample(const vkrt_sampler_params& p = vkrt_sampler_default_params()) {
        int32_t t = -1;
        check(vkrt_sample(h_.get(), &p, &t));
        return t;
    }
    void reset() { check(vkrt_session_reset(h_.get())); }
    int32_t pos() const { return vkrt_session_pos(h_.get()); }
    int32_t n_ctx() const { return vkrt_session_n_ctx(h_.get()); }
    uint64_t kv_bytes() const { return vkrt_session_kv_bytes(h_.get()); }
    vkrt_session* get() const { return h_.get(); }

    // ---- session state (vkrt.h: rewind, prefix reuse, cancellation, saved sessions)
    void truncate(int32_t n) { check(vkrt_session_truncate(h_.get(), n)); }
    std::vector<int32_t> tokens() const {
        int32_t n = 0;
        vkrt_status s = vkrt_session_tokens(h_.get(), nullptr, 0, &n);
        if (s != VKRT_ERROR_LIMIT_EXCEEDED) check(s);
        std::vector<int32_t> ids(static_cast<size_t>(n));
        check(vkrt_session_tokens(h_.get(), ids.data(), n, &n));
        return ids;
    }
    // Evaluates a whole prompt reusing the cached common prefix; returns the tokens reused.
    int32_t eval_prompt(const std::vector<int32_t>& ids) {
        int32_t reused = 0;
        check(vkrt_session_eval_prompt(h_.get(), ids.data(), int32_t(ids.size()), &reused));
        return reused;
    }
    // From any thread, also while another thread is inside a call on this session.
    void cancel() const { check(vkrt_session_cancel(h_.get())); }
    uint32_t events() const { return vkrt_session_events(h_.get()); }
    std::vector<uint8_t> state() const {
        size_t n = 0;
        check(vkrt_session_state_size(h_.get(), &n));
        std::vector<uint8_t> blob(n);
        check(vkrt_session_state_get(h_.get(), blob.data(), blob.size(), &n));
        return blob;
    }
    void set_state(const std::vector<uint8_t>& blob) { check(vkrt_session_state_set(h_.get(), blob.data(), blob.size())); }
    void save(const std::string& path) const { check(vkrt_session_save(h_.get(), path.c_str())); }
    void load(const std::string& path) { check(vkrt_session_load(h_.get(), path.c_str())); }

private:
    Handle<vkrt_session, vkrt_session_free> h_;
};

// ==== chat (vkrt.h "chat" section): templates, generation with stop strings, finish
// reasons, logprobs, penalties, logit bias, grammar / JSON Schema, metadata ====

// One chat message (vkrt_chat_message). (Not ChatMessage: the runtime has an internal one.)
struct Message {
    std::string role;  // "system", "user", "assistant"
    std::string content;
};

// vkrt_generate_params with owned strings; empty strings mean "none".
struct GenerateOptions {
    vkrt_sampler_params sampler = vkrt_sampler_default_params();
    int32_t max_tokens = -1;
    std::vector<std::string> stop;
    float presence_penalty = 0.0f;
    float frequency_penalty = 0.0f;
    std::vector<vkrt_logit_bias> logit_bias;
    bool logprobs = false;
    int32_t top_logprobs = 0;
    std::string grammar;        // GBNF
    std::string json_schema;
    std::string chat_template;  // chat(): a template name or Jinja text; "" = the model's
};

struct GenerateResult {
    vkrt_finish_reason finish = VKRT_FINISH_NONE;
    int32_t n_prompt = 0, n_cached = 0, n_generated = 0;
    std::string text;  // the reply: every streamed text, stop strings excluded
    const char* finish_name() const { return vkrt_finish_reason_string(finish); }
};

// Called for every step (vkrt_token_info: token, released text, logprobs); false stops.
using StreamCallback = std::function<bool(const vkrt_token_info&)>;

namespace detail {
// C parameters pointing into `o` (valid while `o` and this object live).
struct CParams {
    vkrt_generate_params p = vkrt_generate_default_params();
    std::vector<const char*> stops;
    explicit CParams(const GenerateOptions& o) {
        p.sampler = o.sampler;
        p.max_tokens = o.max_tokens;
        for (const auto& s : o.stop) stops.push_back(s.c_str());
        p.stop = stops.data();
        p.n_stop = int32_t(stops.size());
        p.presence_penalty = o.presence_penalty;
        p.frequency_penalty = o.frequency_penalty;
        p.logit_bias = o.logit_bias.data();
        p.n_logit_bias = int32_t(o.logit_bias.size());
        p.logprobs = o.logprobs ? 1 : 0;
        p.top_logprobs = o.top_logprobs;
        p.grammar = o.grammar.empty() ? nullptr : o.grammar.c_str();
        p.json_schema = o.json_schema.empty() ? nullptr : o.json_schema.c_str();
        p.chat_template = o.chat_template.empty() ? nullptr : o.chat_template.c_str();
    }
};
// Collects the text and runs the user's callback; an exception it throws stops the
// generation and is rethrown after the C call returns (none crosses the C API).
struct Stream {
    const StreamCallback* cb;
    GenerateResult* out;
    std::exception_ptr error;
    static int call(const vkrt_token_info* info, void* user) {
        auto* s = static_cast<Stream*>(user);
        try {
            s->out->text.append(info->text, info->text_length);
            return (s->cb && *s->cb && !(*s->cb)(*info)) ? 1 : 0;
        } catch (...) {
            s->error = std::current_exception();
            return 1;
        }
    }
    // After the C call: the callback's exception, else the call's error, else the result.
    GenerateResult finish(vkrt_status status, const vkrt_generate_result& r) {
        if (error) std::rethrow_exception(error);
        check(status);
        out->finish = vkrt_finish_reason(r.finish_reason);
        out->n_prompt = r.n_prompt;
        out->n_cached = r.n_cached;
        out->n_generated = r.n_generated;
        return std::move(*out);
    }
};
inline std::vector<vkrt_chat_message> c_messages(const std::vector<Message>& m) {
    std::vector<vkrt_chat_message> c;
    for (const auto& x : m) c.push_back({x.role.c_str(), x.content.c_str()});
    return c;
}
// A string out of a (buf, capacity, length) call, retried with the needed size.
template <typename F>
std::string string_out(F&& f) {
    std::string out(256, '\0');
    size_t len = 0;
    vkrt_status s = f(out.data(), out.size(), &len);
    if (s == VKRT_ERROR_LIMIT_EXCEEDED && len + 1 > out.size()) {
        out.resize(len + 1);
        s = f(out.data(), out.size(), &len);
    }
    check(s);
    out.resize(len);
    return out;
}
}  // namespace detail

// The model's chat template family ("chatml", "llama3", ..., "none", "unknown").
inline std::string chat_template_name(const Model& m) { return vkrt_model_chat_template(m.get()); }

// `messages` in the model's template (or `tmpl`: a name or Jinja text).
inline std::string apply_chat_template(const Model& m, const std::vector<Message>& messages,
                                       bool add_generation_prompt, const std::string& tmpl = "") {
    const auto c = detail::c_messages(messages);
    return detail::string_out([&](char* b, size_t cap, size_t* len) {
        return vkrt_chat_apply_template(m.get(), tmpl.empty() ? nullptr : tmpl.c_str(), c.data(), c.size(),
                                        add_generation_prompt ? 1 : 0, b, cap, len);
    });
}

// GGUF metadata of the model's file by key; missing keys and other types throw.
inline bool meta_has(const Model& m, const std::string& key) { return vkrt_model_meta_has(m.get(), key.c_str()) != 0; }
inline std::string meta_string(const Model& m, const std::string& key) {
    return detail::string_out(
        [&](char* b, size_t cap, size_t* len) { return vkrt_model_meta_string(m.get(), key.c_str(), b, cap, len); });
}
inline int64_t meta_int(const Model& m, const std::string& key) {
    int64_t v = 0;
    check(vkrt_model_meta_int(m.get(), key.c_str(), &v));
    return v;
}
inline double meta_float(const Model& m, const std::string& key) {
    double v = 0;
    check(vkrt_model_meta_float(m.get(), key.c_str(), &v));
    return v;
}
inline uint64_t meta_array_length(const Model& m, const std::string& key) {
    uint64_t v = 0;
    check(vkrt_model_meta_array_length(m.get(), key.c_str(), &v));
    return v;
}

// vkrt_generate_text: `prompt` after what the session holds.
inline GenerateResult generate(Session& s, const std::string& prompt, const GenerateOptions& o = {},
                               const StreamCallback& cb = {}) {
    GenerateResult out;
    detail::CParams c(o);
    detail::Stream st{&cb, &out, nullptr};
    vkrt_generate_result r{};
    const vkrt_status status = vkrt_generate_text(s.get(), prompt.c_str(), &c.p, &detail::Stream::call, &st, &r);
    return st.finish(status, r);
}

// vkrt_chat_generate: the assistant's reply to `messages` (append it as an "assistant"
// message for the next turn).
inline GenerateResult chat(Session& s, const std::vector<Message>& messages, const GenerateOptions& o = {},
                           const StreamCallback& cb = {}) {
    GenerateResult out;
    detail::CParams c(o);
    detail::Stream st{&cb, &out, nullptr};
    const auto msgs = detail::c_messages(messages);
    vkrt_generate_result r{};
    const vkrt_status status =
        vkrt_chat_generate(s.get(), msgs.data(), msgs.size(), &c.p, &detail::Stream::call, &st, &r);
    return st.finish(status, r);
}

// The GBNF a JSON Schema compiles to; throws with the schema position for unsupported input.
inline std::string json_schema_to_grammar(const std::string& schema) {
    return detail::string_out([&](char* b, size_t cap, size_t* len) {
        return vkrt_json_schema_to_grammar(schema.c_str(), b, cap, len);
    });
}
// ==== end of chat ====

}  // namespace vkrt
