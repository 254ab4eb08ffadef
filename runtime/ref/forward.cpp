// CPU reference forward pass (see forward.hpp).
#include "ref/forward.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "core/error.hpp"

namespace vkrt::ref {

using arch::Role;

RefConfig RefConfig::normalized() const {
    RefConfig c = *this;
    c.head_dim = hd();
    if (c.n_rot == 0) c.n_rot = c.head_dim;
    return c;
}

std::vector<float>& RefLayer::at(Role r) {
    return const_cast<std::vector<float>&>(std::as_const(*this).at(r));
}

const std::vector<float>& RefLayer::at(Role r) const { return arch::block_tensor(*this, r, "RefLayer"); }

std::vector<float>& RefWeights::at(Role r, int layer) {
    return const_cast<std::vector<float>&>(std::as_const(*this).at(r, layer));
}

const std::vector<float>& RefWeights::at(Role r, int layer) const {
    switch (r) {
        case Role::tok_embd: return tok_embd;
        case Role::output_norm: return output_norm;
        case Role::output: return output;
        case Role::rope_factors: return rope_factors;
        case Role::rope_factors_long: return rope_factors_long;
        default:
            VKRT_CHECK(layer >= 0 && size_t(layer) < layers.size(), Status::internal, "RefWeights: layer ", layer,
                       " of ", layers.size(), " for ", arch::role_name(r));
            return layers[size_t(layer)].at(r);
    }
}

void check_weights(const RefConfig& cfg, const RefWeights& w) {
    const RefConfig c = cfg.normalized();
    VKRT_CHECK(c.n_layer > 0 && c.n_embd > 0 && c.n_head > 0 && c.n_head_kv > 0 && c.n_ff > 0 && c.n_vocab > 0 &&
                   c.n_ctx > 0,
               Status::invalid_argument, "RefModel: config has a zero dimension");
    VKRT_CHECK(c.n_head % c.n_head_kv == 0, Status::invalid_argument, "RefModel: n_head_kv = ", c.n_head_kv,
               " does not divide n_head = ", c.n_head);
    VKRT_CHECK(c.hd() > 0 && (cfg.head_dim != 0 || c.n_embd % c.n_head == 0), Status::invalid_argument,
               "RefModel: n_embd = ", c.n_embd, " not divisible by n_head = ", c.n_head, " (set head_dim)");
    VKRT_CHECK(c.n_rot % 2 == 0 && c.n_rot <= c.hd(), Status::invalid_argument, "RefModel: n_rot = ", c.n_rot,
               " must be even and <= head_dim = ", c.hd());
    VKRT_CHECK(c.n_swa == 0 || c.swa_layers.size() == c.n_layer, Status::invalid_argument, "RefModel: ",
               c.swa_layers.size(), " sliding-window flags for ", c.n_layer, " layers");
    VKRT_CHECK(w.layers.size() == c.n_layer, Status::invalid_argument, "RefModel: ", w.layers.size(),
               " layers of weights, config says ", c.n_layer);
    // Every tensor of the description, with its parts' sizes; optional ones may be empty.
    for (const arch::TensorDesc& t : arch::tensor_table(c)) {
        for (size_t i = 0; i < t.parts.size(); ++i) {
            const std::vector<float>& v = w.at(t.parts[i], t.layer);
            const size_t want = size_t(t.part_rows[i]) * t.cols;
            if (!t.required && v.empty()) continue;
            VKRT_CHECK(v.size() == want, Status::invalid_argument, "RefModel: weight ", t.name,
                       t.fused() ? std::string(" (") + arch::role_name(t.parts[i]) + ")" : std::string(), " has ",
                       v.size(), " floats, expected ", want);
        }
    }
}

void RefKvCache::init(const RefConfig& c) {
    k.assign(c.n_layer, std::vector<float>(size_t(c.n_ctx) * c.kv_dim(), 0.0f));
    v.assign(c.n_layer, std::vector<float>(size_t(c.n_ctx) * c.kv_dim(), 0.0f));
}

void RefKvCache::clear() {
    for (auto& c : k) std::fill(c.begin(), c.end(), 0.0f);
    for (auto& c : v) std::fill(c.begin(), c.end(), 0.0f);
}

RefModel::RefModel(const RefConfig& cfg, RefWeights weights)
    : cfg_(cfg.normalized()), w_(std::move(weights)) {
    check_weights(cfg_, w_);
    cache_.init(cfg_);
}

std::vector<float> forward(const RefConfig& c, const RefWeights& w, RefKvCache& cache,
                                 std::span<const int32_t> tokens, int32_t start_pos, const LinearInputHook& hook) {
    const size_t M = tokens.size();
    VKRT_CHECK(start_pos >= 0, Status::invalid_argument, "RefModel::forward: start_pos = ", start_pos);
    VKRT_CHECK(size_t(start_pos) + M <= c.n_ctx, Status::limit_exceeded, "RefModel::forward: positions ", start_pos,
               "..", size_t(start_pos) + M, " exceed n_ctx = ", c.n_ctx);
    VKRT_CHECK(cache.k.size() == c.n_layer, Status::internal, "RefModel::forward: KV cache not initialized");
    if (M == 0) return {};
    const size_t E = c.n_embd, Q = c.q_dim(), KV = c.kv_dim(), F = c.n_ff, V = c.n_vocab, hd = c.hd();
    auto call = [&](uint32_t l, arch::Site s, std::vector<float>& x, size_t K) {
        if (hook) hook(l, s, x, M, K);
    };

    // What each layer does: the model's plan (arch::plan), as the GPU graph reads it.
    const arch::Plan plan = arch::plan(c);

    std::vector<int32_t> pos(M);
    for (size_t m = 0; m < M; ++m) pos[m] = start_pos + int32_t(m);
    // Rope factors: phi3's long ones above the original context (llama.cpp's get_rope_factors).
    const std::vector<float>& factors = plan.long_factors(c.n_ctx) ? w.rope_factors_long : w.rope_factors;

    // x (M, n_embd): token embeddings (ids validated by embedding()).
    std::span<const uint8_t> table(reinterpret_cast<const uint8_t*>(w.tok_embd.data()),
                                   w.tok_embd.size() * sizeof(float));
    std::vector<float> x = embedding(table, Format::F32, V, E, tokens);
    if (plan.embd_scale != 1.0f) x = scale(x, plan.embd_scale);

    for (uint32_t l = 0; l < c.n_layer; ++l) {
        const arch::LayerPlan& lp = plan.layers[l];
        const RefLayer& L = w.layers[l];
        // attention block (fused matrices are one matmul on the GPU; the reference keeps
        // the parts: the same rows of the same product)
        std::vector<float> xn = rmsnorm(x, L.attn_norm, M, E, lp.eps);
        call(l, arch::Site::attn_in, xn, E);
        std::vector<float> q = matmul_f32(xn, L.wq, M, Q, E);   // (M, n_head*hd)
        std::vector<float> k = matmul_f32(xn, L.wk, M, KV, E);  // (M, n_head_kv*hd)
        std::vector<float> v = matmul_f32(xn, L.wv, M, KV, E);  // (M, n_head_kv*hd)
        if (lp.qkv_bias) {
            q = add_bias(q, L.bq, M);
            k = add_bias(k, L.bk, M);
            v = add_bias(v, L.bv, M);
        }
        if (lp.qk_norm) {
            q = rmsnorm(q, L.q_norm, M * c.n_head, hd, lp.eps);  // per head
            k = rmsnorm(k, L.k_norm, M * c.n_head_kv, hd, lp.eps);
        }
        if (lp.rope.on) {
            const RopeExtra ex{lp.rope.factors ? std::span<const float>(factors) : std::span<const float>{},
                               lp.rope.freq_scale, lp.rope.attn_factor};
            const RopeMode mode = lp.rope.neox ? RopeMode::neox : RopeMode::norm;
            q = rope(q, pos, M, c.n_head, hd, lp.rope.n_rot, lp.rope.base, mode, ex);
            k = rope(k, pos, M, c.n_head_kv, hd, lp.rope.n_rot, lp.rope.base, mode, ex);
        }
        kv_store(k, pos, cache.k[l], M, KV, c.n_ctx, c.type_k);
        kv_store(v, pos, cache.v[l], M, KV, c.n_ctx, c.type_v);
        std::vector<float> att = attention(q, cache.k[l], cache.v[l], pos, M, c.n_head, c.n_head_kv, hd, c.n_ctx,
                                           lp.kq_scale, lp.window);  // (M, Q)
        call(l, arch::Site::attn_out, att, Q);
        std::vector<float> o = matmul_f32(att, L.wo, M, E, Q);
        if (lp.attn_post_norm) o = rmsnorm(o, L.attn_post_norm, M, E, lp.eps);
        x = add(x, o);
        // feed-forward block
        xn = rmsnorm(x, L.ffn_norm, M, E, lp.eps);
        call(l, arch::Site::ffn_in, xn, E);
        std::vector<float> g = matmul_f32(xn, L.w_gate, M, F, E);  // (M, n_ff)
        std::vector<float> u = matmul_f32(xn, L.w_up, M, F, E);    // (M, n_ff)
        std::vector<float> h = lp.act == arch::Act::gelu_tanh ? geglu(g, u) : swiglu(g, u);
        call(l, arch::Site::ffn_down_in, h, F);
        std::vector<float> f = matmul_f32(h, L.w_down, M, E, F);
        if (lp.ffn_post_norm) f = rmsnorm(f, L.ffn_post_norm, M, E, lp.eps);
        x = add(x, f);
    }

    std::vector<float> xn = rmsnorm(x, w.output_norm, M, E, plan.output_eps);
    const std::vector<float>& out = w.output.empty() ? w.tok_embd : w.output;
    return matmul_f32(xn, out, M, V, E);  // (M, n_vocab)
}

}  // namespace vkrt::ref
