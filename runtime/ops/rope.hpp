// Rotary position embedding (shaders/rope.comp), llama.cpp modes NORM and NEOX.
// Positions come from a buffer (int32, one per row) so that a recorded decode
// command buffer can be resubmitted with a new position each token.
#pragma once
#include <cstdint>
#include <span>

#include "ops/kv_type.hpp"
#include "vk/buffer.hpp"
#include "vk/recorder.hpp"

namespace vkrt::ops {

// llama.cpp's mode values: NORM rotates adjacent pairs (x[2i], x[2i+1]) (llama),
// NEOX rotates halves (x[i], x[i + n_rot/2]).
enum class RopeMode : uint32_t { norm = 0, neox = 2 };

struct RopeParams {
    uint32_t n_head = 0;
    uint32_t head_dim = 0;  // even
    uint32_t n_rot = 0;     // even, <= head_dim (dims >= n_rot are copied unchanged); 0 = head_dim
    float freq_base = 10000.f;
    RopeMode mode = RopeMode::norm;
    float freq_scale = 1.f;   // linear rope scaling (1 / rope.scaling.factor)
    float attn_factor = 1.f;  // cos and sin multiplied by it (rope.scaling.attn_factor)
    BufferView factors;       // (n_rot/2) F32 frequency factors (rope_freqs.weight), or none
};

// x (M, n_head, head_dim), pos (M) int32 -> out (M, n_head, head_dim); out may be x.
//   theta(m, i) = freq_scale * pos[m] * freq_base^(-2i/n_rot) / factors[i], i in [0, n_rot/2)
// x_stride / out_stride: floats between consecutive rows (0 = n_head*head_dim), so x
// can be the Q or K slice of a fused QKV row.
void rope(Recorder& rec, const BufferView& x, const BufferView& pos, const BufferView& out, uint32_t M,
          const RopeParams& p, uint32_t x_stride = 0, uint32_t out_stride = 0);

// RoPE and KV-cache store in one pass:
// x (M, n_head, head_dim), pos (M) -> cache (rows, n_head, head_dim) of `type`,
//   row pos[m] % rows = rope(x[m]) rounded to the type as ops::kv_store rounds (ops/kv_type.hpp);
//   the rotated values are the float results of ops::rope, bit for bit (theta from pos[m]).
// The cache is a ring (see ops::kv_store); rows with pos < 0 are skipped by the shader
// (validate positions against the context with check_positions).
// The cache must not alias x.
void rope_store(Recorder& rec, const BufferView& x, const BufferView& pos, const BufferView& cache, uint32_t M,
                const RopeParams& p, uint32_t rows, uint32_t x_stride = 0, KvType type = KvType::f32);

// Host-side validation of a positions array before it is uploaded: every pos in [0, n_ctx).
void check_positions(std::span<const int32_t> pos, uint32_t n_ctx);

}  // namespace vkrt::ops
