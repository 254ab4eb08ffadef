#version 450
// Matrix-vector products for decode (GEMV, M small):
//   X (M,K) float . W (N,K)^T (GGUF rows) -> Y (M,N) float
//   Y[m,n] = sum_k X[m,k] * W[n,k]
// W is bound as uint words in its exact GGUF byte layout: F32 (TYPE=0), F16 (TYPE=1,
// 2 halves a word), Q4_0 (TYPE=2, 18-byte blocks), Q8_0 (TYPE=8, 34-byte blocks).
// Blocks are only 2-byte aligned: block g of the tensor (g = n*K/32 + b) starts at
// byte 18g (34g); a thread reads the 5 (9) words around it and funnel-shifts when the
// block starts at 2 mod 4. So the W view must be padded to a multiple of 4 bytes.
//
// Grid: one workgroup per NROWS output rows (x + y*gridX, 2D-folded) and NCOLS columns
// of X (z), so the weights are read once for NCOLS columns of X. The threads of a
// workgroup split K (thread t takes blocks t, t+L, ...: coalesced across the
// workgroup), each keeps NROWS*NCOLS accumulators (NROWS rows give independent loads),
// and the workgroup reduces them with subgroupAdd (SUBGROUP=1, any subgroup size) or a
// shared-memory tree (SUBGROUP=0, L must be a power of two).
//
// Dequantization without int->float conversions: a nibble / biased byte v is or-ed into
// the mantissa of the half 1024.0 (0x6400), unpackHalf2x16 gives 1024+v exactly, and
// subtracting 1032 (Q4_0: q-8) or 1152 (Q8_0: byte^0x80 - 128) gives the exact value.
//
// F16=1 (Q4_0/Q8_0 only, needs shaderFloat16): dequant d*(q-8) and the products in
// float16, 8 products summed in float16 (two f16vec2 lanes of 4), then float32
// accumulation. Needs |x| < 65504 and |d*q*x|*4 < 65504 (weights are O(1), so
// in practice |x| < ~8000); error per term <= ~6 * 2^-11 relative.
//
// INT_DOT=1 (Q4_0/Q8_0 only, needs VK_KHR_shader_integer_dot_product): X is given
// quantized by quantize_q8_1.comp (XQ: int8 words of (M,K), then per block of 32 of
// each row (d as float bits, sum of the 32 int8 as int)). Per block:
//   Q8_0: (float(sum_i sdot(w_i, x_i)) * d_x) * d_w
//   Q4_0: (float(sum_i sdot(nibbles_i, x_i) - 8 * sum(x_q)) * d_x) * d_w
// The integer sums are exact (OpSDot + int add; no saturation).
//! variant matvec_f32 TYPE=0 SUBGROUP=1
//! variant matvec_f32_nosg TYPE=0 SUBGROUP=0
//! variant matvec_f16 TYPE=1 SUBGROUP=1
//! variant matvec_f16_nosg TYPE=1 SUBGROUP=0
//! variant matvec_q4_0 TYPE=2 SUBGROUP=1
//! variant matvec_q4_0_nosg TYPE=2 SUBGROUP=0
//! variant matvec_q8_0 TYPE=8 SUBGROUP=1
//! variant matvec_q8_0_nosg TYPE=8 SUBGROUP=0
//! variant matvec_q4_0_f16 TYPE=2 F16=1 SUBGROUP=1
//! variant matvec_q4_0_f16_nosg TYPE=2 F16=1 SUBGROUP=0
//! variant matvec_q8_0_f16 TYPE=8 F16=1 SUBGROUP=1
//! variant matvec_q8_0_f16_nosg TYPE=8 F16=1 SUBGROUP=0
//! variant matvec_q4_0_int TYPE=2 INT_DOT=1 SUBGROUP=1
//! variant matvec_q4_0_int_nosg TYPE=2 INT_DOT=1 SUBGROUP=0
//! variant matvec_q8_0_int TYPE=8 INT_DOT=1 SUBGROUP=1
//! variant matvec_q8_0_int_nosg TYPE=8 INT_DOT=1 SUBGROUP=0
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
layout(constant_id = 2) const uint NCOLS = 1;  // columns of X per workgroup (1..8)

