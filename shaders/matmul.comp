#version 450
// Tiled matrix product for prefill (GEMM, M > 8):
//   X (M,K) float . W (N,K)^T (GGUF rows) -> Y (M,N) float,  Y[m,n] = sum_k X[m,k] * W[n,k]
// W is bound as uint words in its GGUF byte layout: F32 (TYPE=0), F16 (TYPE=1),
// Q4_0 (TYPE=2, 18-byte blocks), Q8_0 (TYPE=8, 34-byte blocks; both 2-byte aligned).
// One workgroup per BM x BN tile of Y (x = tile of N, y = tile of M). Per step of
// BK = 32 along K (one quant block): the workgroup stages the BM x 32 tile of X and
// the BN x 32 tile of W dequantized to float in shared memory (k-major, padded by one
// to avoid bank conflicts), then each thread accumulates a TM x TN register tile
// (rows ty + i*BM/TM, columns tx + j*BN/TN: the shared reads and the Y writes of
// neighbouring threads are contiguous). Out-of-range rows, columns and (F32/F16) the
// K tail are staged as zeros. L (workgroup size) must equal (BM/TM) * (BN/TN).
//! variant gemm_f32 TYPE=0
//! variant gemm_f16 TYPE=1
//! variant gemm_q4_0 TYPE=2
//! variant gemm_q8_0 TYPE=8
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
layout(binding = 1) readonly buffer X { float x[]; };
layout(binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform PC { uint M, N, K; } pc;

shared float xs[BK * BMP];  // xs[k * BMP + m]
shared float ws[BK * BNP];  // ws[k * BNP + n]

void main() {
    const uint tid = gl_LocalInvocationID.x;
    const uint n0 = gl_WorkGroupID.x * BN, m0 = gl_WorkGroupID.y * BM;
    const uint tx = tid % (BN / TN), ty = tid / (BN / TN);
    const uint M = pc.M, N = pc.N, K = pc.K;
    float acc[TM * TN];
    for (uint i = 0u; i < TM * TN; ++i) acc[i] = 0.0;

    for (uint k0 = 0u; k0 < K; k0 += BK) {
        // ---- stage X (BM x BK): consecutive threads read consecutive k
        for (uint idx = tid; idx < BM * BK; idx += L) {
            const uint m = idx / BK, k = idx % BK;
            const uint gm = m0 + m, gk = k0 + k;
            xs[k * BMP + m] = (gm < M && gk < K) ? x[gm * K + gk] : 0.0;
        }
        // ---- stage W (BN x BK), dequantized
#if TYPE == VKRT_TYPE_Q4_0
        // 4 threads a block: quant word i holds elements 4i..4i+3 (low nibbles), 16+4i.. (high)
        for (uint idx = tid; idx < BN * 4u; idx += L) {
            const uint n = idx / 4u, i = idx % 4u, gn = n0 + n;
            float d = 0.0;
            uint q = 0x88888888u;  // (q - 8) == 0 for rows past N
            if (gn < N) {
                const uint o = (gn * (K / 32u) + k0 / 32u) * 18u;
                d = VKRT_LOAD_F16(w, o);
                q = VKRT_LOAD_U32_ALIGN2(w, o + 2u + 4u * i);
            }
            for (uint j = 0u; j < 4u; ++j) {
                ws[(4u * i + j) * BNP + n] = d * (float((q >> (8u * j)) & 0xFu) - 8.0);
                ws[(16u + 4u * i + j) * BNP + n] = d * (float((q >> (8u * j + 4u)) & 0xFu) - 8.0);
            }
        }
#elif TYPE == VKRT_TYPE_Q8_0
        // 8 threads a block: quant word i holds elements 4i..4i+3
        for (uint idx = tid; idx < BN * 8u; idx += L) {
            const uint n = idx / 8u, i = idx % 8u, gn = n0 + n;
            float d = 0.0;
            uint q = 0u;
            if (gn < N) {
                const uint o = (gn * (K / 32u) + k0 / 32u) * 34u;
                d = VKRT_LOAD_F16(w, o);
                q = VKRT_LOAD_U32_ALIGN2(w, o + 2u + 4u * i);
            }
            for (uint j = 0u; j < 4u; ++j) ws[(4u * i + j) * BNP + n] = d * float(i8_of(q, j));
        }
#else
        for (uint idx = tid; idx < BN * BK; idx += L) {
            const uint n = idx / BK, k = idx % BK;
            const uint gn = n0 + n, gk = k0 + k;
            float v = 0.0;
            if (gn < N && gk < K) {
#if TYPE == VKRT_TYPE_F16
                v = VKRT_LOAD_F16(w, 2u * (gn * K + gk));
#else
                v = uintBitsToFloat(w[gn * K + gk]);
#endif
            }
            ws[k * BNP + n] = v;
        }
#endif
        barrier();
        // ---- TM x TN register tile
        for (uint kk = 0u; kk < BK; ++kk) {
            float a[TM], b[TN];
            for (uint i = 0u; i < TM; ++i) a[i] = xs[kk * BMP + ty + i * (BM / TM)];
            for (uint j = 0u; j < TN; ++j) b[j] = ws[kk * BNP + tx + j * (BN / TN)];
            for (uint i = 0u; i < TM; ++i)
                for (uint j = 0u; j < TN; ++j) acc[i * TN + j] = fma(a[i], b[j], acc[i * TN + j]);
        }
        barrier();
    }
    for (uint i = 0u; i < TM; ++i) {
        const uint gm = m0 + ty + i * (BM / TM);
        if (gm >= M) continue;
        for (uint j = 0u; j < TN; ++j) {
            const uint gn = n0 + tx + j * (BN / TN);
            if (gn < N) y[gm * N + gn] = acc[i * TN + j];
        }
    }
}
