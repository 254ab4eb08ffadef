#version 450
// Matrix-vector products for decode (GEMV, M small), any weight format with GPU kernels:
//   X (M,K) float . W (R,K)^T (GGUF rows) -> Y[:, base .. base+R)  of Y (M,N) float
//   Y[m, base + n] = sum_k X[m,k] * W[n,k]
// W is one part of a weight (rows base .. base+R of N; a weight above the device's
// binding limit is bound as several parts, ops/weights.hpp), bound as uint words in its
// GGUF byte layout, or (every block format) in the grouped layout that
// ops::upload_weight repacks them into (16-byte aligned quants, a unit's quants loaded
// as vectors by consecutive lanes), and decoded by shaders/formats/<format>.glsl (TYPE = ggml type id;
// see formats/helpers.glsl for the decoder interface and the layouts). Block formats need K % 32 == 0
// (K % 256 for the 256-element ones) and are processed in units of 32 elements (a block
// or a sub-block); scalar formats (F32, F16, BF16) take any K.
//
// Accumulators and unit arrays are indexed by constants once loops of constant trip count
// are unrolled; the column loop, which a compiler may keep rolled for its size, adds to acc
// through acc_turn (constant indices; NVK otherwise keeps acc in local memory). Where the
// compiler unrolls nothing (ROLLED, Arm Mali) the float path uses no unit arrays.
//
// Grid: one workgroup per NROWS output rows (x + y*gridX, 2D-folded) and NCOLS columns
// of X (z), so the weights are read once for NCOLS columns of X. The threads of a
// workgroup split K: thread t takes units t, t+L, ... (neighbouring threads read
// neighbouring bytes of a row: coalesced), keeps NROWS*NCOLS accumulators, and the
// workgroup reduces them with subgroupAdd (SUBGROUP=1, any subgroup size; no shared
// memory and no barrier where the workgroup is one subgroup) or a shared-memory tree
// (SUBGROUP=0, L must be a power of two).
//
// F16=1 (formats with the integer interface, formats.def VKRT_K_INT; needs shaderFloat16):
// the float16 GEMV. The decoder's int8 quants go straight to float16 (no float32 on the
// way: f16_quants), the products and their first sums are float16 vector FMAs, and the
// sums go to float32 once per 16 elements (scaled there by the sub-scale, as the integer
// path does):
//   acc += ((sc.x * h_0 + sc.y * h_1) * 2^e) * d [+ m * sum x | + m * (mh.x * sum_0 x + mh.y * sum_1 x)]
//   h_j = sum over the 16 elements of half j of q * x',  x' = x * 2^-e
// as a float16 vector pair: lane 0 sums elements 0, 2 of each word of quants, lane 1
// elements 1, 3 (two chains of 4 FMAs each, added), and the two lanes add in float32.
// Float16 overflows at 65504 and goes subnormal below 2^-14 (which a GPU may flush to
// zero), while real activations reach thousands (an outlier channel times a quant of 127
// is far past 65504) and fall to 1e-6: so each column's x of a unit is scaled by a power
// of two 2^-e (exact) to max |x'| in [2^F16_XT, 2^(F16_XT+1)) before it becomes float16
// (rounding may reach 2^(F16_XT+1) itself), and the sums are scaled back by 2^e in float32.
// No float16 value can overflow: |q| <= 128 (int8), |x'| <= 2^(F16_XT+1) = 32, so a
// product is at most 2^12 and a lane's sum, 8 products, at most 2^15 = 32768 < 65504, as
// is every partial sum on the way (fewer products; rounding a value within the bound
// cannot pass it, as the bound is a float16). Only elements below 2^-18 of the unit's
// largest |x| become subnormal (where flushed to zero, an error below 2^-18 * |q| * max|x|
// an element: far below the rounding's). Rounding (unit u = 2^-11): x' once, then at
// most 4 along a chain (a product and 3 FMAs, each at most a product and a sum rounded
// apart) and the chains' sum: h_j within 6u * sum |q x'| to first order.
//
// INT_DOT=1 (formats flagged VKRT_K_INT, needs VK_KHR_shader_integer_dot_product): X is
// given quantized by quantize_q8_1.comp (XQ: int8 words of (M,K), then per block of 32 of
// each row (d_x as float bits, sum of the 32 int8 as int)). Per unit, with the decoder's
// packed int8 quants q, integer scales sc (one per 16 elements), d and min m:
//   s = sc.x * sum_{i<4} sdot(q_i, x_i) + sc.y * sum_{i>=4} sdot(q_i, x_i)    (exact int)
//   acc += (float(s) * d_x) * d   [+ m * (d_x * float(sum x_q)) for formats with a min]
// and for a min per 16 elements (FMT_INT_M16: Q2_K) the integer sums h_x of X's two halves
// (once per column and unit: the first by sdot with 0x01010101, the second the block's sum
// less the first), as mmq.comp:
//   acc += (float(s) * d_x) * d + m * (d_x * float(mh.x * h_x.x + mh.y * h_x.y))
//! variant-per-format matvec_{fmt} K_FLOAT SUBGROUP=1
//! variant-per-format matvec_{fmt}_nosg K_FLOAT SUBGROUP=0
//! variant-per-format matvec_{fmt}_f16 K_INT F16=1 SUBGROUP=1
//! variant-per-format matvec_{fmt}_f16_nosg K_INT F16=1 SUBGROUP=0
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
layout(constant_id = 4) const uint EPI = 0;    // epilogue: kEpiNone / kEpiResidual / kEpiSwiglu / kEpiGeglu
// The device's compiler keeps loops rolled (caps.unrolls_loops false: Arm Mali): the float
// path of the block formats then decodes 4 elements at a time (fmt_dq4) straight into the
// sums, with no private array but acc. Its unit arrays, indexed in rolled loops, are
// dynamically indexed registers there, on which Mesa 25.0's Mali backend spends minutes.
layout(constant_id = 5) const bool ROLLED = false;

