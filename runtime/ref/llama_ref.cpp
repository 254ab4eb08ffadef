// CPU reference llama forward pass (see llama_ref.hpp).
#include "ref/llama_ref.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "core/error.hpp"

namespace vkrt::ref {

namespace {

void check_len(const std::vector<float>& v, size_t want, const std::string& name) {
    VKRT_CHECK(v.size() == want, Status::invalid_argument, "RefLlama: weight ", name, " has ", v.size(),
               " floats, expected ", want);
}

}  // namespace

void check_weights(const RefLlamaConfig& c, const RefLlamaWeights& w) {
    VKRT_CHECK(c.n_layer > 0 && c.n_embd > 0 && c.n_head > 0 && c.n_head_kv > 0 && c.n_ff > 0 && c.n_vocab > 0 &&
                   c.n_ctx > 0,
               Status::invalid_argument, "RefLlama: config has a zero dimension");
    VKRT_CHECK(c.n_head % c.n_head_kv == 0, Status::invalid_argument, "RefLlama: n_head_kv = ", c.n_head_kv,
               " does not divide n_head = ", c.n_head);
    VKRT_CHECK(c.hd() > 0 && (c.head_dim != 0 || c.n_embd % c.n_head == 0), Status::invalid_argument,
               "RefLlama: n_embd = ", c.n_embd, " not divisible by n_head = ", c.n_head, " (set head_dim)");
    const uint32_t n_rot = c.n_rot ? c.n_rot : c.hd();
    VKRT_CHECK(n_rot % 2 == 0 && n_rot <= c.hd(), Status::invalid_argument, "RefLlama: n_rot = ", n_rot,
               " must be even and <= head_dim = ", c.hd());
    const size_t E = c.n_embd, Q = c.q_dim(), KV = c.kv_dim(), F = c.n_ff, V = c.n_vocab;
    check_len(w.tok_embd, V * E, "tok_embd");
    check_len(w.output_norm, E, "output_norm");
    if (!w.output.empty()) check_len(w.output, V * E, "output");
    VKRT_CHECK(w.layers.size() == c.n_layer, Status::invalid_argument, "RefLlama: ", w.layers.size(),
               " layers of weights, config says ", c.n_layer);
    for (size_t l = 0; l < w.layers.size(); ++l) {
        const RefLlamaLayer& L = w.layers[l];
        const std::string p = "blk." + std::to_string(l) + ".";
        check_len(L.attn_norm, E, p + "attn_norm");
        check_len(L.wq, Q * E, p + "wq");
        check_len(L.wk, KV * E, p + "wk");
        check_len(L.wv, KV * E, p + "wv");
        check_len(L.wo, E * Q, p + "wo");
        check_len(L.ffn_norm, E, p + "ffn_norm");
        check_len(L.w_gate, F * E, p + "w_gate");
        check_len(L.w_up, F * E, p + "w_up");
        check_len(L.w_down, E * F, p + "w_down");
    }
}

RefLlama::RefLlama(const RefLlamaConfig& cfg, RefLlamaWeights weights) : cfg_(cfg), w_(std::move(weights)) {
    check_weights(cfg_, w_);
    k_cache_.assign(cfg_.n_layer, std::vector<float>(size_t(cfg_.n_ctx) * cfg_.kv_dim(), 0.0f));
    v_cache_.assign(cfg_.n_layer, std::vector<float>(size_t(cfg_.n_ctx) * cfg_.kv_dim(), 0.0f));
}

void RefLlama::reset() {
    for (auto& c : k_cache_) std::fill(c.begin(), c.end(), 0.0f);
    for (auto& c : v_cache_) std::fill(c.begin(), c.end(), 0.0f);
}

std::vector<float> RefLlama::forward(std::span<const int32_t> tokens, int32_t start_pos) {
    const RefLlamaConfig& c = cfg_;
    const size_t M = tokens.size();
    VKRT_CHECK(start_pos >= 0, Status::invalid_argument, "RefLlama::forward: start_pos = ", start_pos);
    VKRT_CHECK(size_t(start_pos) + M <= c.n_ctx, Status::limit_exceeded, "RefLlama::forward: positions ", start_pos,
               "..", size_t(start_pos) + M, " exceed n_ctx = ", c.n_ctx);
    if (M == 0) return {};
    const size_t E = c.n_embd, Q = c.q_dim(), KV = c.kv_dim(), F = c.n_ff, V = c.n_vocab, hd = c.hd();
    const size_t n_rot = c.n_rot ? c.n_rot : hd;

    std::vector<int32_t> pos(M);
    for (size_t m = 0; m < M; ++m) pos[m] = start_pos + int32_t(m);

    // x (M, n_embd): token embeddings (ids validated by embedding()).
    std::span<const uint8_t> table(reinterpret_cast<const uint8_t*>(w_.tok_embd.data()),
                                   w_.tok_embd.size() * sizeof(float));
    std::vector<float> x = embedding(table, Format::F32, V, E, tokens);

    for (size_t l = 0; l < c.n_layer; ++l) {
        const RefLlamaLayer& L = w_.layers[l];
        // attention block
        std::vector<float> xn = rmsnorm(x, L.attn_norm, M, E, c.rms_eps);
        std::vector<float> q = matmul_f32(xn, L.wq, M, Q, E);   // (M, n_head*hd)
        std::vector<float> k = matmul_f32(xn, L.wk, M, KV, E);  // (M, n_head_kv*hd)
        std::vector<float> v = matmul_f32(xn, L.wv, M, KV, E);  // (M, n_head_kv*hd)
        q = rope(q, pos, M, c.n_head, hd, n_rot, c.rope_base, c.rope_mode);
        k = rope(k, pos, M, c.n_head_kv, hd, n_rot, c.rope_base, c.rope_mode);
        kv_store(k, pos, k_cache_[l], M, KV, c.n_ctx, c.type_k);
        kv_store(v, pos, v_cache_[l], M, KV, c.n_ctx, c.type_v);
        std::vector<float> att =
            attention(q, k_cache_[l], v_cache_[l], pos, M, c.n_head, c.n_head_kv, hd, c.n_ctx);  // (M, Q)
        x = add(x, matmul_f32(att, L.wo, M, E, Q));
        // feed-forward block
        xn = rmsnorm(x, L.ffn_norm, M, E, c.rms_eps);
        std::vector<float> g = matmul_f32(xn, L.w_gate, M, F, E);  // (M, n_ff)
        std::vector<float> u = matmul_f32(xn, L.w_up, M, F, E);    // (M, n_ff)
        x = add(x, matmul_f32(swiglu(g, u), L.w_down, M, E, F));
    }

    std::vector<float> xn = rmsnorm(x, w_.output_norm, M, E, c.rms_eps);
    const std::vector<float>& out = w_.output.empty() ? w_.tok_embd : w_.output;
    return matmul_f32(xn, out, M, V, E);  // (M, n_vocab)
}

}  // namespace vkrt::ref
