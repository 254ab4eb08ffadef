#version 450
// Causal grouped-query attention over a KV cache for a BLOCK of query rows
// (prefill; FlashAttention-2 style). Same contract as shaders/attention.comp:
//   q (M, n_head, hd) float (row stride q_stride floats), pos (M) int32,
//   K cache, V cache (rows, n_head_kv, hd) of types K_TYPE, V_TYPE (F32, F16 or Q8_0 rows,
//   shaders/kv_cache.glsl)  ->  out (M, n_head, hd) float (row stride o_stride)
//   query m, head h sees positions j = 0..pos[m] of kv head kvh = h / grp (grp = n_head / n_head_kv),
//   only pos[m] - window < j with window > 0 (sliding-window layers), at most the last
//   `rows` of them (the caches are rings: position j is in row j % rows):
//   out[m,h,:] = sum_j softmax_j(scale * q[m,h,:] . K[j % rows,kvh,:]) * V[j % rows,kvh,:]
//
// Work split. Workgroup (x = kvh, y = b) owns BR consecutive "query rows" of kv head
// kvh, where query row i = m * grp + hh stands for query m and head kvh * grp + hh:
// all grp query heads of one kv head share each K/V tile. The positions from the
// block's first visible one to its largest pos[m] are walked in tiles of BC positions
// (causal: tiles past the block's last position are never loaded; a tile's rows are read
// from the ring; a position that a row of the block does not see may be read from a row
// that holds another one, and is never used by that row):
//   1. the workgroup loads the K and V tiles (BC, hd) into shared memory (coalesced);
//   2. scores S (BR, BC): the TPR threads of a row each score the columns c, c+TPR, ...
//      (the whole dot over hd of q, pre-scaled, and K, by the thread): the scores are
//      registers (sr). With TPR == 1 q is in registers too, else in shared memory;
//   3. online softmax per row: the row max over the tile -- TPR == 1: the thread's own
//      scores; SUBGROUP: each thread's max, then a butterfly of subgroupShuffleXor over
//      the TPR lanes of the row (they are adjacent lanes of one subgroup); otherwise the
//      scores go through shared memory (ss) and each thread reads the row. Each score's
//      exp is taken once, by the thread that holds it. Then every thread rescales its
//      accumulators and running sum and adds p_j * V[j, :] for its dims: the vec4 columns
//      c, c+TPR, ... (DPT/4 of them, in registers; conflict-free reads), p_j from its own
//      registers (TPR == 1), from the lane that owns column j by subgroupShuffle
//      (SUBGROUP), or from shared memory (written as p after the scores).
//   Barriers a tile: 2 (TPR == 1 or SUBGROUP: tile loaded, tile consumed), else 4.
// Private arrays (qreg, sr, acc) are indexed only by the counters of loops with constant
// trip counts, unrolled ([[unroll]]): every index is a constant, so they stay in
// registers (a dynamic index keeps an array in memory: spills on Adreno 630).
// Shared tiles: four dims an element, head dims zero-padded to HDS. F16 caches keep
// their tiles as halves (uvec2: the cache's own bits, copied two words a load; converted
// to float where they are read, as every other half: vkrt_half2_to_float), half the
// shared memory of the float (vec4) tiles that F32 caches and Q8_0 caches (dequantized
// once, when the tile is loaded) use: larger tiles fit. The values are those KV_LOAD gives.
// Rows only score / accumulate their own visible columns (lo <= j <= pos[m]), so
// rows of the cache holding other positions are never read into its result (they may
// hold anything, NaN included). Rows with pos[m] < 0 produce zeros.
// Shapes (host: runtime/ops/attention.cpp flash_tiles picks them per hd, cache types,
// subgroup size and shared-memory size):
//   WG = BR * TPR threads, DPT a multiple of 4, HDS = TPR * DPT >= hd (padded head dim),
//   shared (element units, HDS4 = HDS / 4, P = 1 if TPR > 1 else 0, so that the rows that
//   threads read at once fall in different banks): Q BR x (HDS4+P) vec4s (TPR > 1 only),
//   K BC x (HDS4+P), V BC x HDS4 tile elements; floats: S and P 2 x BR x (BC+1) (TPR > 1
//   without SUBGROUP only), and 2 x BR uints (each row's visible range).
// SUBGROUP (TPR > 1 only; the host picks it where the device has subgroup shuffles, TPR <=
// the subgroup size and the workgroup is whole subgroups): a thread's row and lane come
// from its subgroup lane (gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID), so
// a row's TPR threads are adjacent lanes of one subgroup; every shuffle is executed by
// every invocation (the tile loop's bounds are the workgroup's, no shuffle under a branch).
// Variants: cache types of K and V, named as in shaders/attention.comp, without and with
// SUBGROUP (_sg).
//! variant attention_flash K_TYPE=0 V_TYPE=0 SUBGROUP=0
//! variant attention_flash_kf32_vf16 K_TYPE=0 V_TYPE=1 SUBGROUP=0
//! variant attention_flash_kf32_vq8_0 K_TYPE=0 V_TYPE=8 SUBGROUP=0
//! variant attention_flash_kf16_vf32 K_TYPE=1 V_TYPE=0 SUBGROUP=0
//! variant attention_flash_f16 K_TYPE=1 V_TYPE=1 SUBGROUP=0
//! variant attention_flash_kf16_vq8_0 K_TYPE=1 V_TYPE=8 SUBGROUP=0
//! variant attention_flash_kq8_0_vf32 K_TYPE=8 V_TYPE=0 SUBGROUP=0
//! variant attention_flash_kq8_0_vf16 K_TYPE=8 V_TYPE=1 SUBGROUP=0
//! variant attention_flash_q8_0 K_TYPE=8 V_TYPE=8 SUBGROUP=0
//! variant attention_flash_sg K_TYPE=0 V_TYPE=0 SUBGROUP=1
//! variant attention_flash_sg_kf32_vf16 K_TYPE=0 V_TYPE=1 SUBGROUP=1
//! variant attention_flash_sg_kf32_vq8_0 K_TYPE=0 V_TYPE=8 SUBGROUP=1
//! variant attention_flash_sg_kf16_vf32 K_TYPE=1 V_TYPE=0 SUBGROUP=1
//! variant attention_flash_sg_f16 K_TYPE=1 V_TYPE=1 SUBGROUP=1
//! variant attention_flash_sg_kf16_vq8_0 K_TYPE=1 V_TYPE=8 SUBGROUP=1
//! variant attention_flash_sg_kq8_0_vf32 K_TYPE=8 V_TYPE=0 SUBGROUP=1
//! variant attention_flash_sg_kq8_0_vf16 K_TYPE=8 V_TYPE=1 SUBGROUP=1
//! variant attention_flash_sg_q8_0 K_TYPE=8 V_TYPE=8 SUBGROUP=1
#extension GL_EXT_control_flow_attributes : require
#if SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#endif
#include "kv_cache.glsl"
#include "shared/attention.h"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint BR = 64;     // query rows per workgroup
layout(constant_id = 2) const uint BC = 32;     // kv rows per tile
layout(constant_id = 3) const uint TPR = 1;     // threads per query row
layout(constant_id = 4) const uint DPT = 8;     // output dims per thread (multiple of 4)
layout(constant_id = 5) const uint NS = 32;     // scores per thread per tile = ceil(BC / TPR)
layout(constant_id = 6) const uint Q_SIZE = 1;  // vec4s
layout(constant_id = 7) const uint K_SIZE = 32 * 2;  // tile elements (vec4 or uvec2)
layout(constant_id = 8) const uint V_SIZE = 32 * 2;
layout(constant_id = 9) const uint S_SIZE = 1;  // floats

layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) readonly buffer Kc { uint kc[]; };
layout(binding = 2) readonly buffer Vc { uint vc[]; };
layout(binding = 3) readonly buffer P { int pos[]; };
layout(binding = 4) writeonly buffer O { float o[]; };
layout(push_constant) uniform PC { AttentionPush pc; };  // n_split, head_groups unused

const float NEG_BIG = -3.402823466e38;
const uint D4 = DPT / 4u;                 // vec4 columns a thread owns
const uint HDS4 = TPR * D4;               // vec4s a (padded) head row
const uint PAD = TPR > 1u ? 1u : 0u;
const uint QK_STRIDE = HDS4 + PAD;        // elements between rows of qs / ks
const uint S_STRIDE = BC + 1u;
const uint P_OFF = BR * S_STRIDE;         // p after the scores in ss
// Scores stay in registers through the softmax and P.V (no ss, two barriers a tile).
const bool REG = TPR == 1u || SUBGROUP != 0;

// Tile elements: four dims of a K (V) row; halves (the cache's bits) for F16 caches.
#if K_TYPE == VKRT_TYPE_F16
#define KT uvec2
#define KT_ZERO uvec2(0u)
#define KT_LOAD(r, e, lim, width) KV_LOAD4_HALF_BITS(kc, r, e, lim, width)
#define KT_GET(x) kv_half4(x)
#else
#define KT vec4
#define KT_ZERO vec4(0.0)
#define KT_LOAD(r, e, lim, width) KV_LOAD4(K_TYPE, kc, r, e, lim, width)
#define KT_GET(x) (x)
#endif
#if V_TYPE == VKRT_TYPE_F16
#define VT uvec2
#define VT_ZERO uvec2(0u)
#define VT_LOAD(r, e, lim, width) KV_LOAD4_HALF_BITS(vc, r, e, lim, width)
#define VT_GET(x) kv_half4(x)
#else
#define VT vec4
#define VT_ZERO vec4(0.0)
#define VT_LOAD(r, e, lim, width) KV_LOAD4(V_TYPE, vc, r, e, lim, width)
#define VT_GET(x) (x)
#endif