layout(binding = 0) readonly buffer W { uint w[]; };
layout(binding = 0) readonly buffer W4 { uvec4 w4[]; };  // the same weights, 16-byte loads
#define FMT_HAVE_W4
#define FMT_LAYOUT_ID 3  // the weight's layout (ops/weights.hpp: gguf or grouped)
#include "vkrt_decoder.glsl"
#if INT_DOT
layout(binding = 1) readonly buffer XQ { uint xq[]; };
#elif FMT_QK > 1
layout(binding = 1) readonly buffer X { vec4 x4[]; };  // K % 32 == 0: rows are vec4-aligned
#else
layout(binding = 1) readonly buffer X { float x[]; };
#endif
layout(binding = 2) writeonly buffer Y { float y[]; };
layout(binding = 3) readonly buffer RES { float res[]; };  // the residual (EPI == kEpiResidual; may alias Y)
// N: Y's row length (all rows of the weight); R: rows of this part; base: its first row in Y.
#include "shared/matmul.h"
layout(push_constant) uniform PC { MatmulPush pc; };
#include "activation.glsl"

// ---- GLU epilogue with q8_1 output (EPI_Q8, with a GLU; the host binds 4 and 5 to Y
// otherwise, never touched): Y's rows also as the q8_1 activations (M, N) (shared/q8_1.h,
// N % 32 == 0) that the next integer GEMV (Wdown) reads, so no quantize_q8_1 pass. A
// block's 32 values come from 32 output rows of 32 / NOUT workgroups (NOUT divides 32:
// a workgroup's rows lie in one block): each workgroup stores its rows of Y (coherent),
// and the one that completes a block (arrival.glsl: a counter per (column, block) in
// binding 5, zero before and after the dispatch) reads the block back and quantizes it.
layout(constant_id = 6) const bool EPI_Q8 = false;
layout(binding = 2) coherent buffer YC { float yc[]; };  // Y, read back by the completing workgroup
layout(binding = 4) writeonly buffer YQ { uint yq[]; };  // the q8_1 rows of Y
#define Q8_OUT_WORDS yq

