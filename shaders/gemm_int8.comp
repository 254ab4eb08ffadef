#version 450
// W8A8 GEMM (SmoothQuant): int8 activations x int8 weights, int32 accumulation.
//
//   Xq (M,K) int8 . Wq (N,K)^T int8 -> acc (M,N) int32 (exact)
//   asymmetric activations (pc.asym != 0; xzp (M) int32, wsum (N) int32 = sum_k Wq[n,k]):
//     acc[m,n] -= xzp[m] * wsum[n]       (int32; = sum_k (q - zp) * Wq, exact for K <= 66311)
//   mode 0: Y (M,N) float = float(acc[m,n]) * sx[m] * sw[n]
//   mode 1: Y (M,N) float = float(acc[m,n]) * sx[m] * sw[n] + bias[n]
//   mode 2: Y (M,N) int32 = acc[m,n]          (raw accumulators, for tests/debug)
// Xq and Wq use the packed layout of shaders/quantize.comp: Kw = ceil(K/4) words
// per row, element k is byte (k & 3) of word k/4, zero bytes past K (zero-padded
// bytes contribute nothing, so whole words are always multiplied). Y is bound as
// uint[] and receives float bits (modes 0, 1) or int32 bits (mode 2).
// The product is rounded as ((float(acc) * sx[m]) * sw[n]) (+ bias[n]).
// int32 does not overflow for K <= 133144 (127*127*K < 2^31), asymmetric K <= 66311
// (255*127*K < 2^31); the host checks it.
// Bindings: 0 xq, 1 wq, 2 sx, 3 sw, 4 bias, 5 y, 6 xzp, 7 wsum; unused ones (scales in
// mode 2, bias outside mode 1, xzp/wsum when symmetric) are bound by the host to
// another operand and never read.
//
// DOT=1 uses OpSDot on packed words (needs caps.int_dot); DOT=0 unpacks bytes
// with bitfieldExtract and multiplies.
//
// GEMV=0, tiled (any M): a workgroup computes a BM x BN tile of Y, stepping
//   over K in BKW-word slices staged through shared memory (stored k-major,
//   padded by one word against bank conflicts); each thread owns a TM x TN
//   register tile (rows ty + i*BM/TM, columns tx + j*BN/TN, so neighbouring
//   threads write neighbouring columns). Specialization constants:
//   0 = workgroup size (= (BM/TM)*(BN/TN)), 1 = BM, 2 = BN, 3 = BKW, 4 = TM, 5 = TN.
//   Grid: x = ceil(N/BN), y = ceil(M/BM).
// GEMV=1, small M (M = MR <= 8): a workgroup computes NR output columns for
//   all MR rows; its threads stride over K (uvec4 loads when Kw % 4 == 0),
//   keep MR*NR partial sums and reduce them with subgroupAdd (SUBGROUP=1, any
//   subgroup size) or a shared-memory tree (SUBGROUP=0, workgroup size a power
//   of two). Specialization constants: 0 = workgroup size, 1 = MR, 2 = NR.
//   Grid: ceil(N/NR) workgroups, folded into x/y.
// ROWSUM=1 (variant int8_row_sums): Wq (N,K) packed int8 -> wsum (N) int32 =
//   sum_{k<K} Wq[n,k] (bytes past K ignored), one workgroup per row, threads
//   striding over the row's words, shared-memory tree reduction (exact int32).
//   Specialization constant 0 = workgroup size (a power of two).
//   Bindings 0 wq, 1 wsum; grid: N workgroups folded into x/y.
//! variant gemm_int8_dot DOT=1 GEMV=0 SUBGROUP=0 ROWSUM=0
//! variant gemm_int8_nodot DOT=0 GEMV=0 SUBGROUP=0 ROWSUM=0
//! variant gemv_int8_dot_sg DOT=1 GEMV=1 SUBGROUP=1 ROWSUM=0
//! variant gemv_int8_dot_shared DOT=1 GEMV=1 SUBGROUP=0 ROWSUM=0
//! variant gemv_int8_nodot_sg DOT=0 GEMV=1 SUBGROUP=1 ROWSUM=0
//! variant gemv_int8_nodot_shared DOT=0 GEMV=1 SUBGROUP=0 ROWSUM=0
//! variant int8_row_sums DOT=0 GEMV=0 SUBGROUP=0 ROWSUM=1
//! variant gemm_int8_cm DOT=0 GEMV=0 SUBGROUP=0 ROWSUM=0 COOPMAT=1
// COOPMAT=1 (variant gemm_int8_cm), any M: the tiled product on cooperative matrices,
//   16x16x16 s8 x s8 + s32 -> s32 (ops::gemm_int8_coopmat_supported: the device reports
//   that shape; written with GL_NV_integer_cooperative_matrix, rewritten to
//   SPV_KHR_cooperative_matrix at pipeline creation, runtime/vk/coopmat_spirv.hpp). One
//   workgroup per 32 x 32 tile of Y, its threads (specialization constant 0: the device's
//   subgroup size, so one subgroup) staging per step of 64 bytes of K the 32 x 64 tiles of
//   Xq and Wq as int8 in shared memory (rows padded to 80 bytes, a multiple of 16 as
//   matrix loads want), subgroup 0 multiplying 2 x 2 fragments (a uniform branch; other
//   subgroups, where a driver makes several, only stage). The int32 sums are exact, as the
//   scalar kernels' (the same integers, summed in another order: int32 wraps, so the
//   result is the same whenever it fits); they reach store_out through shared memory (the
//   matrices' element-to-invocation map is opaque). Grid: x = ceil(N/32), y = ceil(M/32).
#ifndef COOPMAT
#define COOPMAT 0
#endif
#if ROWSUM
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer WQ { uint wq[]; };
layout(binding = 1) writeonly buffer WS { int wsum[]; };
#include "shared/gemm_int8.h"
layout(push_constant) uniform PC { Int8RowSumsPush pc; };
shared int red[gl_WorkGroupSize.x];

