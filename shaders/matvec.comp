#version 450
// Matrix-vector products for decode (GEMV, M small), any weight format with GPU kernels:
//   X (M,K) float . W (R,K)^T (GGUF rows) -> Y[:, base .. base+R)  of Y (M,N) float
//   Y[m, base + n] = sum_k X[m,k] * W[n,k]
// W is one part of a weight (rows base .. base+R of N; a weight above the device's
// binding limit is bound as several parts, ops/weights.hpp), bound as uint words in its
// exact GGUF byte layout and decoded by shaders/formats/<format>.glsl (TYPE = ggml type
// id; see formats/helpers.glsl for the decoder interface). Block formats need K % 32 == 0
// (K % 256 for the 256-element ones) and are processed in units of 32 elements (a block
// or a sub-block); scalar formats (F32, F16, BF16) take any K.
//
// Grid: one workgroup per NROWS output rows (x + y*gridX, 2D-folded) and NCOLS columns
// of X (z), so the weights are read once for NCOLS columns of X. The threads of a
// workgroup split K: thread t takes units t, t+L, ... (neighbouring threads read
// neighbouring bytes of a row: coalesced), keeps NROWS*NCOLS accumulators, and the
// workgroup reduces them with subgroupAdd (SUBGROUP=1, any subgroup size) or a
// shared-memory tree (SUBGROUP=0, L must be a power of two).
//
// F16=1 (block formats, needs shaderFloat16): the decoded unit (fmt_dq32's v, exact for
// the *_0 formats, rounded to half for the others) times x in float16, two products
// summed per lane, then float32 (scale s applied in float32). Needs |x|, |v| < 65504.
//
// INT_DOT=1 (formats flagged VKRT_K_INT, needs VK_KHR_shader_integer_dot_product): X is
// given quantized by quantize_q8_1.comp (XQ: int8 words of (M,K), then per block of 32 of
// each row (d_x as float bits, sum of the 32 int8 as int)). Per unit, with the decoder's
// packed int8 quants q, integer scales sc (one per 16 elements), d and min m:
//   s = sc.x * sum_{i<4} sdot(q_i, x_i) + sc.y * sum_{i>=4} sdot(q_i, x_i)    (exact int)
//   acc += (float(s) * d_x) * d   [+ m * (d_x * float(sum x_q)) for formats with a min]
//! variant-per-format matvec_{fmt} K_FLOAT SUBGROUP=1
//! variant-per-format matvec_{fmt}_nosg K_FLOAT SUBGROUP=0
//! variant-per-format matvec_{fmt}_f16 K_FLOAT_BLK F16=1 SUBGROUP=1
//! variant-per-format matvec_{fmt}_f16_nosg K_FLOAT_BLK F16=1 SUBGROUP=0
//! variant-per-format matvec_{fmt}_int K_INT INT_DOT=1 SUBGROUP=1
//! variant-per-format matvec_{fmt}_int_nosg K_INT INT_DOT=1 SUBGROUP=0
#include "common.glsl"

#ifndef F16
#define F16 0
#endif
#ifndef INT_DOT
#define INT_DOT 0
#endif

#if SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#if F16
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#endif
#if INT_DOT
#extension GL_EXT_spirv_intrinsics : require
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4450)
int sdot(uint a, uint b, spirv_literal int fmt);  // OpSDot, fmt 0 = PackedVectorFormat4x8Bit
#endif

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint NROWS = 2;  // output rows per workgroup
layout(constant_id = 2) const uint NCOLS = 1;  // columns of X per workgroup (1..32)

layout(binding = 0) readonly buffer W { uint w[]; };
#include "vkrt_decoder.glsl"
#if INT_DOT
layout(binding = 1) readonly buffer XQ { uint xq[]; };
#elif FMT_QK > 1
layout(binding = 1) readonly buffer X { vec4 x4[]; };  // K % 32 == 0: rows are vec4-aligned
#else
layout(binding = 1) readonly buffer X { float x[]; };
#endif
layout(binding = 2) writeonly buffer Y { float y[]; };
// N: Y's row length (all rows of the weight); R: rows of this part; base: its first row in Y.
#include "shared/matmul.h"
layout(push_constant) uniform PC { MatmulPush pc; };

const uint L = gl_WorkGroupSize.x;
const uint NACC = NROWS * NCOLS;
shared float red[NACC * L];

float acc[NACC];  // acc[r * NCOLS + c]