layout(binding = 0) readonly buffer W { uint w[]; };
#if INT_DOT
layout(binding = 1) readonly buffer XQ { uint xq[]; };
#elif TYPE == VKRT_TYPE_Q4_0 || TYPE == VKRT_TYPE_Q8_0
layout(binding = 1) readonly buffer X { vec4 x4[]; };  // K % 32 == 0: rows are vec4-aligned
#else
layout(binding = 1) readonly buffer X { float x[]; };
#endif
layout(binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform PC { uint M, N, K; } pc;

const uint L = gl_WorkGroupSize.x;
const uint NACC = NROWS * NCOLS;
shared float red[NACC * L];

float acc[NACC];  // acc[r * NCOLS + c]

#if TYPE == VKRT_TYPE_Q4_0 || TYPE == VKRT_TYPE_Q8_0
#if TYPE == VKRT_TYPE_Q4_0
#define BLOCK_BYTES 18u
#define BLOCK_WORDS 5u  // words read per block (covering 20 bytes)
#else
#define BLOCK_BYTES 34u
#define BLOCK_WORDS 9u
#endif
// Quant word i of a block whose BLOCK_WORDS words were read into bw[] from the word
// holding its first byte: the block starts at byte 0 (odd == false) or 2 (odd == true)
// of that word. (The fp16 scale d is the low or high half of that word.)
#define QWORD(bw, i, odd) ((odd) ? bw[(i) + 1u] : ((bw[i] >> 16) | (bw[(i) + 1u] << 16)))
#endif

void main() {
    const uint tid = gl_LocalInvocationID.x;
    const uint row0 = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * NROWS;
    if (row0 >= pc.N) return;  // uniform per workgroup
    const uint col0 = gl_WorkGroupID.z * NCOLS;
    const uint K = pc.K;
    for (uint i = 0u; i < NACC; ++i) acc[i] = 0.0;

#if TYPE == VKRT_TYPE_Q4_0 || TYPE == VKRT_TYPE_Q8_0
    const uint nb = K / 32u;
    for (uint b = tid; b < nb; b += L) {
        // Read the block of every row first (NROWS independent loads in flight).
        uint bw[NROWS * BLOCK_WORDS];
        bool odd[NROWS];
        for (uint r = 0u; r < NROWS; ++r) {
            const uint row = min(row0 + r, pc.N - 1u);  // rows past N: read row N-1, never stored
            const uint o = (row * nb + b) * BLOCK_BYTES;
            const uint wi = o >> 2;
            odd[r] = (o & 2u) != 0u;
            for (uint j = 0u; j < BLOCK_WORDS; ++j) bw[r * BLOCK_WORDS + j] = w[wi + j];
        }
#if INT_DOT
        // ---- int8 dot products with the quantized X
        for (uint c = 0u; c < NCOLS; ++c) {
            const uint col = min(col0 + c, pc.M - 1u);
            const uint qb = (col * K) / 4u + b * 8u;  // first int8 word of this X block
            uint xw[8];
            for (uint i = 0u; i < 8u; ++i) xw[i] = xq[qb + i];
            const uint mi = (pc.M * K) / 4u + 2u * (col * nb + b);
            const float dx = uintBitsToFloat(xq[mi]);
            const int sx = int(xq[mi + 1u]);
            for (uint r = 0u; r < NROWS; ++r) {
                const uint o0 = r * BLOCK_WORDS;
                const float dw = unpackHalf2x16(odd[r] ? (bw[o0] >> 16) : bw[o0]).x;
                int s = 0;
#if TYPE == VKRT_TYPE_Q4_0
                for (uint i = 0u; i < 4u; ++i) {
                    const uint q = QWORD(bw, o0 + i, odd[r]);
                    s += sdot(q & 0x0F0F0F0Fu, xw[i], 0);
                    s += sdot((q >> 4) & 0x0F0F0F0Fu, xw[i + 4u], 0);
                }
                s -= 8 * sx;
#else
                for (uint i = 0u; i < 8u; ++i) {
                    const uint q = QWORD(bw, o0 + i, odd[r]);
                    s += sdot(q, xw[i], 0);
                }
#endif
                acc[r * NCOLS + c] += (float(s) * dx) * dw;  // ref::matmul_q_i8's order
            }
        }
#else
        // ---- float dequantization
        float bs[NACC];  // block sums (before the scale d), or scaled sums with F16
        for (uint i = 0u; i < NACC; ++i) bs[i] = 0.0;
#if TYPE == VKRT_TYPE_Q4_0
        // Quant word i (0..3) holds elements 4i..4i+3 (low nibbles) and 16+4i..16+4i+3 (high).
        for (uint i = 0u; i < 4u; ++i) {
            vec4 xlo[NCOLS], xhi[NCOLS];
            for (uint c = 0u; c < NCOLS; ++c) {
                const uint col = min(col0 + c, pc.M - 1u);
                const uint xb = (col * K) / 4u + b * 8u;
                xlo[c] = x4[xb + i];
                xhi[c] = x4[xb + 4u + i];
            }
            for (uint r = 0u; r < NROWS; ++r) {
                const uint o0 = r * BLOCK_WORDS;
                const uint q = QWORD(bw, o0 + i, odd[r]);
                const uint q0 = (q & 0x000F000Fu) | 0x64006400u;          // elements 4i, 4i+2
                const uint q1 = ((q >> 8) & 0x000F000Fu) | 0x64006400u;   // 4i+1, 4i+3
                const uint q2 = ((q >> 4) & 0x000F000Fu) | 0x64006400u;   // 16+4i, 16+4i+2
                const uint q3 = ((q >> 12) & 0x000F000Fu) | 0x64006400u;  // 16+4i+1, 16+4i+3
#if F16
                const float16_t d = unpackFloat2x16(odd[r] ? (bw[o0] >> 16) : bw[o0]).x;
                const f16vec2 a0 = (unpackFloat2x16(q0) - float16_t(1032.0)) * d;
                const f16vec2 a1 = (unpackFloat2x16(q1) - float16_t(1032.0)) * d;
                const f16vec2 a2 = (unpackFloat2x16(q2) - float16_t(1032.0)) * d;
                const f16vec2 a3 = (unpackFloat2x16(q3) - float16_t(1032.0)) * d;
                for (uint c = 0u; c < NCOLS; ++c) {
                    const f16vec4 lo = f16vec4(xlo[c]), hi = f16vec4(xhi[c]);
                    f16vec2 s = a0 * lo.xz;
                    s = fma(a1, lo.yw, s);
                    s = fma(a2, hi.xz, s);
                    s = fma(a3, hi.yw, s);
                    bs[r * NCOLS + c] += float(s.x) + float(s.y);
                }
#else
                const vec2 a0 = unpackHalf2x16(q0) - 1032.0;
                const vec2 a1 = unpackHalf2x16(q1) - 1032.0;
                const vec2 a2 = unpackHalf2x16(q2) - 1032.0;
                const vec2 a3 = unpackHalf2x16(q3) - 1032.0;
                const vec4 wl = vec4(a0.x, a1.x, a0.y, a1.y), wh = vec4(a2.x, a3.x, a2.y, a3.y);
                for (uint c = 0u; c < NCOLS; ++c) bs[r * NCOLS + c] += dot(wl, xlo[c]) + dot(wh, xhi[c]);
#endif
            }
        }
#else  // Q8_0: quant word i (0..7) holds elements 4i..4i+3
        for (uint i = 0u; i < 8u; ++i) {
            vec4 xv[NCOLS];
            for (uint c = 0u; c < NCOLS; ++c) {
                const uint col = min(col0 + c, pc.M - 1u);
                xv[c] = x4[(col * K) / 4u + b * 8u + i];
            }
            for (uint r = 0u; r < NROWS; ++r) {
                const uint o0 = r * BLOCK_WORDS;
                const uint q = QWORD(bw, o0 + i, odd[r]) ^ 0x80808080u;
                const uint q0 = (q & 0x00FF00FFu) | 0x64006400u;         // elements 4i, 4i+2
                const uint q1 = ((q >> 8) & 0x00FF00FFu) | 0x64006400u;  // 4i+1, 4i+3
#if F16
                const float16_t d = unpackFloat2x16(odd[r] ? (bw[o0] >> 16) : bw[o0]).x;
                const f16vec2 a0 = (unpackFloat2x16(q0) - float16_t(1152.0)) * d;
                const f16vec2 a1 = (unpackFloat2x16(q1) - float16_t(1152.0)) * d;
                for (uint c = 0u; c < NCOLS; ++c) {
                    const f16vec4 xh = f16vec4(xv[c]);
                    f16vec2 s = a0 * xh.xz;
                    s = fma(a1, xh.yw, s);
                    bs[r * NCOLS + c] += float(s.x) + float(s.y);
                }
#else
                const vec2 a0 = unpackHalf2x16(q0) - 1152.0;
                const vec2 a1 = unpackHalf2x16(q1) - 1152.0;
                const vec4 wv = vec4(a0.x, a1.x, a0.y, a1.y);
                for (uint c = 0u; c < NCOLS; ++c) bs[r * NCOLS + c] += dot(wv, xv[c]);
#endif
            }
        }
#endif
#if F16
        for (uint i = 0u; i < NACC; ++i) acc[i] += bs[i];  // d already applied in float16
#else
        for (uint r = 0u; r < NROWS; ++r) {
            const uint o0 = r * BLOCK_WORDS;
            const float d = unpackHalf2x16(odd[r] ? (bw[o0] >> 16) : bw[o0]).x;
            for (uint c = 0u; c < NCOLS; ++c) acc[r * NCOLS + c] += d * bs[r * NCOLS + c];
        }
#endif
#endif  // INT_DOT
    }

#elif TYPE == VKRT_TYPE_F16
    if ((K & 1u) == 0u) {
        // Even K: rows are word aligned; thread t reads words t, t+L, ... (2 halves each).
        const uint kw = K / 2u;
        for (uint j = tid; j < kw; j += L) {
            vec2 wv[NROWS];
            for (uint r = 0u; r < NROWS; ++r) wv[r] = unpackHalf2x16(w[min(row0 + r, pc.N - 1u) * kw + j]);
            for (uint c = 0u; c < NCOLS; ++c) {
                const uint xb = min(col0 + c, pc.M - 1u) * K + 2u * j;
                const vec2 xv = vec2(x[xb], x[xb + 1u]);
                for (uint r = 0u; r < NROWS; ++r) acc[r * NCOLS + c] += dot(wv[r], xv);
            }
        }
    } else {
        // Odd K: rows start at any half; one half at a time.
        for (uint k = tid; k < K; k += L) {
            float wv[NROWS];
            for (uint r = 0u; r < NROWS; ++r) wv[r] = VKRT_LOAD_F16(w, 2u * (min(row0 + r, pc.N - 1u) * K + k));
            for (uint c = 0u; c < NCOLS; ++c) {
                const float xv = x[min(col0 + c, pc.M - 1u) * K + k];
                for (uint r = 0u; r < NROWS; ++r) acc[r * NCOLS + c] += wv[r] * xv;
            }
        }
    }

#else  // F32
    for (uint k = tid; k < K; k += L) {
        float wv[NROWS];
        for (uint r = 0u; r < NROWS; ++r) wv[r] = uintBitsToFloat(w[min(row0 + r, pc.N - 1u) * K + k]);
        for (uint c = 0u; c < NCOLS; ++c) {
            const float xv = x[min(col0 + c, pc.M - 1u) * K + k];
            for (uint r = 0u; r < NROWS; ++r) acc[r * NCOLS + c] += wv[r] * xv;
        }
    }
#endif

    // ---- reduce the NACC accumulators over the workgroup; thread i < NACC writes output i
#if SUBGROUP
    for (uint i = 0u; i < NACC; ++i) {
        const float v = subgroupAdd(acc[i]);
        if (subgroupElect()) red[i * L + gl_SubgroupID] = v;
    }
    barrier();
    if (tid < NACC) {
        float s = 0.0;
        for (uint j = 0u; j < gl_NumSubgroups; ++j) s += red[tid * L + j];
#else
    for (uint i = 0u; i < NACC; ++i) red[i * L + tid] = acc[i];
    barrier();
    for (uint h = L / 2u; h > 0u; h >>= 1u) {
        if (tid < h)
            for (uint i = 0u; i < NACC; ++i) red[i * L + tid] += red[i * L + tid + h];
        barrier();
    }
    if (tid < NACC) {
        const float s = red[tid * L];
#endif
        const uint r = tid / NCOLS, c = tid % NCOLS;
        if (row0 + r < pc.N && col0 + c < pc.M) y[(col0 + c) * pc.N + row0 + r] = s;
    }
}