void main() {
    const uint n = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (n >= pc.N) return;  // uniform per workgroup
    const uint tid = gl_LocalInvocationID.x, L = gl_WorkGroupSize.x;
    const uint base = n * pc.Kw;
    int s0 = 0, s1 = 0;
    // Every loop before a barrier or reduction in this file has a trip count that is the same
    // in all invocations (items past the end are skipped inside): no reliance on reconvergence.
    for (uint j0 = 0u; j0 < pc.Kw; j0 += L) {
        const uint j = j0 + tid;
        if (j >= pc.Kw) continue;
        const uint w = wq[base + j];
        const uint nk = min(pc.K - j * 4u, 4u);  // bytes of this word inside the row
        if (nk == 4u) {
            s0 += bitfieldExtract(int(w), 0, 8) + bitfieldExtract(int(w), 8, 8);
            s1 += bitfieldExtract(int(w), 16, 8) + bitfieldExtract(int(w), 24, 8);
        } else {
            for (uint i = 0u; i < 4u; ++i)
                if (i < nk) s0 += bitfieldExtract(int(w), int(8u * i), 8);
        }
    }
    red[tid] = s0 + s1;
    barrier();
    for (uint s = L / 2u; s > 0u; s >>= 1u) {
        if (tid < s) red[tid] += red[tid + s];
        barrier();
    }
    if (tid == 0u) wsum[n] = red[0];
}

#else  // !ROWSUM: the GEMM kernels

#if DOT
#extension GL_EXT_spirv_intrinsics : require
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4450)
int sdot(uint a, uint b, spirv_literal int fmt);  // OpSDot, fmt 0 = PackedVectorFormat4x8Bit
#endif
#if COOPMAT
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_explicit_arithmetic_types_int8 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_NV_cooperative_matrix : require
#extension GL_NV_integer_cooperative_matrix : require
#endif
#if SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer XQ { uint xq[]; };
layout(binding = 0) readonly buffer XQ4 { uvec4 xq4[]; };
layout(binding = 1) readonly buffer WQ { uint wq[]; };
layout(binding = 1) readonly buffer WQ4 { uvec4 wq4[]; };
layout(binding = 2) readonly buffer SXB { float sx[]; };
layout(binding = 3) readonly buffer SWB { float sw[]; };
layout(binding = 4) readonly buffer BB { float bias[]; };
layout(binding = 5) writeonly buffer YB { uint y[]; };
layout(binding = 6) readonly buffer ZPB { int xzp[]; };
layout(binding = 7) readonly buffer WSB { int wsum[]; };
#include "shared/gemm_int8.h"
layout(push_constant) uniform PC { GemmInt8Push pc; };