const uint L = gl_WorkGroupSize.x;
const bool GLU = EPI == kEpiSwiglu || EPI == kEpiGeglu;
const uint NOUT = GLU ? NROWS / 2u : NROWS;  // output rows per workgroup
const uint NACC = NROWS * NCOLS;
shared float red[NACC * L];
// EPI_Q8's block counters (binding 5) and writer. The arrival flag is red[0]: the stores
// have read red by then, and the GEMV's shapes fill the shared memory to the byte.
#define ARRIVAL_BINDING 5
#define ARRIVAL_FLAG red[0]
#include "arrival.glsl"
#include "shared/q8_1.h"
#include "q8_1.glsl"

float acc[NACC];  // acc[r * NCOLS + c]
uint row0;        // the workgroup's first output row (of this part)

// acc[r * NCOLS + c] += a for the current column c of a column loop the compiler may keep
// rolled (its body is large): indexed by c, acc would be a dynamically indexed array, which
// NVK keeps in local memory (scratch). Each row's NCOLS accumulators turn as a queue
// instead, indexed by constants only: the front is the current column's, the sum goes to the
// back, and after NCOLS turns (one column loop) they are in place again. A compiler that
// unrolls the loop removes the moves. Workgroups of more than 8 columns (only CPU
// implementations get them: gemv_shape's 32-column prefill on lavapipe) index acc directly,
// as the turns would cost NCOLS - 1 moves a sum there.
void acc_turn(uint r, uint c, float a) {
    if (NCOLS > 8u) {
        acc[r * NCOLS + c] += a;
        return;
    }
    const float f = acc[r * NCOLS] + a;
    for (uint j = 0u; j + 1u < NCOLS; ++j) acc[r * NCOLS + j] = acc[r * NCOLS + j + 1u];
    acc[r * NCOLS + NCOLS - 1u] = f;
}

// The weight row of accumulator row r. Rows past the end read the last row and are never
// stored. With a GLU the weight is [gate (F rows); up (F rows)], F = pc.N: rows r < NOUT
// are gate rows row0 + r, the others the up rows F + row0 + r - NOUT of the same outputs.
uint wrow(uint r) {
    if (GLU) return (r < NOUT ? 0u : pc.N) + min(row0 + (r < NOUT ? r : r - NOUT), pc.N - 1u);
    return min(row0 + r, pc.R - 1u);
}

#if F16
// Largest |x'| of a unit in [2^F16_XT, 2^(F16_XT+1)): 8 products of an int8 quant and x'
// stay within 8 * 128 * 2^5 = 32768 (see the top).
const int F16_XT = 4;
// The 32 elements of x at vec4 index xb as float16 x' = x * 2^-e in the quants' pair
// order (f16_quants: xe[i] = elements 4i, 4i+2; xo[i] = 4i+1, 4i+3), and 2^e. The power
// of two comes from the exponent bits of max |x| (an all-zero unit gets the largest
// scale, 2^127: still zeros). Units whose max |x| is below 2^(F16_XT-126) are not fully
// normalized, and 2^e underflows to 0 for the smallest: such activations are far below
// any float32 sum.
void f16_unit_x(uint xb, out f16vec2 xe[8], out f16vec2 xo[8], out float unscale) {
    vec4 mx4 = vec4(0.0);
    for (uint i = 0u; i < 8u; ++i) mx4 = max(mx4, abs(x4[xb + i]));
    const float mx = max(max(mx4.x, mx4.y), max(mx4.z, mx4.w));
    const int eb = int((floatBitsToUint(mx) >> 23) & 0xffu);  // max |x| in [2^(eb-127), 2^(eb-126))
    const int sb = clamp(F16_XT + 254 - eb, 1, 254);          // biased exponent of the scale
    const float scale = uintBitsToFloat(uint(sb) << 23);
    unscale = uintBitsToFloat(uint(254 - sb) << 23);
    for (uint i = 0u; i < 8u; ++i) {
        const vec4 v = x4[xb + i] * scale;
        xe[i] = f16vec2(v.xz);
        xo[i] = f16vec2(v.yw);
    }
}
// A word of four int8 quants (bytes c = 0..3) as float16 pairs (bytes 0, 2) and (1, 3),
// exactly and without float32: byte b + 128 (0..255) or-ed into the mantissa of the
// float16 1024 (0x6400) is 1024 + b + 128, and 1152 less is b.
void f16_quants(uint q, out f16vec2 qe, out f16vec2 qo) {
    const uint u = q ^ 0x80808080u;
    qe = unpackFloat2x16((u & 0x00FF00FFu) | 0x64006400u) - f16vec2(1152.0);
    qo = unpackFloat2x16(((u >> 8) & 0x00FF00FFu) | 0x64006400u) - f16vec2(1152.0);
}
#endif

