#version 450
// Tiled matrix product on cooperative matrices (f16 x f16 -> f32), any weight format with
// GPU kernels: the same product, operands and split-K as shaders/matmul.comp,
//   X (M,K) float . W (R,K)^T (GGUF rows) -> Y[:, base .. base+R) of Y (M,N) float,
// for devices that report VK_KHR_cooperative_matrix with the 16x16x16 f16 x f16 + f32 ->
// f32 subgroup-scope shape (ops::gemm_coopmat_supported chooses it from the properties).
//
// Written with GL_NV_cooperative_matrix, the form Debian 12's glslang compiles; the
// runtime rewrites the SPIR-V into SPV_KHR_cooperative_matrix when it creates the
// pipeline (runtime/vk/coopmat_spirv.hpp).
//
// One workgroup per BM x BN = 32 x 32 tile of Y (x = tile of N, y = tile of M); its
// threads (L, specialization constant 0: the device's subgroup size, so one subgroup) stage
// per step of BK = 32 along K the 32 x 32 tile of X and the 32 x 32 tile of W dequantized
// (fmt_dq4, 8 threads a row), both as float16 in shared memory, row-major with k
// contiguous (rows padded to 40 halves: 80 bytes, a multiple of 16 as matrix loads want);
// subgroup 0 then multiplies 2 x 2 fragments of 16 x 16 per 16 of k (a uniform branch: a
// cooperative-matrix operation needs its whole subgroup; a driver running the workgroup
// as several subgroups leaves the others to the staging). X rows are the A matrices (row-
// major), W rows the B matrices (K x N, column-major: element (k, n) at n * 40 + k).
// Precision: X and W rounded to float16 (relative 2^-11 each; |x| above 65504 becomes
// infinite: activations after a norm are far below), products summed in float32 by the
// hardware in an order it chooses. The accumulators go through shared memory (their
// element-to-invocation map is opaque) to Y, rows and columns past M and R left out.
//! variant-per-format gemm_{fmt}_cm K_FLOAT
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_NV_cooperative_matrix : require
#include "common.glsl"

layout(local_size_x_id = 0) in;
const uint L = gl_WorkGroupSize.x;
#define BM 32u
#define BN 32u
#define BK 32u
#define FS 16u         // fragment size (M = N = K = 16)
#define SP 40u         // row pitch of the staged tiles, in halves
#define YP 36u         // row pitch of the staged output tile, in floats
#define SCOPE 3        // gl_ScopeSubgroup (GL_KHR_memory_scope_semantics is not needed for it)

layout(binding = 0) readonly buffer W { uint w[]; };
#define FMT_LAYOUT_ID 1  // the weight's layout (ops/weights.hpp)
#include "vkrt_decoder.glsl"
layout(binding = 1) readonly buffer X { float x[]; };
layout(binding = 2) writeonly buffer Y { float y[]; };
#include "shared/matmul.h"
layout(push_constant) uniform PC { MatmulPush pc; };

shared float16_t xs[BM * SP];  // xs[m * SP + k]
shared float16_t ws[BN * SP];  // ws[n * SP + k]
shared float ys[BM * YP];      // the output tile, ys[m * YP + n]