ivec4 unpack_i8x4(uint w) {
    return ivec4(bitfieldExtract(int(w), 0, 8), bitfieldExtract(int(w), 8, 8), bitfieldExtract(int(w), 16, 8),
                 bitfieldExtract(int(w), 24, 8));
}
int dot4(uint a, uint b) {
#if DOT
    return sdot(a, b, 0);
#else
    ivec4 x = unpack_i8x4(a), w = unpack_i8x4(b);
    return x.x * w.x + x.y * w.y + x.z * w.z + x.w * w.w;
#endif
}

void store_out(uint m, uint n, int acc) {
    // int32 ops wrap modulo 2^32, so the result is exact whenever it fits (K <= 66311).
    if (pc.asym != 0u) acc -= xzp[m] * wsum[n];
    uint o;
    if (pc.mode == kInt8ModeRaw) {
        o = uint(acc);
    } else {
        float v = (float(acc) * sx[m]) * sw[n];
        if (pc.mode == kInt8ModeScaledBias) v += bias[n];
        o = floatBitsToUint(v);
    }
    y[m * pc.N + n] = o;
}

#if COOPMAT
#define CM_T 32u    // tile rows and columns
#define CM_BK 64u   // bytes of K per step (16 words)
#define CM_SP 80u   // row pitch of the staged int8 tiles
#define CM_YP 36u   // row pitch of the staged int32 output tile
#define CM_FS 16u   // fragment size
#define CM_SCOPE 3  // gl_ScopeSubgroup
shared int8_t xs8[CM_T * CM_SP];  // xs8[m * CM_SP + k]
shared int8_t ws8[CM_T * CM_SP];  // ws8[n * CM_SP + k]
shared int ys32[CM_T * CM_YP];

// Rows r0.. of a (rows, Kw) packed int8 matrix, words kw0 .. kw0 + 16, into s as bytes;
// rows past nrows and words past Kw as zeros (they add nothing).
#define CM_STAGE(S, SRC, r0, nrows, kw0)                                                        \
    for (uint e = tid; e < CM_T * (CM_BK / 4u); e += L) {                                       \
        const uint r = e / (CM_BK / 4u), c = e % (CM_BK / 4u), gr = r0 + r, gc = kw0 + c;       \
        const uint v = (gr < nrows && gc < pc.Kw) ? SRC[gr * pc.Kw + gc] : 0u;                  \
        [[unroll]] for (uint b = 0u; b < 4u; ++b)                                               \
            S[r * CM_SP + 4u * c + b] = int8_t(bitfieldExtract(int(v), int(8u * b), 8));        \
    }

void main() {
    const uint tid = gl_LocalInvocationID.x, L = gl_WorkGroupSize.x;
    const uint n0 = gl_WorkGroupID.x * CM_T, m0 = gl_WorkGroupID.y * CM_T;
    const bool mma = gl_SubgroupID == 0u;  // uniform in each subgroup
    icoopmatNV<32, CM_SCOPE, CM_FS, CM_FS> acc00 = icoopmatNV<32, CM_SCOPE, CM_FS, CM_FS>(0);
    icoopmatNV<32, CM_SCOPE, CM_FS, CM_FS> acc01 = icoopmatNV<32, CM_SCOPE, CM_FS, CM_FS>(0);
    icoopmatNV<32, CM_SCOPE, CM_FS, CM_FS> acc10 = icoopmatNV<32, CM_SCOPE, CM_FS, CM_FS>(0);
    icoopmatNV<32, CM_SCOPE, CM_FS, CM_FS> acc11 = icoopmatNV<32, CM_SCOPE, CM_FS, CM_FS>(0);
    for (uint kw0 = 0u; kw0 < pc.Kw; kw0 += CM_BK / 4u) {
        CM_STAGE(xs8, xq, m0, pc.M, kw0)
        CM_STAGE(ws8, wq, n0, pc.N, kw0)
        barrier();
        if (mma) {
            [[unroll]] for (uint kk = 0u; kk < CM_BK; kk += CM_FS) {
                icoopmatNV<8, CM_SCOPE, CM_FS, CM_FS> a0, a1, b0, b1;
                coopMatLoadNV(a0, xs8, 0u * CM_FS * CM_SP + kk, CM_SP, false);
                coopMatLoadNV(a1, xs8, 1u * CM_FS * CM_SP + kk, CM_SP, false);
                coopMatLoadNV(b0, ws8, 0u * CM_FS * CM_SP + kk, CM_SP, true);
                coopMatLoadNV(b1, ws8, 1u * CM_FS * CM_SP + kk, CM_SP, true);
                acc00 = coopMatMulAddNV(a0, b0, acc00);
                acc01 = coopMatMulAddNV(a0, b1, acc01);
                acc10 = coopMatMulAddNV(a1, b0, acc10);
                acc11 = coopMatMulAddNV(a1, b1, acc11);
            }
        }
        barrier();
    }
    if (mma) {
        coopMatStoreNV(acc00, ys32, 0u * CM_FS * CM_YP + 0u * CM_FS, CM_YP, false);
        coopMatStoreNV(acc01, ys32, 0u * CM_FS * CM_YP + 1u * CM_FS, CM_YP, false);
        coopMatStoreNV(acc10, ys32, 1u * CM_FS * CM_YP + 0u * CM_FS, CM_YP, false);
        coopMatStoreNV(acc11, ys32, 1u * CM_FS * CM_YP + 1u * CM_FS, CM_YP, false);
    }
    barrier();
    for (uint e = tid; e < CM_T * CM_T; e += L) {
        const uint m = m0 + e / CM_T, n = n0 + e % CM_T;
        if (m < pc.M && n < pc.N) store_out(m, n, ys32[(e / CM_T) * CM_YP + e % CM_T]);
    }
}

