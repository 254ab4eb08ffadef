#version 450
// Integer-dot tiled matrix product for prefill (MMQ, M > 8), formats with the integer
// interface (formats.def VKRT_K_INT or VKRT_K_MMQ; Q2_K's min per 16 elements below):
//   XQ (M,K) q8_1 . W (R,K)^T (GGUF rows) -> Y[:, base .. base+R) of Y (M,N) float
//   Y[m, base + n] = sum over 32-element units u of the row:
//       (float(s) * d_x[m,u]) * d[n,u]  [+ m[n,u] * (d_x[m,u] * float(sum_x[m,u]))]
//   s = sc.x * sum_{i<4} sdot(q_i, x_i) + sc.y * sum_{i>=4} sdot(q_i, x_i)    (exact int32)
// with the q8_1 activations of shaders/shared/q8_1.h (int8 quants, d_x and the sum of
// each block of 32) and the decoder's fmt_int32 (formats/helpers.glsl: packed int8 quants
// q, integer scales sc per 16 elements, float d and min m per unit), the same arithmetic
// as matvec.comp's INT_DOT path: only the order of the float sum over units differs.
// W is one part of a weight (rows base .. base+R of N, see matvec.comp).
// Q2_K (FMT_INT_M16: fmt_int32_m16 in formats/q2_k.glsl) has a min per 16 elements: its
// halves are scaled apart (as Q3_K / Q6_K), and the min term comes from the integer sums
// h_x of X's two 16-element halves (sdot with 0x01010101 when X is staged), exact too:
//   + m * (d_x * float(mh.x * h_x.x + mh.y * h_x.y)),   m = -dmin
//
// One workgroup per BM x BN tile of Y (x = tile of N, y = tile of M). Per stage of BU
// units along K: the workgroup stages the BM x BU units of XQ (int8 words as they are,
// k-major, padded by one word against bank conflicts; d_x and d_x * sum per row and unit)
// and the BN x BU units of W through fmt_int32 (one decode per thread and unit: the
// quants stay packed int8, the scales and mins go beside them), then each thread
// computes a TM x TN register tile (rows ty + i*BM/TM, columns tx + j*BN/TN) with
// 8 OpSDot per output and unit and the float epilogue once per unit. Out-of-range rows,
// columns and units are staged as zeros. L (workgroup size) = (BM/TM) * (BN/TN);
// shared memory: the host's mmq_shared_bytes (runtime/ops/matmul.cpp) mirrors the
// declarations below.
//
// Needs VK_KHR_shader_integer_dot_product (OpSDot through GL_EXT_spirv_intrinsics:
// Debian 12's glslc has no GL_EXT_integer_dot_product); chosen only where the device
// accelerates it (ops::matmul_q8, ops::matmul's auto path).
//
// MMQ_CM=1 (variants mmq_<fmt>_cm): the integer sums on cooperative matrices, 16x16x16
// s8 x s8 + s32 -> s32 (ops::mmq_coopmat_supported: the device reports that shape; written
// with GL_NV_integer_cooperative_matrix, rewritten to SPV_KHR_cooperative_matrix at pipeline
// creation, runtime/vk/coopmat_spirv.hpp). The quants are staged as int8, row-major (rows
// padded to 32 * BU + 16 bytes: a multiple of 16, as matrix loads want); per stage subgroup
// 0 multiplies every 16 x 16 fragment of the tile for each 16-element half of each unit
// into its own int32 sum (K = 16: one MulAdd), stored to shared memory (ts: the matrices'
// element-to-invocation map is opaque); then every thread takes its register tile's sums
// from there into the same epilogue. The integer sums equal the OpSDot ones exactly; the
// float epilogue is the same code in the same order. BM and BN: multiples of 16; L = the
// device's subgroup size (one subgroup; where a driver makes several, the others stage).
//! variant-per-format mmq_{fmt} K_MMQ
//! variant-per-format mmq_{fmt}_cm K_MMQ MMQ_CM=1
#extension GL_EXT_spirv_intrinsics : require
#extension GL_EXT_control_flow_attributes : require
#ifndef MMQ_CM
#define MMQ_CM 0
#endif
#if MMQ_CM
#extension GL_EXT_shader_explicit_arithmetic_types_int8 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_NV_cooperative_matrix : require
#extension GL_NV_integer_cooperative_matrix : require
#endif
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4450)
int sdot(uint a, uint b, spirv_literal int fmt);  // OpSDot, fmt 0 = PackedVectorFormat4x8Bit
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint TM = 4;
layout(constant_id = 4) const uint TN = 4;
layout(constant_id = 5) const uint BU = 2;  // 32-element units per stage
const uint L = gl_WorkGroupSize.x;
const uint BMP = BM + 1u, BNP = BN + 1u;