// Output o = r * NCOLS + c of the workgroup (row row0 + r, column col0 + c), if it exists,
// from its sum s (with a GLU: the gate's; u the up row's), through the epilogue:
//   none: y = s;  residual: y = res + s;  swiglu: y = silu(s) * u;  geglu: y = gelu(s) * u
void store(uint o, float s, float u) {
    const uint col0 = gl_WorkGroupID.z * NCOLS;
    const uint r = o / NCOLS, c = o % NCOLS;
    if (col0 + c >= pc.M) return;
    if (GLU) {
        const float h = (EPI == kEpiSwiglu ? act_silu(s) : act_gelu(s)) * u;
        if (row0 + r < pc.N) {
            if (EPI_Q8) yc[(col0 + c) * pc.N + row0 + r] = h;
            else y[(col0 + c) * pc.N + row0 + r] = h;
        }
        return;
    }
    if (row0 + r >= pc.R) return;
    const uint i = (col0 + c) * pc.N + pc.base + row0 + r;
    y[i] = EPI == kEpiResidual ? res[i] + s : s;
}

// After the stores (every thread, uniform control flow): the q8_1 blocks this workgroup's
// rows complete (EPI_Q8, above), one thread a block.
void glu_q8_blocks() {
    if (!GLU || !EPI_Q8) return;
    const uint nb = pc.N / kQ8Block, blk = row0 / kQ8Block;
    for (uint c = 0u; c < NCOLS; ++c) {
        const uint col = gl_WorkGroupID.z * NCOLS + c;
        if (col >= pc.M) break;  // uniform
        if (last_arrival(col * nb + blk, NOUT, kQ8Block) && gl_LocalInvocationID.x == 0u) {
            float v[32];
            for (uint j = 0u; j < 32u; ++j) v[j] = yc[col * pc.N + blk * kQ8Block + j];
            q8_1_store_block(pc.M, pc.N, col * nb + blk, v);
        }
    }
}

// The workgroup's sum of accumulator i, after the shared-memory reduction.
float total(uint i) {
#if SUBGROUP
    float s = 0.0;
    for (uint j = 0u; j < gl_NumSubgroups; ++j) s += red[i * L + j];
    return s;
#else
    return red[i * L];
#endif
}