#elif !GEMV
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BKW = 16;  // words (4*BKW int8) per K step; a multiple of 4
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;
const uint WM = BM / TM;  // threads along M
const uint WN = BN / TN;  // threads along N
const uint SA = BM + 1u;  // padded k-major strides
const uint SB = BN + 1u;
shared uint As[BKW * SA];
shared uint Bs[BKW * SB];

// Stage rows r0.. of a (rows, Kw) packed matrix into s[c*stride + r], c < BKW.
// kw0 = first word; rows >= nrows and words >= Kw are stored as 0.
#define LOAD_TILE(S, STRIDE, ROWS, SRC, SRC4, r0, nrows, kw0)                                   \
    if ((pc.Kw & 3u) == 0u) {                                                                   \
        const uint C4 = BKW / 4u;                                                               \
        for (uint e0 = 0u; e0 < ROWS * C4; e0 += L) {                                           \
            const uint e = e0 + tid;                                                            \
            if (e >= ROWS * C4) continue;                                                       \
            const uint r = e / C4, c = (e % C4) * 4u, gr = r0 + r, gc = kw0 + c;                \
            uvec4 v = uvec4(0u);                                                                \
            if (gr < nrows && gc < pc.Kw) v = SRC4[(gr * pc.Kw + gc) / 4u];                     \
            S[c * STRIDE + r] = v.x;                                                            \
            S[(c + 1u) * STRIDE + r] = v.y;                                                     \
            S[(c + 2u) * STRIDE + r] = v.z;                                                     \
            S[(c + 3u) * STRIDE + r] = v.w;                                                     \
        }                                                                                       \
    } else {                                                                                    \
        for (uint e0 = 0u; e0 < ROWS * BKW; e0 += L) {                                          \
            const uint e = e0 + tid;                                                            \
            if (e >= ROWS * BKW) continue;                                                      \
            const uint r = e / BKW, c = e % BKW, gr = r0 + r, gc = kw0 + c;                     \
            S[c * STRIDE + r] = (gr < nrows && gc < pc.Kw) ? SRC[gr * pc.Kw + gc] : 0u;         \
        }                                                                                       \
    }

void main() {
    const uint tid = gl_LocalInvocationID.x, L = gl_WorkGroupSize.x;
    const uint tx = tid % WN, ty = tid / WN;
    const uint n0 = gl_WorkGroupID.x * BN, m0 = gl_WorkGroupID.y * BM;

    const bool has_rows = m0 + ty < pc.M;
    int acc[TM * TN];
    for (uint i = 0u; i < TM * TN; ++i) acc[i] = 0;

    for (uint kw0 = 0u; kw0 < pc.Kw; kw0 += BKW) {
        LOAD_TILE(As, SA, BM, xq, xq4, m0, pc.M, kw0)
        LOAD_TILE(Bs, SB, BN, wq, wq4, n0, pc.N, kw0)
        barrier();
        // Threads whose rows all lie past M (small M in a BM-row tile) skip the math.
        if (has_rows) for (uint c = 0u; c < BKW; ++c) {
#if DOT
            uint a[TM], b[TN];
            for (uint i = 0u; i < TM; ++i) a[i] = As[c * SA + ty + i * WM];
            for (uint j = 0u; j < TN; ++j) b[j] = Bs[c * SB + tx + j * WN];
            for (uint i = 0u; i < TM; ++i)
                for (uint j = 0u; j < TN; ++j) acc[i * TN + j] += sdot(a[i], b[j], 0);
#else
            ivec4 a[TM], b[TN];
            for (uint i = 0u; i < TM; ++i) a[i] = unpack_i8x4(As[c * SA + ty + i * WM]);
            for (uint j = 0u; j < TN; ++j) b[j] = unpack_i8x4(Bs[c * SB + tx + j * WN]);
            for (uint i = 0u; i < TM; ++i)
                for (uint j = 0u; j < TN; ++j)
                    acc[i * TN + j] += a[i].x * b[j].x + a[i].y * b[j].y + a[i].z * b[j].z + a[i].w * b[j].w;
#endif
        }
        barrier();
    }

    for (uint i = 0u; i < TM; ++i) {
        const uint m = m0 + ty + i * WM;
        if (m >= pc.M) continue;
        for (uint j = 0u; j < TN; ++j) {
            const uint n = n0 + tx + j * WN;
            if (n < pc.N) store_out(m, n, acc[i * TN + j]);
        }
    }
}