layout(binding = 0) readonly buffer W { uint w[]; };
#define FMT_LAYOUT_ID 6  // the weight's layout (ops/weights.hpp: gguf or grouped)
#include "vkrt_decoder.glsl"
layout(binding = 1) readonly buffer XQ { uint xq[]; };
layout(binding = 2) writeonly buffer Y { float y[]; };
#include "shared/matmul.h"
layout(push_constant) uniform PC { MatmulPush pc; };

#ifndef FMT_INT_MIN
#define FMT_INT_MIN 0
#endif
// Formats whose two 16-element halves of a unit have their own scales (the decoder
// defines FMT_INT_SC16: Q3_K, Q6_K) keep the halves' dot products apart; the others sum
// all 8 words first and scale once.
#if defined(FMT_INT_SC16) || defined(FMT_INT_M16)
#define MMQ_SC16 1
#else
#define MMQ_SC16 0
#endif
#ifdef FMT_INT_M16
#define MMQ_M16 1
#else
#define MMQ_M16 0
#endif

#if MMQ_CM
const uint CM_SP = 32u * BU + 16u;   // row pitch of the int8 tiles, bytes
shared int8_t xs8[BM * CM_SP];       // [m][k]: int8 quants of X
shared int8_t ws8[BN * CM_SP];       // [n][k]: int8 quants of W
shared int ts[BU * 2u * BM * BN];    // [u*2 + half][m][n]: the halves' integer sums
#else
shared uint xs_q[BU * 8u * BMP];  // [u*8 + word][m]: int8 quants of X, 4 a word
#endif
shared float xs_d[BU * BM];       // [u][m]: d_x
#if FMT_INT_MIN
shared float xs_s[BU * BM];       // [u][m]: d_x * float(sum of the block's quants)
#endif
#if FMT_INT_MIN || MMQ_M16
shared float ws_m[BU * BN];       // [u][n]: the unit's min m (Q2_K: -dmin)
#endif
#if MMQ_M16
shared ivec2 xs_h[BU * BM];       // [u][m]: sums of the int8 quants of X's two halves
shared ivec2 ws_mh[BU * BN];      // [u][n]: integer mins of W's two halves
#endif
#if !MMQ_CM
shared uint ws_q[BU * 8u * BNP];  // [u*8 + word][n]: int8 quants of W, 4 a word
#endif
shared float ws_d[BU * BN];       // [u][n]: d
shared ivec2 ws_sc[BU * BN];      // [u][n]: integer scales of the two 16-element halves

