#version 450
// Rotary position embedding (llama.cpp ggml_rope, modes NORM and NEOX):
//   x (M, n_head, head_dim) float, pos (M) int32 -> out (M, n_head, head_dim)
// For pair i in [0, n_rot/2): theta = freq_scale * pos[m] * freq_base^(-2i/n_rot) / factor[i]
//   (float pow, as llama.cpp; factor = 1 without FACTORS, else the file's rope_freqs /
//   rope_factors_* values), cos and sin scaled by attn_factor (ggml_rope_ext, no YaRN ramp),
//   NORM (mode 0): (x[2i], x[2i+1])          rotated by theta
//   NEOX (mode 2): (x[i],  x[i + n_rot/2])   rotated by theta
//   (a, b) -> (a cos - b sin, a sin + b cos); dims >= n_rot are copied unchanged.
// Rows are addressed with strides (in floats) so that x can be a slice of a fused
// QKV row, and out can be a KV cache: with out_by_pos = 1 the result of row m goes
// to out row pos[m] % rows (skipped when pos[m] < 0; the cache is a ring of `rows` rows,
// see shaders/kv_store.comp): RoPE on K and the cache store in one pass.
// Variants by output type (and FACTORS=1: per-pair frequency factors in binding 3):
//   rope (float out): an invocation per rotated pair; out may alias x (each invocation
//     reads its pair, then writes it).
//   rope_store_f16 / rope_store_q8_0 (out_by_pos = 1, out a cache of that type, row
//     layouts in shaders/kv_cache.glsl, out_stride unused): an invocation per output
//     word (dims 2k, 2k+1 of a row) or per 32-element q8_0 block of a row (blocks may
//     span heads); out must not alias x. Each element is rotated with the same float
//     operations as in `rope` (`precise`: no contraction), then rounded to the cache type.
//! variant rope OUT_TYPE=0 FACTORS=0
//! variant rope_store_f16 OUT_TYPE=1 FACTORS=0
//! variant rope_store_q8_0 OUT_TYPE=8 FACTORS=0
//! variant rope_factors OUT_TYPE=0 FACTORS=1
//! variant rope_factors_store_f16 OUT_TYPE=1 FACTORS=1
//! variant rope_factors_store_q8_0 OUT_TYPE=8 FACTORS=1
#include "vkrt_formats.glsl"
layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer P { int pos[]; };
#if OUT_TYPE == VKRT_TYPE_F32
layout(binding = 2) writeonly buffer O { float o[]; };
#elif OUT_TYPE == VKRT_TYPE_F16
layout(binding = 2) writeonly buffer O { uint o[]; };
#else
layout(binding = 2) buffer O { uint o[]; };  // read-write: shared words are merged with atomics
#endif
#if FACTORS
layout(binding = 3) readonly buffer FF { float factors[]; };  // (n_rot/2)
#endif
#include "shared/rope.h"
layout(push_constant) uniform PC { RopePush pc; };
#if OUT_TYPE == VKRT_TYPE_Q8_0
#define KV_OUT o
#endif
#include "kv_cache.glsl"
#define ROPE_FACTORS FACTORS
#include "rope.glsl"

#if OUT_TYPE != VKRT_TYPE_F32
// Output dim i of head h of row m (x row base xb), position p.
float rope_elem(uint xb, uint i, int p) {
    const uint half_rot = pc.n_rot / 2u;
    if (i >= pc.n_rot) return x[xb + i];
    uint pr, i0, i1;
    if (pc.neox != 0u) { pr = i % half_rot; i0 = pr; i1 = pr + half_rot; }
    else               { pr = i / 2u; i0 = 2u * pr; i1 = i0 + 1u; }
    const vec2 r = rotate(x[xb + i0], x[xb + i1], theta_of(p, pr));
    return i == i0 ? r.x : r.y;
}
#endif

#if OUT_TYPE == VKRT_TYPE_Q8_0
// Element j of the q8_0 block at element ctx.y of x's row ctx.x (position ctx.z), rotated:
// a block may span heads (head_dim 32k or not), so the head is found per element.
float kv_q8_0_value(uvec4 ctx, uint j) {
    const uint e = ctx.y + j, h = e / pc.head_dim;
    return rope_elem(ctx.x * pc.x_stride + h * pc.head_dim, e - h * pc.head_dim, int(ctx.z));
}
#endif

void main() {
    const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
#if OUT_TYPE == VKRT_TYPE_F32
    const uint half_hd = pc.head_dim / 2u;
    if (i >= pc.M * pc.n_head * half_hd) return;
    const uint pr = i % half_hd;  // pair index within the head
    const uint mh = i / half_hd;
    const uint h = mh % pc.n_head, m = mh / pc.n_head;
    const int p = pos[m];
    uint orow = m;
    if (pc.out_by_pos != 0u) {
        if (p < 0) return;
        orow = uint(p) % pc.rows;
    }
    const uint xb = m * pc.x_stride + h * pc.head_dim;
    const uint ob = orow * pc.out_stride + h * pc.head_dim;
    const uint half_rot = pc.n_rot / 2u;
    if (pr < half_rot) {
        uint i0, i1;
        if (pc.neox != 0u) { i0 = pr; i1 = pr + half_rot; }
        else               { i0 = 2u * pr; i1 = i0 + 1u; }
        const vec2 r = rotate(x[xb + i0], x[xb + i1], theta_of(p, pr));
        o[ob + i0] = r.x;
        o[ob + i1] = r.y;
    } else {
        // Pass-through dims: n_rot + 2*(pr - half_rot) and the next one.
        const uint j = pc.n_rot + 2u * (pr - half_rot);
        o[ob + j] = x[xb + j];
        o[ob + j + 1u] = x[xb + j + 1u];
    }
#else
    // Cache rows of width = n_head * head_dim elements, in units of UNIT elements.
#if OUT_TYPE == VKRT_TYPE_F16
    const uint UNIT = 2u;
#else
    const uint UNIT = 32u;
#endif
    const uint width = pc.n_head * pc.head_dim, units = width / UNIT;
    if (i >= pc.M * units) return;
    const uint m = i / units, u = i - m * units;
    const int p = pos[m];
    if (p < 0) return;
    const uint row = uint(p) % pc.rows;
    const uint e0 = u * UNIT;  // first element of the unit in the row
#if OUT_TYPE == VKRT_TYPE_F16
    // head_dim is even: both dims are in one head.
    const uint h = e0 / pc.head_dim, d = e0 - h * pc.head_dim;
    const uint xb = m * pc.x_stride + h * pc.head_dim;
    o[(row * width + e0) >> 1] = packHalf2x16(vec2(rope_elem(xb, d, p), rope_elem(xb, d + 1u, p)));
#else
    kv_store_q8_0_block(KV_Q8_0_BLOCK(row, e0, width), uvec4(m, e0, uint(p), 0u));
#endif
#endif
}
