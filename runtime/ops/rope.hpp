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

// ---- the q, k, v step of a layer in one dispatch (shaders/rope_qkv.comp): what add_bias,
// the per-head rmsnorm of q and k, rope(q), rope_store(k) and kv_store(v) do, as one pass.
// q, k, v live in one float buffer: head c of token m of q starts at float
//   q0 + m * q_stride + c * head_dim,   of k / v at k0 / v0 + m * kv_stride + c * head_dim.
struct QkvStep {
    RopeParams rope;             // n_head, head_dim and the rotation (n_rot, bases, mode, factors)
    bool rope_on = true;         // false: q and k are not rotated
    uint32_t n_head_kv = 0;
    uint32_t q0 = 0, k0 = 0, v0 = 0, q_stride = 0, kv_stride = 0;
    BufferView bias;             // one row of the buffer's layout (q at q0, k at k0, v at v0), or none
    BufferView q_norm, k_norm;   // per-head rmsnorm weights (head_dim each), both or none
    float eps = 1e-6f;           // their epsilon
    uint32_t rows = 0;           // the caches' ring rows: token m goes to row pos[m] % rows
    KvType k_type = KvType::f16, v_type = KvType::f16;
};
// Whether rope_qkv runs these cache types: F32, F16 and q8_0 rows (a q8_0 block of a head
// smaller than 32 spans heads: the workgroup of the head it starts in writes it).
bool rope_qkv_supported(KvType k_type, KvType v_type);
// qkv (the buffer above; q rewritten in place: rope(norm(q + bq))), pos (M) ->
// k_cache row pos[m] % rows = rope(norm(k + bk)), v_cache row pos[m] % rows = v + bv, each
// rounded to its cache type as ops::kv_store rounds. Rows with pos < 0 store nothing.
// The caches must not alias qkv.
void rope_qkv(Recorder& rec, const BufferView& qkv, const BufferView& pos, const BufferView& k_cache,
              const BufferView& v_cache, uint32_t M, const QkvStep& s);

// Host-side validation of a positions array before it is uploaded: every pos in [0, n_ctx).
void check_positions(std::span<const int32_t> pos, uint32_t n_ctx);

}  // namespace vkrt::ops
