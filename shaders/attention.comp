#version 450
// Decode attention (a few query rows) over a KV cache, split over the KV length:
//   q (M, n_head, hd) float (row stride q_stride floats), pos (M) int32,
//   K cache, V cache (rows, n_head_kv, hd) of types K_TYPE, V_TYPE (F32, F16 or Q8_0 rows,
//   shaders/kv_cache.glsl)  ->  out (M, n_head, hd) float (row stride o_stride)
//   query m, head h sees positions j = 0..pos[m] of kv head h / grp (grp = n_head / n_head_kv),
//   only pos[m] - window < j with window > 0 (sliding-window layers):
//   out[m,h,:] = sum_j softmax_j(scale * q[m,h,:] . K[j % rows,kvh,:]) * V[j % rows,kvh,:]
// The caches are rings of `rows` rows (shaders/kv_store.comp): position j is in row
// j % rows; a query sees at most the last `rows` positions up to its own, whatever the window.
//
// Work split (FlashDecoding): workgroup (x = kvh, y = split s, z = m * head_groups + hg)
// serves the HG query heads kvh*grp + hg*HG .. of query m (GQA: each K/V row it reads is
// used by all of them, so a kv head's rows are read once per group, not once per query
// head) over split s of the query's visible positions (n_split nearly equal chunks, so a
// short context fills the device with kv heads x splits workgroups). n_split == 1 writes
// out directly; else each split writes (running max, running sum, unnormalized sums over
// hd) to `part`, and the split that finishes last (arrival.glsl: a counter per (kv head,
// query x head group) in the scratch's first kAttnArrivalWords words) merges them into out
// in the same dispatch (no combine pass: one dispatch and one barrier a layer fewer).
// Q8_OUT (the next matrix runs as an integer GEMV; hd % 32 == 0): out is the q8_1
// activation buffer (shared/q8_1.h, rows of n_head * hd): the workgroup writing a head
// quantizes its hd / 32 blocks (q8_1.glsl), so no quantize_q8_1 pass follows.
// A split walks its chunk in tiles of L (= workgroup size) positions with an online softmax:
//   1. scores: thread t scores position t0+t against the HG query heads (q, pre-scaled,
//      in shared memory as vec4s), reading its K row four elements a load (KV_LOAD4);
//   2. tile max per head: subgroupMax + shared memory (SUBGROUP=1) or a shared tree;
//   3. p = exp(s - max) once per score by the thread that holds it, into shared memory;
//   4. P.V: thread (vec4 column c, row group g) adds p_j * V[j, 4c..4c+3] for the rows
//      j = g, g+G, ... of the tile (consecutive threads read consecutive V bytes), for
//      every head, and the heads' sums of p (the running sums need no reduction per tile).
//   The G row groups' sums are added through shared memory at the end.
// Private arrays (s, acc, lsum, mrun) have HG (a specialization constant <= kAttnMaxHeads)
// entries and are indexed only by unrolled loops over them, so they stay in registers
// (a dynamically indexed array is scratch memory on NVK, spills on Adreno).
// Limits: hd <= 256 (hd/4 <= L); L = kAttnDecodeThreads (the shared arrays are sized for it).
// Rows with pos[m] < 0 produce zeros (the host validates positions against n_ctx).
// Variants: subgroup or shared-memory reductions x cache types of K and V; names are
// attention_<sg|shared>[_<type> when K and V share it | _k<type>_v<type>] (F32: no suffix).
//! variant attention_sg SUBGROUP=1 K_TYPE=0 V_TYPE=0
//! variant attention_sg_kf32_vf16 SUBGROUP=1 K_TYPE=0 V_TYPE=1
//! variant attention_sg_kf32_vq8_0 SUBGROUP=1 K_TYPE=0 V_TYPE=8
//! variant attention_sg_kf16_vf32 SUBGROUP=1 K_TYPE=1 V_TYPE=0
//! variant attention_sg_f16 SUBGROUP=1 K_TYPE=1 V_TYPE=1
//! variant attention_sg_kf16_vq8_0 SUBGROUP=1 K_TYPE=1 V_TYPE=8
//! variant attention_sg_kq8_0_vf32 SUBGROUP=1 K_TYPE=8 V_TYPE=0
//! variant attention_sg_kq8_0_vf16 SUBGROUP=1 K_TYPE=8 V_TYPE=1
//! variant attention_sg_q8_0 SUBGROUP=1 K_TYPE=8 V_TYPE=8
//! variant attention_shared SUBGROUP=0 K_TYPE=0 V_TYPE=0
//! variant attention_shared_kf32_vf16 SUBGROUP=0 K_TYPE=0 V_TYPE=1
//! variant attention_shared_kf32_vq8_0 SUBGROUP=0 K_TYPE=0 V_TYPE=8
//! variant attention_shared_kf16_vf32 SUBGROUP=0 K_TYPE=1 V_TYPE=0
//! variant attention_shared_f16 SUBGROUP=0 K_TYPE=1 V_TYPE=1
//! variant attention_shared_kf16_vq8_0 SUBGROUP=0 K_TYPE=1 V_TYPE=8
//! variant attention_shared_kq8_0_vf32 SUBGROUP=0 K_TYPE=8 V_TYPE=0
//! variant attention_shared_kq8_0_vf16 SUBGROUP=0 K_TYPE=8 V_TYPE=1
//! variant attention_shared_q8_0 SUBGROUP=0 K_TYPE=8 V_TYPE=8
#extension GL_EXT_control_flow_attributes : require
#if SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "kv_cache.glsl"
#include "shared/attention.h"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint HG = 1u;  // query heads a workgroup serves, 1..kAttnMaxHeads
// Shared array sizes for HG heads of hd4 = ceil(hd / 4) vec4s (the host computes them: a
// workgroup takes only the shared memory it uses, so more of them fit a compute unit):
layout(constant_id = 2) const uint QS_SIZE = kAttnDecodeThreads;      // vec4s: max(HG * hd4, L)
layout(constant_id = 3) const uint PS_SIZE = kAttnDecodeThreads;      // floats: HG * L
layout(constant_id = 4) const uint RED_SIZE = kAttnDecodeThreads / 2u; // floats: HG * L / 2
// Output rows as q8_1 blocks (the header; the host sets it only where hd % 32 == 0).
layout(constant_id = 6) const bool Q8_OUT = false;
layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) readonly buffer Kc { uint kc[]; };
layout(binding = 2) readonly buffer Vc { uint vc[]; };
layout(binding = 3) readonly buffer P { int pos[]; };
layout(binding = 4) writeonly buffer O { float o[]; };
layout(binding = 4) writeonly buffer OQ { uint xq[]; };  // the same binding with Q8_OUT
// The split scratch: kAttnArrivalWords counters (arrival.glsl), then the partial results
// (M, n_head, n_split, kAttnPartialHeader + hd) floats; bound to `out` again when
// n_split == 1 (unused). Coherent: other workgroups read what a split writes.
layout(binding = 5) coherent buffer Part { float part[]; };
#define ARRIVAL_BINDING 5
#include "arrival.glsl"
layout(push_constant) uniform PC { AttentionPush pc; };
#include "shared/q8_1.h"
#include "q8_1.glsl"

