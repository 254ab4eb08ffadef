// Push constants of the rotary-embedding kernels: shaders/rope.comp (rope, rope_store)
// and shaders/rope_qkv.comp (the fused q/k/v step of a layer); host side runtime/ops/rope.cpp.
#ifndef VKRT_SHARED_ROPE_H
#define VKRT_SHARED_ROPE_H
#include "shared/shared.h"
VKRT_SHARED_BEGIN

// rope.comp: x (M, n_head, head_dim) -> out, rows x_stride / out_stride floats apart;
// out_by_pos = 1: out row pos[m] % rows of a KV cache (rope_store).
struct RopePush {
    uint M, n_head, head_dim, n_rot;
    float freq_base;
    uint neox;        // 0 = NORM (adjacent pairs), 1 = NEOX (halves)
    uint x_stride;    // floats between rows of x
    uint out_stride;  // floats between rows of out
    uint out_by_pos;  // 1: out row = pos[m] % rows (a KV cache of `rows` rows)
    uint rows;
    float freq_scale;
    float attn_factor;
};
VKRT_SIZE_CHECK(RopePush, 12)

// rope_qkv.comp: the q, k, v projections of M tokens (one buffer x) after the QKV matrix,
// in one dispatch: q [+ bias] [-> per-head rmsnorm] [-> rope] in place; k the same into
// the K cache, v [+ bias] into the V cache (rows pos[m] % rows). Head c of row m of
// q starts at float q0 + m * q_stride + c * head_dim of x, of k / v at k0 / v0 + m *
// kv_stride + c * head_dim; the bias (one fused row) at float q0 / k0 / v0 + c * head_dim.
struct RopeQkvPush {
    uint M, n_head, n_head_kv, head_dim;
    uint n_rot;  // rotated dims of a head (even, <= head_dim)
    float freq_base, freq_scale, attn_factor;
    uint neox;   // 0 = NORM, 1 = NEOX
    uint q0, k0, v0;
    uint q_stride, kv_stride;
    uint rows;   // rows of the caches' rings
    float eps;   // the q/k norms' epsilon
};
VKRT_SIZE_CHECK(RopeQkvPush, 16)

VKRT_SHARED_END
#endif
