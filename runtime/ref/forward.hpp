// CPU reference forward pass of every architecture in runtime/arch/ (the shared
// block of arch/arch.hpp with the description's options), composed of the kernels in
// ref/reference.hpp, with float (dequantized) weights and its own float KV cache.
// Slow and simple: it is the oracle the GPU model (runtime/model/model.*) is compared
// with, and, through its linear-input hook, the calibration model of runtime/quant.
//
// Per layer l, for M tokens x (M, n_embd) at positions pos (M):
//   xn  = rmsnorm(x, attn_norm, rms_eps)                         hook(l, attn_in, xn)
//   q   = xn . wq^T [+ bq] (M, n_head*hd);  k, v = xn . wk/wv^T [+ bk/bv] (M, n_head_kv*hd)
//   [q, k = rmsnorm per head (q_norm / k_norm, hd weights)]
//   q, k = rope(q / k, pos, n_rot, base_l, mode, factors, freq_scale_l, attn_factor)
//   kv_store(k -> k_cache[l], v -> v_cache[l], rows pos[m], rounded to type_k / type_v)
//   att = attention(q, k_cache[l], v_cache[l], pos, kq_scale, window_l)  hook(l, attn_out, att)
//   o   = att . wo^T [-> rmsnorm(o, attn_post_norm)];   x = x + o
//   xn  = rmsnorm(x, ffn_norm, rms_eps)                          hook(l, ffn_in, xn)
//   h   = act(xn . w_gate^T) * (xn . w_up^T)   (SwiGLU or GELU-tanh)  hook(l, ffn_down_in, h)
//   f   = h . w_down^T [-> rmsnorm(f, ffn_post_norm)];  x = x + f
// logits = rmsnorm(x, output_norm, rms_eps) . output^T   (M, n_vocab)
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "arch/arch.hpp"
#include "ref/reference.hpp"

namespace vkrt::ref {

// The architecture's hyper-parameters plus the KV cache size. head_dim = 0 means
// n_embd / n_head and n_rot = 0 means head_dim (normalized() fills them in).
struct RefConfig : arch::HParams {
    uint32_t n_ctx = 0;  // rows of the KV cache
    // KV cache element types (ggml ids of Format::F32 / F16 / Q8_0): K and V rows are rounded
    // to them as they are stored (ref::kv_store), as the GPU session's cache does.
    uint32_t type_k = uint32_t(Format::F32), type_v = uint32_t(Format::F32);
    uint32_t hd() const { return head_dim ? head_dim : (n_head ? n_embd / n_head : 0); }
    uint32_t q_dim() const { return n_head * hd(); }
    uint32_t kv_dim() const { return n_head_kv * hd(); }
    RopeMode rope_mode() const { return rope_neox ? RopeMode::neox : RopeMode::norm; }
    RefConfig normalized() const;
};

// Float weights, (N,K) convention: a matrix producing N outputs from K inputs is N rows
// of K. Optional tensors are empty when the architecture has none. Fused file tensors
// (attn_qkv, phi3's ffn_up) are stored split into their parts.
struct RefLayer {
    std::vector<float> attn_norm;       // (n_embd)
    std::vector<float> wq;              // (n_head*hd, n_embd)
    std::vector<float> wk;              // (n_head_kv*hd, n_embd)
    std::vector<float> wv;              // (n_head_kv*hd, n_embd)
    std::vector<float> bq, bk, bv;      // (n_head*hd), (n_head_kv*hd) x 2      qkv_bias
    std::vector<float> q_norm, k_norm;  // (hd)                                  qk_norm
    std::vector<float> wo;              // (n_embd, n_head*hd)
    std::vector<float> attn_post_norm;  // (n_embd)                              post_norms
    std::vector<float> ffn_norm;        // (n_embd)
    std::vector<float> w_gate;          // (n_ff, n_embd)
    std::vector<float> w_up;            // (n_ff, n_embd)
    std::vector<float> w_down;          // (n_embd, n_ff)
    std::vector<float> ffn_post_norm;   // (n_embd)                              post_norms
    std::vector<float>& at(arch::Role r);  // a block role's tensor (internal error for a global role)
    const std::vector<float>& at(arch::Role r) const;
};

struct RefWeights {
    std::vector<float> tok_embd;           // (n_vocab, n_embd)
    std::vector<RefLayer> layers;     // n_layer
    std::vector<float> output_norm;        // (n_embd)
    std::vector<float> output;             // (n_vocab, n_embd); empty = tied to tok_embd
    std::vector<float> rope_factors;       // (n_rot/2): rope_freqs / phi3 short factors
    std::vector<float> rope_factors_long;  // (n_rot/2): phi3 long factors
    // The tensor of a role: layer < 0 for global roles.
    std::vector<float>& at(arch::Role r, int layer);
    const std::vector<float>& at(arch::Role r, int layer) const;
};

// Checks every weight's size against cfg (normalized); throws invalid_argument naming the first bad one.
void check_weights(const RefConfig& cfg, const RefWeights& w);

// Called with the input of the linears of each site, (M, K), before they read it; it may
// change it in place (SmoothQuant's 1/s at attn_out and ffn_down_in).
using LinearInputHook = std::function<void(uint32_t layer, arch::Site site, std::vector<float>& x, size_t M, size_t K)>;

// A KV cache: per layer (n_ctx, n_head_kv*hd).
struct RefKvCache {
    std::vector<std::vector<float>> k, v;
    void init(const RefConfig& cfg);
    void clear();
};

// The forward pass above (cfg normalized, weights checked): tokens at start_pos.. ->
// logits (M, n_vocab). start_pos + M > n_ctx -> limit_exceeded; a token outside
// [0, n_vocab) -> invalid_argument.
std::vector<float> forward(const RefConfig& cfg, const RefWeights& w, RefKvCache& cache,
                                 std::span<const int32_t> tokens, int32_t start_pos, const LinearInputHook& hook = {});

class RefModel {
public:
    // Validates cfg and the weight shapes (invalid_argument), allocates the KV cache.
    RefModel(const RefConfig& cfg, RefWeights weights);

    // tokens (M) at positions start_pos .. start_pos+M-1 -> logits (M, n_vocab).
    // Writes those rows of the KV cache; attends to rows 0 .. pos (earlier calls must
    // have filled rows < start_pos).
    std::vector<float> forward(std::span<const int32_t> tokens, int32_t start_pos, const LinearInputHook& hook = {}) {
        return ref::forward(cfg_, w_, cache_, tokens, start_pos, hook);
    }

    // Clears the KV cache (zeros).
    void reset() { cache_.clear(); }

    const RefConfig& config() const { return cfg_; }
    const RefWeights& weights() const { return w_; }

private:
    RefConfig cfg_;
    RefWeights w_;
    RefKvCache cache_;
};

}  // namespace vkrt::ref
