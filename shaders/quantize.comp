#version 450
// Per-token (per-row) symmetric int8 quantization, one workgroup per row.
//
// Plain (FUSED=0):
//   X (M,K) float -> Xq (M,Kw) uint (int8 packed 4 per word), sx (M) float
// Fused RMSNorm + quantize (FUSED=1):
//   X (M,K) float, w (K) float, smooth (K) float -> Xq, sx as above, quantizing
//   y[m,k] = ((x[m,k] * inv_rms) * w[k]) / smooth[k]   (the division only if has_smooth)
//   inv_rms = 1 / sqrt(mean_k(x[m,:]^2) + eps)
//
// Quantization of a row v (K): amax = max_k |v[k]|, s = amax / 127,
//   q[k] = clamp(round_half_away(v[k] / s), -127, 127), sx[m] = s;
//   a row with amax == 0 gets s = 0 and q = 0.
// Packed layout: Kw = ceil(K/4) words per row; element k of row m is byte (k & 3)
// (little-endian) of word Xq[m*Kw + k/4], as a two's-complement int8. The bytes
// of the last word past K are 0.
//
// Reductions (sum of squares, absmax): subgroupAdd/Max (SUBGROUP=1, any
// subgroup size) or a shared-memory tree (SUBGROUP=0; the workgroup size must
// be a power of two). Each thread owns whole words (4 consecutive elements), so
// the packed store is one uint per thread and needs no atomics.
//! variant quantize_rows_sg FUSED=0 SUBGROUP=1
//! variant quantize_rows_shared FUSED=0 SUBGROUP=0
//! variant rmsnorm_quantize_rows_sg FUSED=1 SUBGROUP=1
//! variant rmsnorm_quantize_rows_shared FUSED=1 SUBGROUP=0
#if SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer X { float x[]; };
#if FUSED
layout(binding = 1) readonly buffer W { float w[]; };
layout(binding = 2) readonly buffer S { float smooth_v[]; };
layout(binding = 3) writeonly buffer Q { uint xq[]; };
layout(binding = 4) writeonly buffer SX { float sx[]; };
layout(push_constant) uniform PC { uint M; uint K; uint Kw; float eps; uint has_smooth; } pc;
#else
layout(binding = 1) writeonly buffer Q { uint xq[]; };
layout(binding = 2) writeonly buffer SX { float sx[]; };
layout(push_constant) uniform PC { uint M; uint K; uint Kw; } pc;
#endif

shared float red[gl_WorkGroupSize.x];

// op 0 = sum, 1 = max. Ends with a barrier so `red` may be reused right after.
float wg_reduce(float v, const uint op) {
    const uint tid = gl_LocalInvocationID.x;
    float r;
#if SUBGROUP
    v = (op == 0u) ? subgroupAdd(v) : subgroupMax(v);
    if (subgroupElect()) red[gl_SubgroupID] = v;
    barrier();
    r = red[0];
    for (uint i = 1u; i < gl_NumSubgroups; ++i) r = (op == 0u) ? r + red[i] : max(r, red[i]);
#else
    red[tid] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2u; s > 0u; s >>= 1u) {
        if (tid < s) red[tid] = (op == 0u) ? red[tid] + red[tid + s] : max(red[tid], red[tid + s]);
        barrier();
    }
    r = red[0];
#endif
    barrier();
    return r;
}

// round half away from zero (std::round), exact for any float.
float round_away(float v) {
    float t = trunc(v);
    return (abs(v - t) >= 0.5) ? t + sign(v) : t;
}

// The 4 values of word j of this row (0 past K), before quantization.
vec4 load4(uint base, uint j, float inv_rms) {
    vec4 v = vec4(0.0);
    const uint k0 = j * 4u;
    for (uint i = 0u; i < 4u; ++i) {
        const uint k = k0 + i;
        if (k < pc.K) {
#if FUSED
            float y = (x[base + k] * inv_rms) * w[k];
            if (pc.has_smooth != 0u) y = y / smooth_v[k];
            v[i] = y;
#else
            v[i] = x[base + k];
#endif
        }
    }
    return v;
}

void main() {
    const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (row >= pc.M) return;  // uniform per workgroup: no barrier divergence
    const uint tid = gl_LocalInvocationID.x, L = gl_WorkGroupSize.x;
    const uint base = row * pc.K;

    float inv_rms = 1.0;
#if FUSED
    {
        float s0 = 0.0, s1 = 0.0;
        uint k = tid;
        for (; k + L < pc.K; k += 2u * L) {
            float a = x[base + k], b = x[base + k + L];
            s0 += a * a;
            s1 += b * b;
        }
        if (k < pc.K) { float a = x[base + k]; s0 += a * a; }
        const float sum = wg_reduce(s0 + s1, 0u);
        inv_rms = 1.0 / sqrt(sum / float(pc.K) + pc.eps);
    }
#endif

    // Pass 1: absmax of the row.
    float m = 0.0;
    for (uint j = tid; j < pc.Kw; j += L) {
        vec4 v = abs(load4(base, j, inv_rms));
        m = max(m, max(max(v.x, v.y), max(v.z, v.w)));
    }
    const float amax = wg_reduce(m, 1u);
    const float s = amax / 127.0;

    // Pass 2: quantize and pack (one word per thread per step).
    const uint qbase = row * pc.Kw;
    for (uint j = tid; j < pc.Kw; j += L) {
        uint word = 0u;
        if (amax > 0.0) {
            vec4 v = load4(base, j, inv_rms);
            for (uint i = 0u; i < 4u; ++i) {
                int q = int(clamp(round_away(v[i] / s), -127.0, 127.0));
                word |= (uint(q) & 0xffu) << (8u * i);
            }
        }
        xq[qbase + j] = word;
    }
    if (tid == 0u) sx[row] = s;
}
