#version 450
// Prefill attention on cooperative matrices (FlashAttention-2 style, f16 x f16 -> f32):
// the contract of shaders/attention_flash.comp (read it first),
//   q (M, n_head, hd) float (row stride q_stride), pos (M) int32, K / V caches (rows,
//   n_head_kv, hd) of types K_TYPE / V_TYPE (F32, F16, Q8_0 rows: shaders/kv_cache.glsl)
//   -> out (M, n_head, hd) float (row stride o_stride); query m, head h sees the positions
//   pos[m] - window < j <= pos[m] (window 0: all), at most the last `rows` (rings),
// for devices that report 16x16x16 f16 x f16 + f32 -> f32 subgroup-scope matrices
// (VK_KHR_cooperative_matrix; ops::flash_cm_tiles chooses it from the properties).
// Written with GL_NV_cooperative_matrix (Debian 12's glslang); the runtime rewrites the
// SPIR-V to SPV_KHR_cooperative_matrix when it creates the pipeline
// (runtime/vk/coopmat_spirv.hpp), as for shaders/gemm_coopmat.comp.
//
// Work split. Workgroup (x = kvh, y = b), one subgroup of L threads (the device's subgroup
// size; a driver that runs it as several leaves the matrix work to subgroup 0, as
// gemm_coopmat.comp): BR = 16 query rows i = m * grp + hh (query m, head kvh * grp + hh), so
// the grp heads of one kv head share every K/V tile; kv tiles of BC = 16 or 32 positions from
// the block's first visible one to its last (causal: later tiles are never loaded). hd is
// padded to HDP (a multiple of 16) with zeros. Per tile:
//   1. every thread loads the K and V tiles (BC x HDP) into shared memory as float16: F16
//      caches their own bits, F32 rounded, Q8_0 dequantized (d * q) and rounded. Positions
//      that no row of the block sees are zero (their cache rows may hold anything, NaN
//      included, and P.V multiplies every column: 0 * NaN is NaN).
//   2. subgroup 0: S (BR x BC) = Q . K^T, f32 accumulators over HDP / 16 steps of k (Q, pre-
//      scaled, as float16 A matrices from shared memory, K rows as column-major B
//      matrices), stored to shared memory (the accumulators' element map is opaque).
//   3. online softmax, ROWT = L / BR threads a row: each reads its row's visible scores
//      (lo <= j < n) for the row max, takes the exp of its own columns c, c + ROWT, ... once
//      each (p = exp(s - max), 0 where not visible), rounds p to float16 into the P tile
//      (the running sum adds the rounded p: the sum and the weights P.V uses agree), and
//      rescales its share of the row's output accumulator O (shared, f32) by exp(m_old - max).
//   4. subgroup 0: O (BR x HDP) += P (BR x BC) . V (BC x HDP), each 16 x 16 block of O
//      loaded from shared memory as an accumulator, BC / 16 MulAdds, stored back.
// Barriers a tile: 4 (tile loaded, S stored, P and O's rescale written, O updated).
// At the end each row's threads write O / l (0 where the row saw nothing: pos < 0).
// Precision (the test's bound: tests/test_kernels_kv_cache.cpp, flash_cm_bound): q * scale,
// K and V rounded to half (relative 2^-11, 2^-25 absolute below half's normal range), P
// rounded to half; products exact, sums in f32. F32 caches holding values beyond half's
// range (65504) would become infinite: K/V activations are far below.
// Shared memory (host: FlashCmTiles::shared_bytes): Q 16 x (HDP+8) halves, K and V BC x
// (HDP+8) halves each, O 16 x (HDP+4) floats, S 16 x 36 floats, P 16 x 40 halves (pitches
// multiples of 16 bytes, as matrix loads want), the rows' ranges and sums.
// Variants: cache types of K and V, named as in shaders/attention_flash.comp; and the same
// with EMULATE=1 (_emu): the two matrix products by plain loops over the same shared tiles
// (a thread an output element, f32 sums of the half products), everything else the same
// code. The runtime never chooses them: they let a device without matrices (lavapipe) check
// this kernel's tiles, masks, softmax, GQA rows and rings against the reference
// (AttentionShape::Prefill::coopmat_emulated); the matrix operations themselves are checked
// where a device has them.
//! variant attention_flash_cm K_TYPE=0 V_TYPE=0 EMULATE=0
//! variant attention_flash_cm_kf32_vf16 K_TYPE=0 V_TYPE=1 EMULATE=0
//! variant attention_flash_cm_kf32_vq8_0 K_TYPE=0 V_TYPE=8 EMULATE=0
//! variant attention_flash_cm_kf16_vf32 K_TYPE=1 V_TYPE=0 EMULATE=0
//! variant attention_flash_cm_f16 K_TYPE=1 V_TYPE=1 EMULATE=0
//! variant attention_flash_cm_kf16_vq8_0 K_TYPE=1 V_TYPE=8 EMULATE=0
//! variant attention_flash_cm_kq8_0_vf32 K_TYPE=8 V_TYPE=0 EMULATE=0
//! variant attention_flash_cm_kq8_0_vf16 K_TYPE=8 V_TYPE=1 EMULATE=0
//! variant attention_flash_cm_q8_0 K_TYPE=8 V_TYPE=8 EMULATE=0
//! variant attention_flash_cm_emu K_TYPE=0 V_TYPE=0 EMULATE=1
//! variant attention_flash_cm_emu_kf32_vf16 K_TYPE=0 V_TYPE=1 EMULATE=1
//! variant attention_flash_cm_emu_kf32_vq8_0 K_TYPE=0 V_TYPE=8 EMULATE=1
//! variant attention_flash_cm_emu_kf16_vf32 K_TYPE=1 V_TYPE=0 EMULATE=1
//! variant attention_flash_cm_emu_f16 K_TYPE=1 V_TYPE=1 EMULATE=1
//! variant attention_flash_cm_emu_kf16_vq8_0 K_TYPE=1 V_TYPE=8 EMULATE=1
//! variant attention_flash_cm_emu_kq8_0_vf32 K_TYPE=8 V_TYPE=0 EMULATE=1
//! variant attention_flash_cm_emu_kq8_0_vf16 K_TYPE=8 V_TYPE=1 EMULATE=1
//! variant attention_flash_cm_emu_q8_0 K_TYPE=8 V_TYPE=8 EMULATE=1
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#if !EMULATE
#extension GL_NV_cooperative_matrix : require
#endif
#include "kv_cache.glsl"
#include "shared/attention.h"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint BC = 32;       // kv rows a tile: 16 or 32
layout(constant_id = 2) const uint HDP = 64;      // padded head dim, a multiple of 16
layout(constant_id = 3) const uint Q_SIZE = 16 * 72;   // halves: BR x (HDP + 8)
layout(constant_id = 4) const uint KV_SIZE = 32 * 72;  // halves: BC x (HDP + 8), each of K and V
layout(constant_id = 5) const uint O_SIZE = 16 * 68;   // floats: BR x (HDP + 4)

layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) readonly buffer Kc { uint kc[]; };
layout(binding = 2) readonly buffer Vc { uint vc[]; };
layout(binding = 3) readonly buffer P { int pos[]; };
layout(binding = 4) writeonly buffer O { float o[]; };
layout(push_constant) uniform PC { AttentionPush pc; };  // n_split, head_groups unused

#define BR 16u          // query rows a workgroup (the fragments' M)
#define FS 16u          // fragment size (M = N = K = 16)
#define BCMAX 32u
#define SCOPE 3         // gl_ScopeSubgroup
const float NEG_BIG = -3.402823466e38;
const uint L = gl_WorkGroupSize.x;
const uint ROWT = L / BR;          // threads a query row in the softmax
const uint HP = HDP + 8u;          // pitch of the Q, K, V tiles (halves)
const uint OP = HDP + 4u;          // pitch of O (floats)
const uint SP = BCMAX + 4u;        // pitch of S (floats)
const uint PP = BCMAX + 8u;        // pitch of P (halves)

shared float16_t qs[Q_SIZE];     // qs[r * HP + d], pre-scaled
shared float16_t ks[KV_SIZE];    // ks[j * HP + d]
shared float16_t vs[KV_SIZE];    // vs[j * HP + d]
shared float os[O_SIZE];         // os[r * OP + d]: the unnormalized output
shared float ss[BR * SP];        // scores of the tile
shared float16_t ps[BR * PP];    // p of the tile
shared float lsum[L];            // each thread's share of its row's sum of p
shared uint nrow[BR];            // visible positions of each row: lorow[r] .. nrow[r]-1
shared uint lorow[BR];