void main() {
    const uint tid = gl_LocalInvocationID.x;
    const uint row0 = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * NROWS;
    if (row0 >= pc.R) return;  // uniform per workgroup
    const uint col0 = gl_WorkGroupID.z * NCOLS;
    const uint K = pc.K;
    for (uint i = 0u; i < NACC; ++i) acc[i] = 0.0;

#if FMT_QK > 1
    const uint nu = K / 32u;                       // 32-element units of a row
    const uint row_bytes = (K / FMT_QK) * FMT_BYTES;
    const uint UPB = FMT_QK / 32u;                 // units per block
    for (uint u = tid; u < nu; u += L) {
        const uint ub = (u / UPB) * FMT_BYTES, us = u % UPB;
#if INT_DOT
        // ---- int8 dot products with the quantized X
        uint xw[NCOLS * 8];
        float dx[NCOLS];
        int sx[NCOLS];
        for (uint c = 0u; c < NCOLS; ++c) {
            const uint col = min(col0 + c, pc.M - 1u);  // columns past M: recomputed, never stored
            const uint qb = (col * K) / 4u + u * 8u;     // first int8 word of this X block
            for (uint i = 0u; i < 8u; ++i) xw[c * 8u + i] = xq[qb + i];
            const uint mi = (pc.M * K) / 4u + 2u * (col * nu + u);
            dx[c] = uintBitsToFloat(xq[mi]);
            sx[c] = int(xq[mi + 1u]);
        }
        for (uint r = 0u; r < NROWS; ++r) {
            const uint row = min(row0 + r, pc.R - 1u);  // rows past R: read row R-1, never stored
            uint q[8];
            ivec2 sc;
            float d, m;
            fmt_int32(row * row_bytes + ub, us, q, sc, d, m);
            for (uint c = 0u; c < NCOLS; ++c) {
                int s0 = 0, s1 = 0;
                for (uint i = 0u; i < 4u; ++i) {
                    s0 += sdot(q[i], xw[c * 8u + i], 0);
                    s1 += sdot(q[i + 4u], xw[c * 8u + i + 4u], 0);
                }
                const int s = sc.x * s0 + sc.y * s1;
                float t = (float(s) * dx[c]) * d;
#if FMT_INT_MIN
                t += m * (dx[c] * float(sx[c]));
#endif
                acc[r * NCOLS + c] += t;
            }
        }
#else
        // ---- float dequantization: the unit of every row first (NROWS decodes in flight),
        // then each 4 elements of X, read once, against every row
        vec4 v[NROWS * 8];
        float s[NROWS];
        for (uint r = 0u; r < NROWS; ++r) {
            vec4 vr[8];
            fmt_dq32(min(row0 + r, pc.R - 1u) * row_bytes + ub, us, vr, s[r]);
            for (uint i = 0u; i < 8u; ++i) v[r * 8u + i] = vr[i];
        }
        for (uint c = 0u; c < NCOLS; ++c) {
            const uint xb = (min(col0 + c, pc.M - 1u) * K) / 4u + u * 8u;
            float t[NROWS];
            for (uint r = 0u; r < NROWS; ++r) t[r] = 0.0;
#if F16
            for (uint i = 0u; i < 8u; i += 2u) {
                const f16vec4 x0 = f16vec4(x4[xb + i]), x1 = f16vec4(x4[xb + i + 1u]);
                for (uint r = 0u; r < NROWS; ++r) {
                    const f16vec4 p = fma(f16vec4(v[r * 8u + i + 1u]), x1, f16vec4(v[r * 8u + i]) * x0);
                    t[r] += (float(p.x) + float(p.y)) + (float(p.z) + float(p.w));
                }
            }
#else
            for (uint i = 0u; i < 8u; ++i) {
                const vec4 xv = x4[xb + i];
                for (uint r = 0u; r < NROWS; ++r) t[r] += dot(v[r * 8u + i], xv);
            }
#endif
            for (uint r = 0u; r < NROWS; ++r) acc[r * NCOLS + c] += s[r] * t[r];
        }
#endif  // INT_DOT
    }

#else  // scalar formats
#if FMT_PAIRS
    if ((K & 1u) == 0u) {
        // 16-bit formats, even K: rows are word aligned; thread t reads words t, t+L, ...
        const uint kw = K / 2u;
        for (uint j = tid; j < kw; j += L) {
            vec2 wv[NROWS];
            for (uint r = 0u; r < NROWS; ++r) wv[r] = fmt_pair(min(row0 + r, pc.R - 1u) * kw + j);
            for (uint c = 0u; c < NCOLS; ++c) {
                const uint xb = min(col0 + c, pc.M - 1u) * K + 2u * j;
                const vec2 xv = vec2(x[xb], x[xb + 1u]);
                for (uint r = 0u; r < NROWS; ++r) acc[r * NCOLS + c] += dot(wv[r], xv);
            }
        }
    } else
#endif
    {
        // One element at a time (F32; 16-bit formats with odd K, whose rows start at any half).
        for (uint k = tid; k < K; k += L) {
            float wv[NROWS];
            for (uint r = 0u; r < NROWS; ++r) wv[r] = fmt_elem(min(row0 + r, pc.R - 1u) * K + k);
            for (uint c = 0u; c < NCOLS; ++c) {
                const float xv = x[min(col0 + c, pc.M - 1u) * K + k];
                for (uint r = 0u; r < NROWS; ++r) acc[r * NCOLS + c] += wv[r] * xv;
            }
        }
    }
#endif

    // ---- reduce the NACC accumulators over the workgroup; thread i writes outputs i, i+L, ...
#if SUBGROUP
    for (uint i = 0u; i < NACC; ++i) {
        const float v = subgroupAdd(acc[i]);
        if (subgroupElect()) red[i * L + gl_SubgroupID] = v;
    }
    barrier();
    for (uint o = tid; o < NACC; o += L) {
        float s = 0.0;
        for (uint j = 0u; j < gl_NumSubgroups; ++j) s += red[o * L + j];
#else
    for (uint i = 0u; i < NACC; ++i) red[i * L + tid] = acc[i];
    barrier();
    for (uint h = L / 2u; h > 0u; h >>= 1u) {
        if (tid < h)
            for (uint i = 0u; i < NACC; ++i) red[i * L + tid] += red[i * L + tid + h];
        barrier();
    }
    for (uint o = tid; o < NACC; o += L) {
        const float s = red[o * L];
#endif
        const uint r = o / NCOLS, c = o % NCOLS;
        if (row0 + r < pc.R && col0 + c < pc.M) y[(col0 + c) * pc.N + pc.base + row0 + r] = s;
    }
}
