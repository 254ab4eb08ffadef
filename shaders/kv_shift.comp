#version 450
// The context shift's K re-rotation: K is cached after RoPE, rope(k, p), so moving a
// cached row from position p to p + delta rotates each pair once more by the angle of
// delta (rotations compose: rope(rope(k, p), delta) = rope(k, p + delta) in exact
// arithmetic; attn_factor must be 1, the host checks it).
//   src cache rows [src_row0, src_row0 + M) -> dst rows [0, M), same type (layouts in
//   shaders/kv_cache.glsl), width = n_head * head_dim elements a row;
//   theta = freq_scale * delta * freq_base^(-2i/n_rot) [/ factors[i]], the pair rotated
//   with the float operations of rope.comp; dims >= n_rot copied unchanged.
// An invocation per output element (f32) or per word of two elements (f16). dst must not
// alias src (the host moves rows through a scratch buffer: source and target rows overlap).
//! variant kv_shift_f32 KV_TYPE=0
//! variant kv_shift_f16 KV_TYPE=1
#include "vkrt_formats.glsl"
layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer S { uint src[]; };
layout(binding = 1) writeonly buffer D { uint dst[]; };
layout(binding = 2) readonly buffer FF { float factors[]; };  // (n_rot/2) when has_factors
#include "shared/kv_shift.h"
layout(push_constant) uniform PC { KvShiftPush pc; };
#include "kv_cache.glsl"

float load(uint r, uint e) { return KV_LOAD(KV_TYPE, src, r, e, pc.n_head * pc.head_dim); }

// Element d of head h of source row r, re-rotated.
float shifted(uint r, uint h, uint d) {
    const uint base = h * pc.head_dim;
    if (d >= pc.n_rot) return load(r, base + d);
    const uint half_rot = pc.n_rot / 2u;
    uint pr, i0, i1;
    if (pc.neox != 0u) { pr = d % half_rot; i0 = pr; i1 = pr + half_rot; }
    else               { pr = d / 2u; i0 = 2u * pr; i1 = i0 + 1u; }
    float theta = pc.freq_scale * float(pc.delta) * pow(pc.freq_base, -2.0 * float(pr) / float(pc.n_rot));
    if (pc.has_factors != 0u) theta /= factors[pr];
    const float c = cos(theta), s = sin(theta);
    const float a = load(r, base + i0), b = load(r, base + i1);
    precise float v;
    if (d == i0) v = a * c - b * s;
    else         v = a * s + b * c;
    return v;
}

void main() {
    const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    const uint width = pc.n_head * pc.head_dim;
#if KV_TYPE == VKRT_TYPE_F32
    if (i >= pc.M * width) return;
    const uint m = i / width, e = i - m * width, h = e / pc.head_dim;
    dst[i] = floatBitsToUint(shifted(pc.src_row0 + m, h, e - h * pc.head_dim));
#else
    // Word i of dst: elements 2i and 2i+1 (head_dim is even: one head).
    if (i >= pc.M * width / 2u) return;
    const uint m = (2u * i) / width, e = 2u * i - m * width, h = e / pc.head_dim, d = e - h * pc.head_dim;
    const uint r = pc.src_row0 + m;
    dst[i] = packHalf2x16(vec2(shifted(r, h, d), shifted(r, h, d + 1u)));
#endif
}
