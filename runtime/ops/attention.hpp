// KV cache store (shaders/kv_store.comp) and causal attention over the cache
// (shaders/attention.comp). Positions come from an int32 buffer (one per query
// row), so a recorded decode command buffer is reused across tokens.
#pragma once
#include <cstdint>

#include "vk/buffer.hpp"
#include "vk/recorder.hpp"

namespace vkrt::ops {

// src (M, width), pos (M) int32 -> cache (n_ctx, width): cache[pos[m], :] = src[m, :].
// Rows with pos outside [0, n_ctx) are skipped by the shader (validate with check_positions).
void kv_store(Recorder& rec, const BufferView& src, const BufferView& pos, const BufferView& cache, uint32_t M,
              uint32_t width, uint32_t n_ctx);

struct AttentionShape {
    uint32_t n_head = 0;
    uint32_t n_head_kv = 0;  // divides n_head (grouped-query: head h reads kv head h / (n_head/n_head_kv))
    uint32_t head_dim = 0;   // 1..256
    uint32_t n_ctx = 0;      // rows of each cache
};

// q (M, n_head, hd), K cache (n_ctx, n_head_kv, hd), V cache (n_ctx, n_head_kv, hd), pos (M) int32
//   -> out (M, n_head, hd): out[m,h] = softmax_j(scale * q[m,h] . K[j,kvh]) . V[j,kvh], j = 0..pos[m].
// scale = 0 means 1/sqrt(hd). q_stride / out_stride: floats between rows (0 = n_head*hd).
// No scratch memory: an online softmax walks the kv rows in tiles (see the shader).
void attention(Recorder& rec, const BufferView& q, const BufferView& k_cache, const BufferView& v_cache,
               const BufferView& pos, const BufferView& out, uint32_t M, const AttentionShape& s, float scale = 0.f,
               uint32_t q_stride = 0, uint32_t out_stride = 0);

}  // namespace vkrt::ops
