// vkrt C++ API: RAII owners over the C API in vkrt.h (same core, same library).
// Failures throw vkrt::Exception carrying the status and the message.
// Lifetimes and threads follow vkrt.h: Context, Model and Session may be destroyed
// in any order (a Session keeps its Model and Context alive); a Session is used
// by one thread at a time.
#pragma once
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

}  // namespace vkrt