void main() {
    const uint tid = gl_LocalInvocationID.x;
    const uint n0 = gl_WorkGroupID.x * BN, m0 = gl_WorkGroupID.y * BM;
    const uint M = pc.M, K = pc.K, R = pc.R;
    const bool mma = gl_SubgroupID == 0u;  // uniform in each subgroup

    fcoopmatNV<32, SCOPE, FS, FS> acc00 = fcoopmatNV<32, SCOPE, FS, FS>(0.0);
    fcoopmatNV<32, SCOPE, FS, FS> acc01 = fcoopmatNV<32, SCOPE, FS, FS>(0.0);
    fcoopmatNV<32, SCOPE, FS, FS> acc10 = fcoopmatNV<32, SCOPE, FS, FS>(0.0);
    fcoopmatNV<32, SCOPE, FS, FS> acc11 = fcoopmatNV<32, SCOPE, FS, FS>(0.0);

    // The K range of this workgroup: all of K, or with split-K (gl_NumWorkGroups.z = S > 1)
    // part z of S, whole steps of BK (as matmul.comp: the host's split_count).
    const uint S = gl_NumWorkGroups.z, per = ((K + BK - 1u) / BK + S - 1u) / S;
    const uint kb = gl_WorkGroupID.z * per * BK, ke = min(K, kb + per * BK);
    for (uint k0 = kb; k0 < ke; k0 += BK) {
        // ---- stage X (BM x BK) as float16: consecutive threads read consecutive k
        for (uint idx = tid; idx < BM * BK; idx += L) {
            const uint m = idx / BK, k = idx % BK;
            const uint gm = m0 + m, gk = k0 + k;
            xs[m * SP + k] = float16_t((gm < M && gk < K) ? x[gm * K + gk] : 0.0);
        }
        // ---- stage W (BN x BK), dequantized to float16
#if FMT_QK > 1
        const uint row_bytes = (K / FMT_QK) * FMT_BYTES;
        const uint ub = (k0 / FMT_QK) * FMT_BYTES, us = (k0 % FMT_QK) / 32u;
        for (uint idx = tid; idx < BN * 8u; idx += L) {
            const uint n = idx / 8u, i = idx % 8u, gn = n0 + n;
            const vec4 v = (gn < R) ? fmt_dq4(gn * row_bytes + ub, 32u * us + 4u * i) : vec4(0.0);
            [[unroll]] for (uint j = 0u; j < 4u; ++j) ws[n * SP + 4u * i + j] = float16_t(v[j]);
        }
#else
        for (uint idx = tid; idx < BN * BK; idx += L) {
            const uint n = idx / BK, k = idx % BK;
            const uint gn = n0 + n, gk = k0 + k;
            ws[n * SP + k] = float16_t((gn < R && gk < K) ? fmt_elem(gn * K + gk) : 0.0);
        }
#endif
        barrier();
        if (mma) {
            [[unroll]] for (uint kk = 0u; kk < BK; kk += FS) {
                fcoopmatNV<16, SCOPE, FS, FS> a0, a1, b0, b1;
                coopMatLoadNV(a0, xs, 0u * FS * SP + kk, SP, false);
                coopMatLoadNV(a1, xs, 1u * FS * SP + kk, SP, false);
                coopMatLoadNV(b0, ws, 0u * FS * SP + kk, SP, true);
                coopMatLoadNV(b1, ws, 1u * FS * SP + kk, SP, true);
                acc00 = coopMatMulAddNV(a0, b0, acc00);
                acc01 = coopMatMulAddNV(a0, b1, acc01);
                acc10 = coopMatMulAddNV(a1, b0, acc10);
                acc11 = coopMatMulAddNV(a1, b1, acc11);
            }
        }
        barrier();
    }
    if (mma) {
        coopMatStoreNV(acc00, ys, 0u * FS * YP + 0u * FS, YP, false);
        coopMatStoreNV(acc01, ys, 0u * FS * YP + 1u * FS, YP, false);
        coopMatStoreNV(acc10, ys, 1u * FS * YP + 0u * FS, YP, false);
        coopMatStoreNV(acc11, ys, 1u * FS * YP + 1u * FS, YP, false);
    }
    barrier();
    for (uint idx = tid; idx < BM * BN; idx += L) {
        const uint m = idx / BN, n = idx % BN;
        const uint gm = m0 + m, gn = n0 + n;
        if (gm >= M || gn >= R) continue;
        if (S > 1u)
            y[(gl_WorkGroupID.z * M + gm) * R + gn] = ys[m * YP + n];
        else
            y[gm * pc.N + pc.base + gn] = ys[m * YP + n];
    }
}