void main() {
    const uint tid = gl_LocalInvocationID.x;
    const uint n0 = gl_WorkGroupID.x * BN, m0 = gl_WorkGroupID.y * BM;
    const uint tx = tid % (BN / TN), ty = tid / (BN / TN);
    const uint M = pc.M, K = pc.K, R = pc.R;
    const uint nu = K / 32u;  // units of a row
    const uint kw = K / 4u;   // int8 words of a row of XQ
    const uint meta0 = (M * K) / 4u;
    const uint row_bytes = (K / FMT_QK) * FMT_BYTES;
    const uint UPB = FMT_QK / 32u;  // units per block
    // Loops over the register tile are unrolled, as in matmul.comp (constant indices: acc, t,
    // s, a and b stay in registers whatever the compiler's size heuristics).
    float acc[TM * TN];
    [[unroll]] for (uint i = 0u; i < TM; ++i)
        [[unroll]] for (uint j = 0u; j < TN; ++j) acc[i * TN + j] = 0.0;

    // The units of this workgroup: all, or with split-K (gl_NumWorkGroups.z = S > 1,
    // ops::matmul_mmq) part z of S, a whole number of stages each (so a stage never
    // crosses into the next part): partial sums to the (S, M, R) buffer bound as Y,
    // added up by splitk_reduce.comp.
    const uint S = gl_NumWorkGroups.z, per = ((nu + S - 1u) / S + BU - 1u) / BU * BU;
    const uint ub = gl_WorkGroupID.z * per, ue = min(nu, ub + per);
    for (uint u0 = ub; u0 < ue; u0 += BU) {
        // ---- stage XQ (BM rows x BU units): consecutive threads read consecutive words of a row
        for (uint idx = tid; idx < BM * BU * 8u; idx += L) {
            const uint m = idx / (BU * 8u), wd = idx % (BU * 8u), gm = m0 + m, gu = u0 + wd / 8u;
#if MMQ_CM
            const uint v = (gm < M && gu < nu) ? xq[gm * kw + u0 * 8u + wd] : 0u;
            [[unroll]] for (uint b = 0u; b < 4u; ++b)
                xs8[m * CM_SP + 4u * wd + b] = int8_t(bitfieldExtract(int(v), int(8u * b), 8));
#else
            xs_q[wd * BMP + m] = (gm < M && gu < nu) ? xq[gm * kw + u0 * 8u + wd] : 0u;
#endif
        }
        for (uint idx = tid; idx < BM * BU; idx += L) {
            const uint m = idx / BU, u = idx % BU, gm = m0 + m, gu = u0 + u;
            float d = 0.0, s = 0.0;
            if (gm < M && gu < nu) {
                const uint mi = meta0 + 2u * (gm * nu + gu);
                d = uintBitsToFloat(xq[mi]);
                s = d * float(int(xq[mi + 1u]));
            }
            xs_d[u * BM + m] = d;
#if FMT_INT_MIN
            xs_s[u * BM + m] = s;
#endif
#if MMQ_M16
            ivec2 h = ivec2(0);
            if (gm < M && gu < nu)
                [[unroll]] for (uint i = 0u; i < 4u; ++i) {
                    h.x += sdot(xq[gm * kw + gu * 8u + i], 0x01010101u, 0);
                    h.y += sdot(xq[gm * kw + gu * 8u + 4u + i], 0x01010101u, 0);
                }
            xs_h[u * BM + m] = h;
#endif
        }
        // ---- stage W (BN rows x BU units) through the decoder: one unit per thread
        for (uint idx = tid; idx < BN * BU; idx += L) {
            const uint n = idx / BU, u = idx % BU, gn = n0 + n, gu = u0 + u;
            uint q[8];
            ivec2 sc = ivec2(0);
            float d = 0.0, mn = 0.0;
            [[unroll]] for (uint i = 0u; i < 8u; ++i) q[i] = 0u;
#if MMQ_M16
            ivec2 mh = ivec2(0);
            if (gn < R && gu < nu) fmt_int32_m16(gn * row_bytes + (gu / UPB) * FMT_BYTES, gu % UPB, q, sc, mh, d, mn);
            ws_mh[u * BN + n] = mh;
#else
            if (gn < R && gu < nu) fmt_int32(gn * row_bytes + (gu / UPB) * FMT_BYTES, gu % UPB, q, sc, d, mn);
#endif
#if MMQ_CM
            [[unroll]] for (uint i = 0u; i < 8u; ++i)
                [[unroll]] for (uint b = 0u; b < 4u; ++b)
                    ws8[n * CM_SP + 32u * u + 4u * i + b] = int8_t(bitfieldExtract(int(q[i]), int(8u * b), 8));
#else
            [[unroll]] for (uint i = 0u; i < 8u; ++i) ws_q[(u * 8u + i) * BNP + n] = q[i];
#endif
            ws_d[u * BN + n] = d;
            ws_sc[u * BN + n] = sc;
#if FMT_INT_MIN || MMQ_M16
            ws_m[u * BN + n] = mn;
#endif
        }
        barrier();
#if MMQ_CM
        // ---- the integer sums of every 16 x 16 fragment, unit and half (K = 16)
        // The loop over the halves stays rolled: unrolled, RADV loaded every fragment of the
        // stage first (168-216 VGPRs on navi31, 4 waves/SIMD).
        if (gl_SubgroupID == 0u) {  // uniform in each subgroup
            [[dont_unroll]] for (uint uh = 0u; uh < 2u * BU; ++uh)
                for (uint fi = 0u; fi < BM / 16u; ++fi)
                    for (uint fj = 0u; fj < BN / 16u; ++fj) {
                        icoopmatNV<8, 3, 16, 16> a, b;
                        icoopmatNV<32, 3, 16, 16> c = icoopmatNV<32, 3, 16, 16>(0);
                        coopMatLoadNV(a, xs8, 16u * fi * CM_SP + 16u * uh, CM_SP, false);
                        coopMatLoadNV(b, ws8, 16u * fj * CM_SP + 16u * uh, CM_SP, true);
                        c = coopMatMulAddNV(a, b, c);
                        coopMatStoreNV(c, ts, uh * BM * BN + 16u * fi * BN + 16u * fj, BN, false);
                    }
        }
        barrier();
#endif

        // ---- TM x TN register tile, one unit at a time
        for (uint u = 0u; u < BU; ++u) {
            int t[TM * TN];
#if MMQ_SC16
            int s[TM * TN];
            [[unroll]] for (uint i = 0u; i < TM; ++i)
                [[unroll]] for (uint j = 0u; j < TN; ++j) s[i * TN + j] = 0;
            [[unroll]] for (uint h = 0u; h < 2u; ++h) {
                [[unroll]] for (uint i = 0u; i < TM; ++i)
                    [[unroll]] for (uint j = 0u; j < TN; ++j) t[i * TN + j] = 0;
                [[unroll]] for (uint k = 4u * h; k < 4u * h + 4u; ++k) {
#else
            [[unroll]] for (uint i = 0u; i < TM; ++i)
                [[unroll]] for (uint j = 0u; j < TN; ++j) t[i * TN + j] = 0;
            {
                [[unroll]] for (uint k = 0u; k < 8u; ++k) {
#endif
#if MMQ_CM
                    // the half's sum once, at its first word (k = 0 and 4)
                    if (k % 4u != 0u) continue;
                    const uint o = (2u * u + k / 4u) * BM * BN;
                    [[unroll]] for (uint i = 0u; i < TM; ++i)
                        [[unroll]] for (uint j = 0u; j < TN; ++j)
                            t[i * TN + j] += ts[o + (ty + i * (BM / TM)) * BN + tx + j * (BN / TN)];
#else
                    uint a[TM], b[TN];
                    [[unroll]] for (uint i = 0u; i < TM; ++i) a[i] = xs_q[(u * 8u + k) * BMP + ty + i * (BM / TM)];
                    [[unroll]] for (uint j = 0u; j < TN; ++j) b[j] = ws_q[(u * 8u + k) * BNP + tx + j * (BN / TN)];
                    [[unroll]] for (uint i = 0u; i < TM; ++i)
                        [[unroll]] for (uint j = 0u; j < TN; ++j) t[i * TN + j] += sdot(a[i], b[j], 0);
#endif
                }
#if MMQ_SC16
                [[unroll]] for (uint j = 0u; j < TN; ++j) {
                    const int sch = ws_sc[u * BN + tx + j * (BN / TN)][h];
                    [[unroll]] for (uint i = 0u; i < TM; ++i) s[i * TN + j] += sch * t[i * TN + j];
                }
#endif
            }
            // ---- the unit's float epilogue (matvec.comp's order)
            [[unroll]] for (uint j = 0u; j < TN; ++j) {
                const uint n = u * BN + tx + j * (BN / TN);
                const float d = ws_d[n];
#if !MMQ_SC16
                const int sc = ws_sc[n].x;
#endif
#if FMT_INT_MIN || MMQ_M16
                const float mn = ws_m[n];
#endif
#if MMQ_M16
                const ivec2 mh = ws_mh[n];
#endif
                [[unroll]] for (uint i = 0u; i < TM; ++i) {
                    const uint m = u * BM + ty + i * (BM / TM);
#if MMQ_SC16
                    const int si = s[i * TN + j];
#else
                    const int si = sc * t[i * TN + j];
#endif
                    float v = (float(si) * xs_d[m]) * d;
#if MMQ_M16
                    const ivec2 h = xs_h[m];
                    v += mn * (xs_d[m] * float(mh.x * h.x + mh.y * h.y));
#elif FMT_INT_MIN
                    v += mn * xs_s[m];
#endif
                    acc[i * TN + j] += v;
                }
            }
        }
        barrier();
    }
    [[unroll]] for (uint i = 0u; i < TM; ++i) {
        const uint gm = m0 + ty + i * (BM / TM);
        if (gm >= M) continue;
        [[unroll]] for (uint j = 0u; j < TN; ++j) {
            const uint gn = n0 + tx + j * (BN / TN);
            if (gn >= R) continue;
            if (S > 1u)
                y[(gl_WorkGroupID.z * M + gm) * R + gn] = acc[i * TN + j];
            else
                y[gm * pc.N + pc.base + gn] = acc[i * TN + j];
        }
    }
}