const float NEG_BIG = -3.402823466e38;
const uint L = kAttnDecodeThreads;

shared vec4 qs[QS_SIZE];      // q of head hh at hh*hd4; at the end, the row groups' sums
shared float ps[PS_SIZE];     // scores, then p, of head hh at hh*L
shared float red[RED_SIZE];   // tile maxes of head hh at hh*L/2: per subgroup (SUBGROUP) or a tree
shared float alpha_s[kAttnMaxHeads];      // this tile's rescale factor of each head

// Head `head` of query m's output, vec4 column c = tid held by the threads with `mine`
// (tid < hd4), written as floats, or with Q8_OUT as the head's hd / 32 q8_1 blocks: the
// columns through qs (a thread a block; qs[tid] is free: only thread tid reads it in the
// row groups' sum before this), where `valid` (uniform: the head exists). Every thread
// calls it in uniform control flow (Q8_OUT has barriers).
void store_head(uint m, uint head, vec4 r, bool mine, bool valid) {
    const uint tid = gl_LocalInvocationID.x, hd = pc.hd;
    if (!Q8_OUT) {
        if (mine) {
            const uint b = m * pc.o_stride + head * hd + 4u * tid;
            [[unroll]] for (uint i = 0u; i < 4u; ++i)
                if (4u * tid + i < hd) o[b + i] = r[i];
        }
        return;
    }
    if (mine) qs[tid] = r;
    barrier();
    if (valid && tid < hd / kQ8Block) {
        float v[32];
        for (uint i = 0u; i < 8u; ++i) {
            const vec4 c = qs[8u * tid + i];
            for (uint j = 0u; j < 4u; ++j) v[4u * i + j] = c[j];
        }
        const uint K = pc.n_head * hd;
        q8_1_store_block(pc.M, K, (m * K + head * hd) / kQ8Block + tid, v);
    }
    barrier();  // qs is rewritten next
}