shared vec4 qs[Q_SIZE];   // BR x QK_STRIDE, pre-scaled (TPR > 1)
shared KT ks[K_SIZE];     // BC x QK_STRIDE
shared VT vs[V_SIZE];     // BC x HDS4
shared float ss[S_SIZE];  // scores, then p: 2 x BR x S_STRIDE (TPR > 1 without SUBGROUP)
shared uint nrow[BR];     // visible kv rows of each query row: lorow[r] .. nrow[r]-1
shared uint lorow[BR];

// Four dims 4*d4.. of a float row at `base` (zero past hd).
#define LOAD4(buf, base, d4, hd) vec4(                                      \
    4u * (d4) + 0u < (hd) ? buf[(base) + 4u * (d4) + 0u] : 0.0,             \
    4u * (d4) + 1u < (hd) ? buf[(base) + 4u * (d4) + 1u] : 0.0,             \
    4u * (d4) + 2u < (hd) ? buf[(base) + 4u * (d4) + 2u] : 0.0,             \
    4u * (d4) + 3u < (hd) ? buf[(base) + 4u * (d4) + 3u] : 0.0)
void main() {
    const uint WG = gl_WorkGroupSize.x;
    const uint tid = gl_LocalInvocationID.x;
    const uint kvh = gl_WorkGroupID.x;
    const uint grp = pc.n_head / pc.n_head_kv;
    const uint hd = pc.hd;
    // My query row in the block and my lane in it (SUBGROUP: from my subgroup lane, so
    // that a row's lanes are adjacent in one subgroup).
#if SUBGROUP
    const uint lane = gl_SubgroupID * gl_SubgroupSize + gl_SubgroupInvocationID;
    const uint row_lane0 = gl_SubgroupInvocationID & ~(TPR - 1u);  // lane c = 0 of my row
#else
    const uint lane = tid;
#endif
    const uint r = lane / TPR, c = lane % TPR;

    // Query row -> (m, h).
    const uint qrow = gl_WorkGroupID.y * BR + r;
    const uint m = qrow / grp;
    const uint h = kvh * grp + qrow % grp;
    const bool valid = m < pc.M;
    uint n_r = 0u;
    if (valid) {
        const int p = pos[m];
        n_r = p < 0 ? 0u : uint(p) + 1u;
    }
    // Visible positions lo_r .. n_r-1: the last `span` (<= rows) up to p.
    const uint span = pc.window > 0u ? min(pc.window, pc.rows) : pc.rows;
    const uint lo_r = n_r > span ? n_r - span : 0u;
    if (c == 0u) {
        nrow[r] = n_r;
        lorow[r] = n_r > 0u ? lo_r : 0xffffffffu;  // rows with nothing visible do not bound the start
    }

    // q, scaled: in registers with one thread a row, else the block in shared memory.
    vec4 qreg[D4];
    if (TPR == 1u) {
        [[unroll]] for (uint k = 0u; k < D4; ++k)
            qreg[k] = valid ? LOAD4(q, m * pc.q_stride + h * hd, k, hd) * pc.scale : vec4(0.0);
    } else {
        for (uint e = tid; e < BR * HDS4; e += WG) {
            const uint rr = e / HDS4, d4 = e % HDS4;
            const uint qr = gl_WorkGroupID.y * BR + rr, mm = qr / grp;
            vec4 v = vec4(0.0);
            if (mm < pc.M) v = LOAD4(q, mm * pc.q_stride + (kvh * grp + qr % grp) * hd, d4, hd) * pc.scale;
            qs[rr * QK_STRIDE + d4] = v;
        }
    }
    barrier();
    uint n_blk = 0u, lo_blk = 0xffffffffu;
    for (uint i = 0u; i < BR; ++i) {
        n_blk = max(n_blk, nrow[i]);
        lo_blk = min(lo_blk, lorow[i]);
    }
    const uint t_start = lo_blk == 0xffffffffu ? 0u : lo_blk / BC * BC;  // whole tiles (aligned reads)

    const uint kv_stride = pc.n_head_kv * hd;
    const uint kvbase = kvh * hd;
    vec4 acc[D4];
    [[unroll]] for (uint k = 0u; k < D4; ++k) acc[k] = vec4(0.0);
    float m_run = NEG_BIG, l_run = 0.0;

    for (uint t0 = t_start; t0 < n_blk; t0 += BC) {
        // 1. K, V tiles; positions past the block's range and dims past hd are zero.
        for (uint e = tid; e < BC * HDS4; e += WG) {
            const uint j = e / HDS4, d4 = e % HDS4;
            KT kv = KT_ZERO;
            VT vv = VT_ZERO;
            if (t0 + j < n_blk) {
                // Four elements a load where aligned (f16: two words, q8_0: one; kv_cache.glsl).
                const uint jr = (t0 + j) % pc.rows;
                kv = KT_LOAD(jr, kvbase + 4u * d4, kvbase + hd, kv_stride);
                vv = VT_LOAD(jr, kvbase + 4u * d4, kvbase + hd, kv_stride);
            }
            ks[j * QK_STRIDE + d4] = kv;
            vs[j * HDS4 + d4] = vv;
        }
        barrier();

        // 2. Scores for my columns j = c + i * TPR.
        // My row's visible columns in this tile: jlo .. cnt-1.
        const uint cnt = n_r > t0 ? min(BC, n_r - t0) : 0u;
        const uint jlo = lo_r > t0 ? min(lo_r - t0, BC) : 0u;
        float sr[NS];
        [[unroll]] for (uint i = 0u; i < NS; ++i) sr[i] = 0.0;
        if (cnt > 0u) {
            [[unroll]] for (uint d4 = 0u; d4 < HDS4; ++d4) {
                const vec4 qv = TPR == 1u ? qreg[min(d4, D4 - 1u)] : qs[r * QK_STRIDE + d4];
                [[unroll]] for (uint i = 0u; i < NS; ++i) {
                    const uint j = c + i * TPR;
                    if (j < BC) sr[i] += dot(qv, KT_GET(ks[j * QK_STRIDE + d4]));
                }
            }
            if (!REG) {
                [[unroll]] for (uint i = 0u; i < NS; ++i) {
                    const uint j = c + i * TPR;
                    if (j < BC) ss[r * S_STRIDE + j] = sr[i];
                }
            }
        }
        if (!REG) barrier();

        // 3. Online softmax: the row max over the tile's visible scores (jlo <= j < cnt),
        // then p_j = exp(s_j - max) once per score by its thread (0 where not visible).
        float mx = m_run;
        if (REG) {
            [[unroll]] for (uint i = 0u; i < NS; ++i) {
                const uint j = c + i * TPR;
                if (j < cnt && j >= jlo) mx = max(mx, sr[i]);
            }
#if SUBGROUP
            // The row's TPR lanes (aligned, adjacent): max of their maxes.
            [[unroll]] for (uint x = 1u; x < TPR; x <<= 1u) mx = max(mx, subgroupShuffleXor(mx, x));
#endif
        } else {
            for (uint j = jlo; j < cnt; ++j) mx = max(mx, ss[r * S_STRIDE + j]);
        }
        [[unroll]] for (uint i = 0u; i < NS; ++i) {
            const uint j = c + i * TPR;
            sr[i] = (j < cnt && j >= jlo) ? exp(sr[i] - mx) : 0.0;
            if (!REG && j < BC) ss[P_OFF + r * S_STRIDE + j] = sr[i];
        }
        if (!REG) barrier();
        // P.V for my dims (columns not visible are skipped, not multiplied by 0: the rows
        // of the cache they come from may hold anything, NaN included). Nothing visible:
        // mx == m_run, so alpha is 1 (or the row has seen nothing yet: acc and l_run are 0).
        const float alpha = exp(m_run - mx);
        l_run *= alpha;
        [[unroll]] for (uint k = 0u; k < D4; ++k) acc[k] *= alpha;
        m_run = mx;
        if (TPR == 1u) {
            [[unroll]] for (uint i = 0u; i < NS; ++i) {
                if (i < cnt && i >= jlo) {
                    l_run += sr[i];
                    [[unroll]] for (uint k = 0u; k < D4; ++k) acc[k] += sr[i] * VT_GET(vs[i * HDS4 + c + k * TPR]);
                }
            }
        } else if (REG) {
#if SUBGROUP
            // p_j from the lane that owns column j (every lane runs every shuffle).
            [[unroll]] for (uint i = 0u; i < NS; ++i) {
                [[unroll]] for (uint cc = 0u; cc < TPR; ++cc) {
                    const float pj = subgroupShuffle(sr[i], row_lane0 + cc);
                    const uint j = cc + i * TPR;
                    if (j < cnt && j >= jlo) {
                        l_run += pj;
                        [[unroll]] for (uint k = 0u; k < D4; ++k) acc[k] += pj * VT_GET(vs[j * HDS4 + c + k * TPR]);
                    }
                }
            }
#endif
        } else {
            for (uint j = jlo; j < cnt; ++j) {
                const float pj = ss[P_OFF + r * S_STRIDE + j];
                l_run += pj;
                [[unroll]] for (uint k = 0u; k < D4; ++k) acc[k] += pj * VT_GET(vs[j * HDS4 + c + k * TPR]);
            }
        }
        barrier();  // the next tile overwrites ks, vs (and ss)
    }

    if (valid) {
        const float inv_l = l_run > 0.0 ? 1.0 / l_run : 0.0;
        const uint obase = m * pc.o_stride + h * hd;
        [[unroll]] for (uint k = 0u; k < D4; ++k) {
            const uint d = 4u * (c + k * TPR);
            const vec4 v = acc[k] * inv_l;
            if (d + 0u < hd) o[obase + d + 0u] = v.x;
            if (d + 1u < hd) o[obase + d + 1u] = v.y;
            if (d + 2u < hd) o[obase + d + 2u] = v.z;
            if (d + 3u < hd) o[obase + d + 3u] = v.w;
        }
    }
}