#else  // GEMV

layout(constant_id = 1) const uint MR = 1;  // rows of X (= M)
layout(constant_id = 2) const uint NR = 2;  // output columns per workgroup
shared int red[MR * NR * gl_WorkGroupSize.x];

void main() {
    const uint tid = gl_LocalInvocationID.x, L = gl_WorkGroupSize.x;
    const uint wg = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    const uint n0 = wg * NR;
    if (n0 >= pc.N) return;  // uniform per workgroup

    int acc[MR * NR];
    for (uint i = 0u; i < MR * NR; ++i) acc[i] = 0;
    // Rows past N read row n0 again (in bounds) and are never stored.
    uint nrow[NR];
    for (uint r = 0u; r < NR; ++r) nrow[r] = min(n0 + r, pc.N - 1u);

    if ((pc.Kw & 3u) == 0u) {
        const uint Kw4 = pc.Kw / 4u;
        for (uint j0 = 0u; j0 < Kw4; j0 += L) {
            const uint j = j0 + tid;
            if (j >= Kw4) continue;
            uvec4 xv[MR];
            for (uint m = 0u; m < MR; ++m) xv[m] = xq4[m * Kw4 + j];
            for (uint r = 0u; r < NR; ++r) {
                const uvec4 wv = wq4[nrow[r] * Kw4 + j];
                for (uint m = 0u; m < MR; ++m)
                    acc[m * NR + r] += dot4(xv[m].x, wv.x) + dot4(xv[m].y, wv.y) + dot4(xv[m].z, wv.z) +
                                       dot4(xv[m].w, wv.w);
            }
        }
    } else {
        for (uint j0 = 0u; j0 < pc.Kw; j0 += L) {
            const uint j = j0 + tid;
            if (j >= pc.Kw) continue;
            uint xv[MR];
            for (uint m = 0u; m < MR; ++m) xv[m] = xq[m * pc.Kw + j];
            for (uint r = 0u; r < NR; ++r) {
                const uint wv = wq[nrow[r] * pc.Kw + j];
                for (uint m = 0u; m < MR; ++m) acc[m * NR + r] += dot4(xv[m], wv);
            }
        }
    }

#if SUBGROUP
    for (uint i = 0u; i < MR * NR; ++i) acc[i] = subgroupAdd(acc[i]);
    if (subgroupElect())
        for (uint i = 0u; i < MR * NR; ++i) red[i * gl_NumSubgroups + gl_SubgroupID] = acc[i];
    barrier();
    for (uint i = tid; i < MR * NR; i += L) {
        int s = 0;
        for (uint g = 0u; g < gl_NumSubgroups; ++g) s += red[i * gl_NumSubgroups + g];
        const uint m = i / NR, n = n0 + i % NR;
        if (n < pc.N) store_out(m, n, s);
    }
#else
    for (uint i = 0u; i < MR * NR; ++i) red[i * L + tid] = acc[i];
    barrier();
    for (uint s = L / 2u; s > 0u; s >>= 1u) {
        if (tid < s)
            for (uint i = 0u; i < MR * NR; ++i) red[i * L + tid] += red[i * L + tid + s];
        barrier();
    }
    for (uint i = tid; i < MR * NR; i += L) {
        const uint m = i / NR, n = n0 + i % NR;
        if (n < pc.N) store_out(m, n, red[i * L]);
    }
#endif
}
#endif  // GEMV
#endif  // ROWSUM
