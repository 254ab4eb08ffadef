#version 450
// Per-token (per-row) int8 quantization of activations, one workgroup per row.
//
// Input values, per row m (K):
//   plain (FUSED=0):  y[m,k] = x[m,k] / smooth[k]                              (division only if SMOOTH)
//   fused (FUSED=1):  y[m,k] = ((x[m,k] * inv_rms) * w[k]) / smooth[k]         (division only if SMOOTH)
//                     inv_rms = 1 / sqrt(mean_k(x[m,:]^2) + eps)
// Quantization of a row y (K), by pc.flags (QF_* below; ops/quantize.cpp uses the same bits):
//   dynamic symmetric (default): amax = max_k |y[k]|, s = amax / 127,
//       q[k] = clamp(round_half_away(y[k] / s), -127, 127); amax == 0 -> s = 0, q = 0.
//   STATIC: s = static_scale[0] (per-tensor, calibrated); q[k] = clamp(round(y[k] / s), -127, 127);
//       s <= 0 or NaN -> q = 0. sx[m] = s for every row.
//   ASYM (uint8 + zero point, stored shifted to int8):
//       lo = min(min_k y, 0), hi = max(max_k y, 0), s = (hi - lo) / 255,
//       zp = clamp(round(-lo / s), 0, 255), q[k] = clamp(round(y[k] / s) + zp, 0, 255);
//       s == 0 -> q = 0, zp = 0. Stored: q'[k] = q[k] - 128 (int8), xzp[m] = zp - 128 (int32),
//       so that y ~= s * (q' - zp').
// Outputs: Xq (M,Kw) uint (int8 packed 4 per word), sx (M) float, xzp (M) int32 (ASYM only).
// Packed layout: Kw = ceil(K/4) words per row; element k of row m is byte (k & 3)
// (little-endian) of word Xq[m*Kw + k/4], as a two's-complement int8. The bytes
// of the last word past K are 0 (also in ASYM mode).
//
// Bindings (both variants; an unused one is bound to another operand by the host
// and never read or written): 0 x, 1 w (FUSED only), 2 smooth, 3 static_scale,
// 4 xq, 5 sx, 6 xzp.
//
// Reductions (sum of squares, absmax, min/max): subgroupAdd/Max (SUBGROUP=1, any
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
#endif
layout(binding = 2) readonly buffer S { float smooth_v[]; };
layout(binding = 3) readonly buffer SS { float static_scale[]; };
layout(binding = 4) writeonly buffer Q { uint xq[]; };
layout(binding = 5) writeonly buffer SX { float sx[]; };
layout(binding = 6) writeonly buffer ZP { int xzp[]; };
#include "shared/quantize.h"
layout(push_constant) uniform PC { QuantizePush pc; };  // eps: FUSED only

// Reduces (v.x, v.y) over the workgroup: op 0 = sum, 1 = max (each component).
// Ends with a barrier so `red` may be reused right after.
shared vec2 red[gl_WorkGroupSize.x];
vec2 wg_reduce(vec2 v, const uint op) {
    const uint tid = gl_LocalInvocationID.x;
    vec2 r;
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

// The 4 values y of word j of this row (0 past K), before quantization.
vec4 load4(uint base, uint j, float inv_rms) {
    vec4 v = vec4(0.0);
    const uint k0 = j * 4u;
    const bool do_smooth = (pc.flags & QF_SMOOTH) != 0u;
    for (uint i = 0u; i < 4u; ++i) {
        const uint k = k0 + i;
        if (k < pc.K) {
#if FUSED
            float y = (x[base + k] * inv_rms) * w[k];
#else
            float y = x[base + k];
#endif
            if (do_smooth) y = y / smooth_v[k];
            v[i] = y;
        }
    }
    return v;
}

void main() {
    const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (row >= pc.M) return;  // uniform per workgroup: no barrier divergence
    const uint tid = gl_LocalInvocationID.x, L = gl_WorkGroupSize.x;
    const uint base = row * pc.K;
    const bool is_static = (pc.flags & QF_STATIC) != 0u, asym = (pc.flags & QF_ASYM) != 0u;

    float inv_rms = 1.0;
#if FUSED
    {
        // Uniform trip counts before every reduction (see rmsnorm.comp).
        float s0 = 0.0, s1 = 0.0;
        for (uint k0 = 0u; k0 < pc.K; k0 += 2u * L) {
            const uint k = k0 + tid;
            if (k < pc.K) { const float a = x[base + k]; s0 += a * a; }
            if (k + L < pc.K) { const float b = x[base + k + L]; s1 += b * b; }
        }
        const float sum = wg_reduce(vec2(s0 + s1, 0.0), 0u).x;
        inv_rms = 1.0 / sqrt(sum / float(pc.K) + pc.eps);
    }
#endif

    // Pass 1 (dynamic modes): the row's range. r.x = max_k y (>= 0), r.y = max_k -y (>= 0),
    // so hi = r.x, lo = -r.y and amax = max(r.x, r.y), all exact.
    float s, zp = 0.0;
    bool nonzero;
    if (is_static) {
        s = static_scale[0];
        nonzero = s > 0.0;  // false for 0, negative and NaN
    } else {
        vec2 m = vec2(0.0);
        for (uint j0 = 0u; j0 < pc.Kw; j0 += L) {
            const uint j = j0 + tid;
            if (j < pc.Kw) {
                const vec4 v = load4(base, j, inv_rms);
                m = max(m, vec2(max(max(v.x, v.y), max(v.z, v.w)), -min(min(v.x, v.y), min(v.z, v.w))));
            }
        }
        const vec2 r = wg_reduce(m, 1u);
        if (asym) {
            s = (r.x - (-r.y)) / 255.0;
            nonzero = s != 0.0;
            if (nonzero) zp = clamp(round_away(r.y / s), 0.0, 255.0);  // -lo / s
        } else {
            const float amax = max(r.x, r.y);
            s = amax / 127.0;
            nonzero = amax > 0.0;
        }
    }

    // Pass 2: quantize and pack (one word per thread per step).
    const uint qbase = row * pc.Kw;
    for (uint j = tid; j < pc.Kw; j += L) {
        uint word = 0u;
        const uint nk = min(pc.K - j * 4u, 4u);  // elements of this word inside the row
        if (asym) {
            // q' = q - 128; q = 0 (q' = -128) when s == 0.
            const vec4 v = nonzero ? load4(base, j, inv_rms) : vec4(0.0);
            for (uint i = 0u; i < nk; ++i) {
                const float u = nonzero ? clamp(round_away(v[i] / s) + zp, 0.0, 255.0) : 0.0;
                word |= (uint(int(u) - 128) & 0xffu) << (8u * i);
            }
        } else if (nonzero) {
            const vec4 v = load4(base, j, inv_rms);
            for (uint i = 0u; i < 4u; ++i) {
                int q = int(clamp(round_away(v[i] / s), -127.0, 127.0));
                word |= (uint(q) & 0xffu) << (8u * i);
            }
        }
        xq[qbase + j] = word;
    }
    if (tid == 0u) {
        sx[row] = s;
        if (asym) xzp[row] = int(zp) - 128;
    }
}