#if K_TYPE == VKRT_TYPE_F16
#define K_LOAD16(r, e, lim, width) f16vec4(unpackFloat2x16(KV_LOAD4_HALF_BITS(kc, r, e, lim, width).x), \
                                           unpackFloat2x16(KV_LOAD4_HALF_BITS(kc, r, e, lim, width).y))
#else
#define K_LOAD16(r, e, lim, width) f16vec4(KV_LOAD4(K_TYPE, kc, r, e, lim, width))
#endif
#if V_TYPE == VKRT_TYPE_F16
#define V_LOAD16(r, e, lim, width) f16vec4(unpackFloat2x16(KV_LOAD4_HALF_BITS(vc, r, e, lim, width).x), \
                                           unpackFloat2x16(KV_LOAD4_HALF_BITS(vc, r, e, lim, width).y))
#else
#define V_LOAD16(r, e, lim, width) f16vec4(KV_LOAD4(V_TYPE, vc, r, e, lim, width))
#endif

void main() {
    const uint tid = gl_LocalInvocationID.x;
    const uint kvh = gl_WorkGroupID.x;
    const uint grp = pc.n_head / pc.n_head_kv;
    const uint hd = pc.hd;
    const bool mma = gl_SubgroupID == 0u;  // uniform in each subgroup
    const uint r = tid / ROWT, c = tid % ROWT;

    // My query row -> (m, h) and its visible positions lo_r .. n_r-1.
    const uint qrow = gl_WorkGroupID.y * BR + r;
    const uint m = qrow / grp;
    const uint h = kvh * grp + qrow % grp;
    const bool valid = m < pc.M;
    uint n_r = 0u;
    if (valid) {
        const int p = pos[m];
        n_r = p < 0 ? 0u : uint(p) + 1u;
    }
    const uint span = pc.window > 0u ? min(pc.window, pc.rows) : pc.rows;
    const uint lo_r = n_r > span ? n_r - span : 0u;
    if (c == 0u) {
        nrow[r] = n_r;
        lorow[r] = n_r > 0u ? lo_r : 0xffffffffu;  // rows with nothing visible see no position
    }
    // Q (pre-scaled, half) and O = 0.
    for (uint e = tid; e < BR * HDP; e += L) {
        const uint rr = e / HDP, d = e % HDP;
        const uint qr = gl_WorkGroupID.y * BR + rr, mm = qr / grp;
        float v = 0.0;
        if (mm < pc.M && d < hd) v = q[mm * pc.q_stride + (kvh * grp + qr % grp) * hd + d] * pc.scale;
        qs[rr * HP + d] = float16_t(v);
        os[rr * OP + d] = 0.0;
    }
    barrier();
    uint n_blk = 0u, lo_blk = 0xffffffffu;
    [[unroll]] for (uint i = 0u; i < BR; ++i) {
        n_blk = max(n_blk, nrow[i]);
        lo_blk = min(lo_blk, lorow[i]);
    }
    const uint t_start = lo_blk == 0xffffffffu ? 0u : lo_blk / BC * BC;

    const uint kv_stride = pc.n_head_kv * hd;
    const uint kvbase = kvh * hd;
    const uint HDP4 = HDP / 4u;
    float m_run = NEG_BIG, l_run = 0.0;

    for (uint t0 = t_start; t0 < n_blk; t0 += BC) {
        // 1. K, V tiles as halves; positions no row sees and dims past hd are zero.
        for (uint e = tid; e < BC * HDP4; e += L) {
            const uint j = e / HDP4, d4 = e % HDP4;
            const uint p = t0 + j;
            bool seen = false;
            [[unroll]] for (uint i = 0u; i < BR; ++i) seen = seen || (p >= lorow[i] && p < nrow[i]);
            f16vec4 kv = f16vec4(0.0hf), vv = f16vec4(0.0hf);
            if (seen && 4u * d4 < hd) {
                const uint jr = p % pc.rows;
                kv = K_LOAD16(jr, kvbase + 4u * d4, kvbase + hd, kv_stride);
                vv = V_LOAD16(jr, kvbase + 4u * d4, kvbase + hd, kv_stride);
            }
            [[unroll]] for (uint x = 0u; x < 4u; ++x) {
                ks[j * HP + 4u * d4 + x] = kv[x];
                vs[j * HP + 4u * d4 + x] = vv[x];
            }
        }
        barrier();

        // 2. S = Q . K^T (BR x BC): A = Q rows (row-major), B = K rows (k x n column-major).
#if EMULATE
        for (uint e = tid; e < BR * BC; e += L) {
            const uint rr = e / BC, j = e % BC;
            float acc = 0.0;
            for (uint d = 0u; d < HDP; ++d) acc += float(qs[rr * HP + d]) * float(ks[j * HP + d]);
            ss[rr * SP + j] = acc;
        }
#else
        if (mma) {
            fcoopmatNV<32, SCOPE, FS, FS> s0 = fcoopmatNV<32, SCOPE, FS, FS>(0.0);
            fcoopmatNV<32, SCOPE, FS, FS> s1 = fcoopmatNV<32, SCOPE, FS, FS>(0.0);
            for (uint kk = 0u; kk < HDP; kk += FS) {
                fcoopmatNV<16, SCOPE, FS, FS> qa, kb0, kb1;
                coopMatLoadNV(qa, qs, kk, HP, false);
                coopMatLoadNV(kb0, ks, kk, HP, true);
                s0 = coopMatMulAddNV(qa, kb0, s0);
                if (BC > FS) {
                    coopMatLoadNV(kb1, ks, FS * HP + kk, HP, true);
                    s1 = coopMatMulAddNV(qa, kb1, s1);
                }
            }
            coopMatStoreNV(s0, ss, 0u, SP, false);
            if (BC > FS) coopMatStoreNV(s1, ss, FS, SP, false);
        }
#endif
        barrier();

        // 3. Online softmax of my row: its visible columns jlo .. cnt-1 of this tile.
        const uint cnt = n_r > t0 ? min(BC, n_r - t0) : 0u;
        const uint jlo = lo_r > t0 ? min(lo_r - t0, BC) : 0u;
        float mx = m_run;
        for (uint j = jlo; j < cnt; ++j) mx = max(mx, ss[r * SP + j]);
        // Nothing visible: mx == m_run and alpha 1 (or acc and l still 0).
        const float alpha = exp(m_run - mx);
        m_run = mx;
        float part = 0.0;
        for (uint j = c; j < BC; j += ROWT) {
            const float16_t p16 = float16_t(j < cnt && j >= jlo ? exp(ss[r * SP + j] - mx) : 0.0);
            ps[r * PP + j] = p16;
            part += float(p16);
        }
        lsum[tid] = part;
        for (uint d = c; d < HDP; d += ROWT) os[r * OP + d] *= alpha;
        barrier();
        float tile_sum = 0.0;
        for (uint i = 0u; i < ROWT; ++i) tile_sum += lsum[r * ROWT + i];
        l_run = l_run * alpha + tile_sum;

        // 4. O += P . V: A = P (row-major), B = V rows (k x n row-major).
#if EMULATE
        for (uint e = tid; e < BR * HDP; e += L) {
            const uint rr = e / HDP, d = e % HDP;
            float acc = os[rr * OP + d];
            for (uint j = 0u; j < BC; ++j) acc += float(ps[rr * PP + j]) * float(vs[j * HP + d]);
            os[rr * OP + d] = acc;
        }
#else
        if (mma) {
            for (uint dd = 0u; dd < HDP; dd += FS) {
                fcoopmatNV<32, SCOPE, FS, FS> acc;
                coopMatLoadNV(acc, os, dd, OP, false);
                fcoopmatNV<16, SCOPE, FS, FS> pa0, vb0, pa1, vb1;
                coopMatLoadNV(pa0, ps, 0u, PP, false);
                coopMatLoadNV(vb0, vs, dd, HP, false);
                acc = coopMatMulAddNV(pa0, vb0, acc);
                if (BC > FS) {
                    coopMatLoadNV(pa1, ps, FS, PP, false);
                    coopMatLoadNV(vb1, vs, FS * HP + dd, HP, false);
                    acc = coopMatMulAddNV(pa1, vb1, acc);
                }
                coopMatStoreNV(acc, os, dd, OP, false);
            }
        }
#endif
        barrier();  // the next tile overwrites ks, vs, ss, ps, lsum; O is read below
    }

    if (valid) {
        const float inv_l = l_run > 0.0 ? 1.0 / l_run : 0.0;
        const uint obase = m * pc.o_stride + h * hd;
        for (uint d = c; d < hd; d += ROWT) o[obase + d] = os[r * OP + d] * inv_l;
    }
}
