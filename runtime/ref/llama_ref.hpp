// CPU reference llama forward pass, composed of the kernels in ref/reference.hpp,
// with float (dequantized) weights and its own float KV cache. Slow and simple:
// it is the oracle the GPU model (runtime/model/llama.*) is compared with.
//
// Per layer l, for M tokens x (M, n_embd) at positions pos (M):
//   xn  = rmsnorm(x, attn_norm, rms_eps)
//   q   = xn . wq^T (M, n_head*hd);  k = xn . wk^T, v = xn . wv^T (M, n_head_kv*hd)
//   q, k = rope(q / k, pos, n_rot, rope_base, rope_mode)
//   kv_store(k -> k_cache[l], v -> v_cache[l], rows pos[m], rounded to type_k / type_v)
//   att = attention(q, k_cache[l], v_cache[l], pos)     (causal, GQA, scale 1/sqrt(hd))
//   x   = x + att . wo^T
//   xn  = rmsnorm(x, ffn_norm, rms_eps)
//   x   = x + swiglu(xn . w_gate^T, xn . w_up^T) . w_down^T
// logits = rmsnorm(x, output_norm, rms_eps) . output^T   (M, n_vocab)
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "ref/reference.hpp"

namespace vkrt::ref {

struct RefLlamaConfig {
    uint32_t n_layer = 0;
    uint32_t n_embd = 0;
    uint32_t n_head = 0;
    uint32_t n_head_kv = 0;  // divides n_head
    uint32_t head_dim = 0;   // 0 = n_embd / n_head
    uint32_t n_ff = 0;
    uint32_t n_vocab = 0;
    uint32_t n_ctx = 0;      // rows of the KV cache
    uint32_t n_rot = 0;      // 0 = head_dim
    float rope_base = 10000.0f;
    float rms_eps = 1e-5f;
    RopeMode rope_mode = RopeMode::norm;
    // KV cache element types (ggml ids of Format::F32 / F16 / Q8_0): K and V rows are rounded
    // to them as they are stored (ref::kv_store), as the GPU session's cache does.
    uint32_t type_k = uint32_t(Format::F32), type_v = uint32_t(Format::F32);

    uint32_t hd() const { return head_dim ? head_dim : (n_head ? n_embd / n_head : 0); }
    uint32_t q_dim() const { return n_head * hd(); }
    uint32_t kv_dim() const { return n_head_kv * hd(); }
};

// Float weights, (N,K) convention: a matrix producing N outputs from K inputs is N rows of K.
struct RefLlamaLayer {
    std::vector<float> attn_norm;  // (n_embd)
    std::vector<float> wq;         // (n_head*hd, n_embd)
    std::vector<float> wk;         // (n_head_kv*hd, n_embd)
    std::vector<float> wv;         // (n_head_kv*hd, n_embd)
    std::vector<float> wo;         // (n_embd, n_head*hd)
    std::vector<float> ffn_norm;   // (n_embd)
    std::vector<float> w_gate;     // (n_ff, n_embd)
    std::vector<float> w_up;       // (n_ff, n_embd)
    std::vector<float> w_down;     // (n_embd, n_ff)
};

struct RefLlamaWeights {
    std::vector<float> tok_embd;     // (n_vocab, n_embd)
    std::vector<RefLlamaLayer> layers;  // n_layer
    std::vector<float> output_norm;  // (n_embd)
    std::vector<float> output;       // (n_vocab, n_embd); empty = tied to tok_embd
};

// Loader hook: a free function that fills RefLlamaWeights (and RefLlamaConfig) from a
// loaded GGUF (dequantizing every tensor, GGUF names token_embd.weight,
// blk.N.attn_q.weight, ...) is written separately (e.g. runtime/ref/llama_ref_gguf.cpp):
//   RefLlamaWeights load_ref_llama_weights(const gguf::File& f, RefLlamaConfig* cfg);
// This header stays free of GGUF / Vulkan dependencies.

// Checks every weight's size against cfg; throws invalid_argument naming the first bad one.
void check_weights(const RefLlamaConfig& cfg, const RefLlamaWeights& w);

class RefLlama {
public:
    // Validates cfg and the weight shapes (invalid_argument), allocates the KV cache.
    RefLlama(const RefLlamaConfig& cfg, RefLlamaWeights weights);

    // tokens (M) at positions start_pos .. start_pos+M-1 -> logits (M, n_vocab).
    // Writes those rows of the KV cache; attends to rows 0 .. pos (earlier calls must
    // have filled rows < start_pos). start_pos + M > n_ctx -> limit_exceeded;
    // a token outside [0, n_vocab) -> invalid_argument.
    std::vector<float> forward(std::span<const int32_t> tokens, int32_t start_pos);

    // Clears the KV cache (zeros).
    void reset();

    const RefLlamaConfig& config() const { return cfg_; }
    const RefLlamaWeights& weights() const { return w_; }

private:
    RefLlamaConfig cfg_;
    RefLlamaWeights w_;
    std::vector<std::vector<float>> k_cache_, v_cache_;  // per layer (n_ctx, n_head_kv*hd)
};

}  // namespace vkrt::ref