void main() {
    const uint tid = gl_LocalInvocationID.x;
    row0 = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * NOUT;
    if (row0 >= (GLU ? pc.N : pc.R)) return;  // uniform per workgroup
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
#if FMT_INT_M16
        ivec2 hx[NCOLS];  // the integer sums of each column's two 16-element halves
#else
        int sx[NCOLS];    // the integer sum of each column's 32 elements
#endif
        for (uint c = 0u; c < NCOLS; ++c) {
            const uint col = min(col0 + c, pc.M - 1u);  // columns past M: recomputed, never stored
            const uint qb = (col * K) / 4u + u * 8u;     // first int8 word of this X block
            for (uint i = 0u; i < 8u; ++i) xw[c * 8u + i] = xq[qb + i];
            const uint mi = (pc.M * K) / 4u + 2u * (col * nu + u);
            dx[c] = uintBitsToFloat(xq[mi]);
#if FMT_INT_M16
            // the first half's sum by dot products with ones, the second's from the block's
            int h0 = 0;
            for (uint i = 0u; i < 4u; ++i) h0 += sdot(xw[c * 8u + i], 0x01010101u, 0);
            hx[c] = ivec2(h0, int(xq[mi + 1u]) - h0);
#else
            sx[c] = int(xq[mi + 1u]);
#endif
        }
        for (uint r = 0u; r < NROWS; ++r) {
            const uint row = wrow(r);
            uint q[8];
            ivec2 sc;
            float d, m;
#if FMT_INT_M16
            ivec2 mh;
            fmt_int32_m16(row * row_bytes + ub, us, q, sc, mh, d, m);
#else
            fmt_int32(row * row_bytes + ub, us, q, sc, d, m);
#endif
            for (uint c = 0u; c < NCOLS; ++c) {
                int s0 = 0, s1 = 0;
                for (uint i = 0u; i < 4u; ++i) {
                    s0 += sdot(q[i], xw[c * 8u + i], 0);
                    s1 += sdot(q[i + 4u], xw[c * 8u + i + 4u], 0);
                }
                const int s = sc.x * s0 + sc.y * s1;
                float t = (float(s) * dx[c]) * d;
#if FMT_INT_M16
                t += m * (dx[c] * float(mh.x * hx[c].x + mh.y * hx[c].y));
#elif FMT_INT_MIN
                t += m * (dx[c] * float(sx[c]));
#endif
                acc[r * NCOLS + c] += t;
            }
        }
#elif F16
        // ---- float16 products of the int8 quants with x scaled per unit (see the top): the
        // unit of every row first, as float16 quant pairs, then each column's x' (read once,
        // held for one column only: a phone's register budget), against every row
        f16vec2 qe[NROWS * 8], qo[NROWS * 8];
        vec2 scf[NROWS];
        float d[NROWS], m[NROWS];
#if FMT_INT_M16
        vec2 mhf[NROWS];
#endif
        for (uint r = 0u; r < NROWS; ++r) {
            uint q[8];
            ivec2 sc;
#if FMT_INT_M16
            ivec2 mh;
            fmt_int32_m16(wrow(r) * row_bytes + ub, us, q, sc, mh, d[r], m[r]);
            mhf[r] = vec2(mh);
#else
            fmt_int32(wrow(r) * row_bytes + ub, us, q, sc, d[r], m[r]);
#endif
            scf[r] = vec2(sc);
            for (uint i = 0u; i < 8u; ++i) f16_quants(q[i], qe[r * 8u + i], qo[r * 8u + i]);
        }
        for (uint c = 0u; c < NCOLS; ++c) {
            const uint xb = (min(col0 + c, pc.M - 1u) * K) / 4u + u * 8u;
            f16vec2 xe[8], xo[8];
            float unscale;
            f16_unit_x(xb, xe, xo, unscale);
#if FMT_INT_MIN || FMT_INT_M16
            vec4 xs[2] = {vec4(0.0), vec4(0.0)};  // the sums of x over the unit's halves
            for (uint i = 0u; i < 8u; ++i) xs[i / 4u] += x4[xb + i];
            const vec2 xh = vec2((xs[0].x + xs[0].y) + (xs[0].z + xs[0].w), (xs[1].x + xs[1].y) + (xs[1].z + xs[1].w));
#endif
            for (uint r = 0u; r < NROWS; ++r) {
                vec2 h;  // the halves' sums of q * x' (float16 chains, see the top)
                for (uint j = 0u; j < 2u; ++j) {
                    const uint q0 = r * 8u + 4u * j, x0 = 4u * j;
                    f16vec2 a = qe[q0] * xe[x0], b = qo[q0] * xo[x0];
                    for (uint i = 1u; i < 4u; ++i) {
                        a = fma(qe[q0 + i], xe[x0 + i], a);
                        b = fma(qo[q0 + i], xo[x0 + i], b);
                    }
                    const f16vec2 p = a + b;
                    h[j] = float(p.x) + float(p.y);
                }
                float t = ((scf[r].x * h.x + scf[r].y * h.y) * unscale) * d[r];
#if FMT_INT_M16
                t += m[r] * (mhf[r].x * xh.x + mhf[r].y * xh.y);
#elif FMT_INT_MIN
                t += m[r] * (xh.x + xh.y);
#endif
                acc_turn(r, c, t);
            }
        }
#else
        if (ROLLED) {
            // ---- float dequantization, 4 elements at a time (ROLLED, above)
            for (uint r = 0u; r < NROWS; ++r) {
                const uint o = wrow(r) * row_bytes + ub;
                for (uint c = 0u; c < NCOLS; ++c) {
                    const uint xb = (min(col0 + c, pc.M - 1u) * K) / 4u + u * 8u;
                    float t = 0.0;
                    for (uint i = 0u; i < 8u; ++i) t += dot(fmt_dq4(o, 32u * us + 4u * i), x4[xb + i]);
                    acc[r * NCOLS + c] += t;
                }
            }
            continue;
        }
        // ---- float dequantization: the unit of every row first (NROWS decodes in flight),
        // then each 4 elements of X, read once, against every row
        vec4 v[NROWS * 8];
        float s[NROWS];
        for (uint r = 0u; r < NROWS; ++r) {
            vec4 vr[8];
            fmt_dq32(wrow(r) * row_bytes + ub, us, vr, s[r]);
            for (uint i = 0u; i < 8u; ++i) v[r * 8u + i] = vr[i];
        }
        for (uint c = 0u; c < NCOLS; ++c) {
            const uint xb = (min(col0 + c, pc.M - 1u) * K) / 4u + u * 8u;
            float t[NROWS];
            for (uint r = 0u; r < NROWS; ++r) t[r] = 0.0;
            for (uint i = 0u; i < 8u; ++i) {
                const vec4 xv = x4[xb + i];
                for (uint r = 0u; r < NROWS; ++r) t[r] += dot(v[r * 8u + i], xv);
            }
            for (uint r = 0u; r < NROWS; ++r) acc_turn(r, c, s[r] * t[r]);
        }
#endif  // INT_DOT / F16 / float
    }