void main() {
    const uint tid = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
    const uint kvh = gl_WorkGroupID.x, split = gl_WorkGroupID.y;
    const uint m = gl_WorkGroupID.z / pc.head_groups, hg = gl_WorkGroupID.z % pc.head_groups;
    if (kvh >= pc.n_head_kv || m >= pc.M) return;  // uniform per workgroup
    const uint hd = pc.hd, hd4 = (hd + 3u) / 4u;
    const uint grp = pc.n_head / pc.n_head_kv;
    const uint hh0 = hg * HG;                     // first head of the group this workgroup serves
    const uint nh = min(HG, grp - min(hh0, grp)); // heads it serves (HG but in the last group)
    const uint h0 = kvh * grp + hh0;

    const int p = pos[m];
    // Visible positions j0 .. n-1: the last `span` up to p (span <= rows, so each one is
    // still in its ring row); this split's share lo .. hi-1.
    const uint n = p < 0 ? 0u : uint(p) + 1u;
    const uint span = pc.window > 0u ? min(pc.window, pc.rows) : pc.rows;
    const uint j0 = n > span ? n - span : 0u;
    const uint chunk = (n - j0 + pc.n_split - 1u) / pc.n_split;
    const uint lo = min(j0 + split * chunk, n), hi = min(lo + chunk, n);

    // q of my heads, scaled (zero past hd and for heads past nh).
    for (uint e = tid; e < HG * hd4; e += WG) {
        const uint hh = e / hd4, d4 = e % hd4;
        vec4 v = vec4(0.0);
        if (hh < nh) {
            const uint b = m * pc.q_stride + (h0 + hh) * hd + 4u * d4;
            [[unroll]] for (uint i = 0u; i < 4u; ++i)
                if (4u * d4 + i < hd) v[i] = q[b + i] * pc.scale;
        }
        qs[e] = v;
    }
    barrier();

    const uint kv_stride = pc.n_head_kv * hd;
    const uint kvbase = kvh * hd, kvend = kvbase + hd;
    // P.V split: vec4 column c of row group g (G groups; threads past G * hd4 idle there).
    const uint G = WG / hd4;
    const uint c = tid % hd4, g = tid / hd4;
    vec4 acc[HG];
    float lsum[HG], mrun[HG];
    [[unroll]] for (uint hh = 0u; hh < HG; ++hh) {
        acc[hh] = vec4(0.0);
        lsum[hh] = 0.0;
        mrun[hh] = NEG_BIG;
    }

    for (uint t0 = lo; t0 < hi; t0 += WG) {
        const uint cnt = min(WG, hi - t0);  // positions t0 .. t0+cnt-1, all visible
        // 1. scores of position t0 + tid
        float s[HG];
        [[unroll]] for (uint hh = 0u; hh < HG; ++hh) s[hh] = NEG_BIG;
        if (tid < cnt) {
            const uint jr = (t0 + tid) % pc.rows;
            [[unroll]] for (uint hh = 0u; hh < HG; ++hh) s[hh] = 0.0;
            for (uint d4 = 0u; d4 < hd4; ++d4) {
                const vec4 k = KV_LOAD4(K_TYPE, kc, jr, kvbase + 4u * d4, kvend, kv_stride);
                [[unroll]] for (uint hh = 0u; hh < HG; ++hh) s[hh] += dot(qs[hh * hd4 + d4], k);
            }
        }
        // 2. tile max per head -> mt (every thread gets it)
        float mt[HG];
#if SUBGROUP
        [[unroll]] for (uint hh = 0u; hh < HG; ++hh) {
            const float v = subgroupMax(s[hh]);
            if (subgroupElect()) red[hh * (L / 2u) + gl_SubgroupID] = v;
        }
        barrier();
        // (the loop over the heads innermost: an unrolled loop may not hold another loop)
        [[unroll]] for (uint hh = 0u; hh < HG; ++hh) mt[hh] = red[hh * (L / 2u)];
        for (uint i = 1u; i < gl_NumSubgroups; ++i)
            [[unroll]] for (uint hh = 0u; hh < HG; ++hh) mt[hh] = max(mt[hh], red[hh * (L / 2u) + i]);
#else
        [[unroll]] for (uint hh = 0u; hh < HG; ++hh) ps[hh * L + tid] = s[hh];
        barrier();
        for (uint e = tid; e < HG * (WG / 2u); e += WG) {
            const uint hh = e / (WG / 2u), i = e % (WG / 2u);
            red[hh * (L / 2u) + i] = max(ps[hh * L + i], ps[hh * L + i + WG / 2u]);
        }
        barrier();
        for (uint w = WG / 4u; w > 0u; w >>= 1u) {
            for (uint e = tid; e < HG * w; e += WG) {
                const uint hh = e / w, i = e % w;
                red[hh * (L / 2u) + i] = max(red[hh * (L / 2u) + i], red[hh * (L / 2u) + i + w]);
            }
            barrier();
        }
        [[unroll]] for (uint hh = 0u; hh < HG; ++hh) mt[hh] = red[hh * (L / 2u)];
#endif
        // 3. p = exp(s - max), once per score; the heads' rescale factors through shared
        // memory (the same in every thread: one writes them), so that the scores, tile
        // maxes and factors are not live across the barrier (registers).
        [[unroll]] for (uint hh = 0u; hh < HG; ++hh) {
            const float mnew = max(mrun[hh], mt[hh]);
            if (tid == 0u) alpha_s[hh] = exp(mrun[hh] - mnew);
            mrun[hh] = mnew;
            ps[hh * L + tid] = tid < cnt ? exp(s[hh] - mnew) : 0.0;
        }
        barrier();
        // 4. P.V over my rows of the tile
        if (g < G) {
            [[unroll]] for (uint hh = 0u; hh < HG; ++hh) {
                acc[hh] *= alpha_s[hh];
                lsum[hh] *= alpha_s[hh];
            }
            for (uint jj = g; jj < cnt; jj += G) {
                const vec4 v = KV_LOAD4(V_TYPE, vc, (t0 + jj) % pc.rows, kvbase + 4u * c, kvend, kv_stride);
                [[unroll]] for (uint hh = 0u; hh < HG; ++hh) {
                    const float pj = ps[hh * L + jj];
                    acc[hh] += pj * v;
                    lsum[hh] += pj;
                }
            }
        }
        barrier();  // ps and red are rewritten by the next tile
    }

    // The row groups' sums, head by head (qs is free now): group 0 adds them up and writes.
    // A loop with barriers may stay a loop (compilers need not unroll it): head hh's values
    // are picked out by an unrolled loop with constant indices, never acc[hh] (a dynamic
    // index puts the arrays in scratch memory: NVK did, 28 bytes a head).
    const uint qbase = m * pc.n_head + h0;  // (query, head) index of my first head
    const uint pstride = kAttnPartialHeader + hd;
    for (uint hh = 0u; hh < HG; ++hh) {
        vec4 acc_h = vec4(0.0);
        float l_h = 0.0, m_h = NEG_BIG;
        [[unroll]] for (uint k = 0u; k < HG; ++k) {
            if (k == hh) {
                acc_h = acc[k];
                l_h = lsum[k];
                m_h = mrun[k];
            }
        }
        if (g < G) qs[tid] = acc_h;
        if (g < G && c == 0u) ps[g] = l_h;
        barrier();
        vec4 r = vec4(0.0);
        if (g == 0u && hh < nh) {
            vec4 a = qs[c];
            float l = ps[0];
            for (uint gg = 1u; gg < G; ++gg) {
                a += qs[gg * hd4 + c];
                l += ps[gg];
            }
            if (pc.n_split == 1u) {
                r = l > 0.0 ? a / l : vec4(0.0);
            } else {
                const uint b = kAttnArrivalWords + ((qbase + hh) * pc.n_split + split) * pstride;
                if (c == 0u) {
                    part[b] = m_h;
                    part[b + 1u] = l;
                }
                [[unroll]] for (uint i = 0u; i < 4u; ++i)
                    if (4u * c + i < hd) part[b + kAttnPartialHeader + 4u * c + i] = a[i];
            }
        }
        if (pc.n_split == 1u) store_head(m, h0 + hh, r, g == 0u && hh < nh, hh < nh);
        barrier();
    }
    if (pc.n_split == 1u) return;

    // ---- split: the last split of this (kv head, query, head group) to finish merges
    // every split's partial result of its heads (arrival.glsl):
    //   out[m,h,d] = sum_s w_s a_s[d] / sum_s w_s l_s,  w_s = exp(m_s - max_s m_s)
    // (a split with no positions has m_s = -FLT_MAX, l_s = 0, a_s = 0: weight 0 beside any
    // split that has some; a query with none at all (pos < 0) gets zeros). Thread tid < hd4
    // takes vec4 column tid.
    if (!last_arrival(gl_WorkGroupID.z * pc.n_head_kv + kvh, 1u, pc.n_split)) return;
    for (uint hh = 0u; hh < nh; ++hh) {
        vec4 r = vec4(0.0);
        if (tid < hd4) {
            const uint S = pc.n_split, base = kAttnArrivalWords + (qbase + hh) * S * pstride;
            float mx = part[base];
            for (uint s = 1u; s < S; ++s) mx = max(mx, part[base + s * pstride]);
            float l = 0.0;
            vec4 a = vec4(0.0);
            for (uint s = 0u; s < S; ++s) {
                const uint b = base + s * pstride;
                const float w = exp(part[b] - mx);
                l += w * part[b + 1u];
                vec4 as = vec4(0.0);
                [[unroll]] for (uint i = 0u; i < 4u; ++i)
                    if (4u * tid + i < hd) as[i] = part[b + kAttnPartialHeader + 4u * tid + i];
                a += w * as;
            }
            r = a * (l > 0.0 ? 1.0 / l : 0.0);
        }
        store_head(m, h0 + hh, r, tid < hd4, true);
    }
}
