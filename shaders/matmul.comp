#version 450
// Tiled matrix product for prefill (GEMM, M > 8), any weight format with GPU kernels:
//   X (M,K) float . W (R,K)^T (GGUF rows) -> Y[:, base .. base+R) of Y (M,N) float
//   Y[m, base + n] = sum_k X[m,k] * W[n,k]
// W is one part of a weight (rows base .. base+R of N, see matvec.comp), bound as uint
// words in its GGUF byte layout and decoded by shaders/formats/<format>.glsl (TYPE).
// One workgroup per BM x BN tile of Y (x = tile of N, y = tile of M). Per step of
// BK = 32 along K (one 32-element unit of a block format): the workgroup stages the
// BM x 32 tile of X and the BN x 32 tile of W dequantized to float in shared memory
// (k-major, padded by one to avoid bank conflicts; 8 threads a row of W, each decoding
// 4 elements with fmt_dq4), then each thread accumulates a TM x TN register tile
// (rows ty + i*BM/TM, columns tx + j*BN/TN: the shared reads and the Y writes of
// neighbouring threads are contiguous). Out-of-range rows, columns and (scalar formats)
// the K tail are staged as zeros. L (workgroup size) must equal (BM/TM) * (BN/TN).
// Split-K (z = part of K): see the K range below.
//! variant-per-format gemm_{fmt} K_FLOAT
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint TM = 4;
layout(constant_id = 4) const uint TN = 4;
#define BK 32u
const uint BMP = BM + 1u, BNP = BN + 1u;
const uint L = gl_WorkGroupSize.x;

layout(binding = 0) readonly buffer W { uint w[]; };
#define FMT_LAYOUT_ID 5  // the weight's layout (ops/weights.hpp)
#include "vkrt_decoder.glsl"
layout(binding = 1) readonly buffer X { float x[]; };
layout(binding = 2) writeonly buffer Y { float y[]; };
#include "shared/matmul.h"
layout(push_constant) uniform PC { MatmulPush pc; };

shared float xs[BK * BMP];  // xs[k * BMP + m]
shared float ws[BK * BNP];  // ws[k * BNP + n]

void main() {
    const uint tid = gl_LocalInvocationID.x;
    const uint n0 = gl_WorkGroupID.x * BN, m0 = gl_WorkGroupID.y * BM;
    const uint tx = tid % (BN / TN), ty = tid / (BN / TN);
    const uint M = pc.M, N = pc.N, K = pc.K, R = pc.R;
    // Every loop over the register tile is unrolled ([[unroll]]): each index into acc, a and b
    // is then a constant and they stay in registers. Left to its size heuristics, NVK's
    // compiler kept the store loop of the 8x8 tile (64 outputs) rolled and acc in 256 B of
    // local memory (docs/GPU.md, "Prefill GEMMs").
    float acc[TM * TN];
    [[unroll]] for (uint i = 0u; i < TM; ++i)
        [[unroll]] for (uint j = 0u; j < TN; ++j) acc[i * TN + j] = 0.0;

    // The K range of this workgroup: all of K, or with split-K (gl_NumWorkGroups.z = S > 1,
    // ops::matmul_gemm) part z of S, whole steps of BK: the workgroup writes its partial
    // sums to the (S, M, R) buffer bound as Y, and splitk_reduce.comp adds them up.
    const uint S = gl_NumWorkGroups.z, per = ((K + BK - 1u) / BK + S - 1u) / S;
    const uint kb = gl_WorkGroupID.z * per * BK, ke = min(K, kb + per * BK);
    for (uint k0 = kb; k0 < ke; k0 += BK) {
        // ---- stage X (BM x BK): consecutive threads read consecutive k
        for (uint idx = tid; idx < BM * BK; idx += L) {
            const uint m = idx / BK, k = idx % BK;
            const uint gm = m0 + m, gk = k0 + k;
            xs[k * BMP + m] = (gm < M && gk < K) ? x[gm * K + gk] : 0.0;
        }
        // ---- stage W (BN x BK), dequantized
#if FMT_QK > 1
        // 8 threads a row: thread i decodes elements 4i..4i+3 of the unit
        const uint row_bytes = (K / FMT_QK) * FMT_BYTES;
        const uint ub = (k0 / FMT_QK) * FMT_BYTES, us = (k0 % FMT_QK) / 32u;
        for (uint idx = tid; idx < BN * 8u; idx += L) {
            const uint n = idx / 8u, i = idx % 8u, gn = n0 + n;
            const vec4 v = (gn < R) ? fmt_dq4(gn * row_bytes + ub, 32u * us + 4u * i) : vec4(0.0);
            [[unroll]] for (uint j = 0u; j < 4u; ++j) ws[(4u * i + j) * BNP + n] = v[j];
        }
#else
        for (uint idx = tid; idx < BN * BK; idx += L) {
            const uint n = idx / BK, k = idx % BK;
            const uint gn = n0 + n, gk = k0 + k;
            ws[k * BNP + n] = (gn < R && gk < K) ? fmt_elem(gn * K + gk) : 0.0;
        }
#endif
        barrier();
        // ---- TM x TN register tile
        for (uint kk = 0u; kk < BK; ++kk) {
            float a[TM], b[TN];
            [[unroll]] for (uint i = 0u; i < TM; ++i) a[i] = xs[kk * BMP + ty + i * (BM / TM)];
            [[unroll]] for (uint j = 0u; j < TN; ++j) b[j] = ws[kk * BNP + tx + j * (BN / TN)];
            [[unroll]] for (uint i = 0u; i < TM; ++i)
                [[unroll]] for (uint j = 0u; j < TN; ++j) acc[i * TN + j] = fma(a[i], b[j], acc[i * TN + j]);
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
                y[gm * N + pc.base + gn] = acc[i * TN + j];
        }
    }
}