#else  // scalar formats
#if FMT_PAIRS
    if ((K & 1u) == 0u) {
        // 16-bit formats, even K: rows are word aligned; thread t reads words t, t+L, ...
        const uint kw = K / 2u;
        for (uint j = tid; j < kw; j += L) {
            vec2 wv[NROWS];
            for (uint r = 0u; r < NROWS; ++r) wv[r] = fmt_pair(wrow(r) * kw + j);
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
            for (uint r = 0u; r < NROWS; ++r) wv[r] = fmt_elem(wrow(r) * K + k);
            for (uint c = 0u; c < NCOLS; ++c) {
                const float xv = x[min(col0 + c, pc.M - 1u) * K + k];
                for (uint r = 0u; r < NROWS; ++r) acc[r * NCOLS + c] += wv[r] * xv;
            }
        }
    }
#endif

    // ---- reduce the NACC accumulators over the workgroup; thread i writes outputs i, i+L, ...
    // (with a GLU, output i pairs accumulator i with the up row's, i + NOUT * NCOLS)
    const uint NO = NOUT * NCOLS;
#if SUBGROUP
    if (gl_NumSubgroups == 1u) {  // uniform: the subgroup sums are the workgroup's
        for (uint i = 0u; i < NO; ++i) {
            const float s = subgroupAdd(acc[i]);
            const float u = GLU ? subgroupAdd(acc[(i + NO) % NACC]) : 0.0;
            if (tid == i % L) store(i, s, u);
        }
        glu_q8_blocks();
        return;
    }
    for (uint i = 0u; i < NACC; ++i) {
        const float v = subgroupAdd(acc[i]);
        if (subgroupElect()) red[i * L + gl_SubgroupID] = v;
    }
    barrier();
#else
    for (uint i = 0u; i < NACC; ++i) red[i * L + tid] = acc[i];
    barrier();
    for (uint h = L / 2u; h > 0u; h >>= 1u) {
        if (tid < h)
            for (uint i = 0u; i < NACC; ++i) red[i * L + tid] += red[i * L + tid + h];
        barrier();
    }
#endif
    for (uint o = tid; o < NO; o += L) store(o, total(o), GLU ? total((o + NO) % NACC) : 0.0);
    glu_q8_blocks();
}
