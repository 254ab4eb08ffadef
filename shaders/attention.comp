#version 450
// Causal multi-head attention with grouped-query heads, over a KV cache:
//   q (M, n_head, hd) float (row stride q_stride floats), pos (M) int32,
//   K cache, V cache (rows, n_head_kv, hd) of types K_TYPE, V_TYPE (F32, F16 or Q8_0 rows,
//   shaders/kv_cache.glsl)  ->  out (M, n_head, hd) float (row stride o_stride)
//   query m, head h sees positions j = 0..pos[m] of kv head h / (n_head / n_head_kv),
//   only pos[m] - window < j with window > 0 (sliding-window layers):
//   out[m,h,:] = sum_j softmax_j(scale * q[m,h,:] . K[j % rows,kvh,:]) * V[j % rows,kvh,:]
// The caches are rings of `rows` rows (shaders/kv_store.comp): position j is in row
// j % rows. A layer that keeps every position has rows = n_ctx; a sliding-window layer
// keeps rows >= window + (queries of a batch) - 1, so that a batch's stores never
// overwrite a position one of its queries still sees. A query sees at most `rows`
// positions (the last ones up to its own), whatever the window.
// One workgroup per (head, query): x = head, y = query. The kv range is walked in
// tiles of L (= workgroup size) rows with an online softmax (running max and sum,
// flash-attention style), so no n_ctx-sized scratch is needed:
//   scores: thread t scores row t0+t (dot over hd with q from shared memory);
//   tile max / sum: workgroup reductions (subgroup ops with SUBGROUP=1, shared tree else);
//   P.V: threads split over (dim, group of rows): G = L/hd groups when hd <= L, each
//        summing every G-th row of the tile for one dim (coalesced V reads); the G
//        partial sums are added at the end. hd > L: each thread owns dims t, t+L, ...
// Limits: hd <= 256, L a power of two >= 64 (ACC_MAX accumulators per thread).
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
#if SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "kv_cache.glsl"
layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer Q { float q[]; };
layout(binding = 1) readonly buffer Kc { uint kc[]; };
layout(binding = 2) readonly buffer Vc { uint vc[]; };
layout(binding = 3) readonly buffer P { int pos[]; };
layout(binding = 4) writeonly buffer O { float o[]; };
layout(push_constant) uniform PC {
    uint M, n_head, n_head_kv, hd, rows;
    float scale;
    uint q_stride, o_stride;
    uint window;  // 0 = none
} pc;

#define MAX_HD 256u
#define ACC_MAX 4
const float NEG_BIG = -3.402823466e38;

shared float qs[MAX_HD];
shared float ps[gl_WorkGroupSize.x];
shared float red[gl_WorkGroupSize.x];

float wg_max(float v) {
    const uint tid = gl_LocalInvocationID.x;
#if SUBGROUP
    v = subgroupMax(v);
    if (subgroupElect()) red[gl_SubgroupID] = v;
    barrier();
    float r = red[0];
    for (uint i = 1u; i < gl_NumSubgroups; ++i) r = max(r, red[i]);
#else
    red[tid] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2u; s > 0u; s >>= 1u) {
        if (tid < s) red[tid] = max(red[tid], red[tid + s]);
        barrier();
    }
    float r = red[0];
#endif
    barrier();
    return r;
}
float wg_sum(float v) {
    const uint tid = gl_LocalInvocationID.x;
#if SUBGROUP
    v = subgroupAdd(v);
    if (subgroupElect()) red[gl_SubgroupID] = v;
    barrier();
    float r = 0.0;
    for (uint i = 0u; i < gl_NumSubgroups; ++i) r += red[i];
#else
    red[tid] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2u; s > 0u; s >>= 1u) {
        if (tid < s) red[tid] += red[tid + s];
        barrier();
    }
    float r = red[0];
#endif
    barrier();
    return r;
}

// Ring row of r0 + jj for r0 < rows, jj < rows.
uint ring_row(uint r) { return r >= pc.rows ? r - pc.rows : r; }

void main() {
    const uint h = gl_WorkGroupID.x, m = gl_WorkGroupID.y;
    if (h >= pc.n_head || m >= pc.M) return;  // uniform per workgroup
    const uint tid = gl_LocalInvocationID.x, L = gl_WorkGroupSize.x;
    const uint hd = pc.hd;
    const uint kvh = h / (pc.n_head / pc.n_head_kv);
    const int p = pos[m];
    // Visible positions j0 .. n-1: the last `span` up to p (span <= rows, so each one is
    // still in its ring row).
    const uint n = p < 0 ? 0u : uint(p) + 1u;
    const uint span = pc.window > 0u ? min(pc.window, pc.rows) : pc.rows;
    const uint j0 = n > span ? n - span : 0u;
    const uint obase = m * pc.o_stride + h * hd;
    if (n == 0u) {
        for (uint d = tid; d < hd; d += L) o[obase + d] = 0.0;
        return;
    }
    const uint qbase = m * pc.q_stride + h * hd;
    for (uint d = tid; d < hd; d += L) qs[d] = q[qbase + d] * pc.scale;
    barrier();

    const uint kv_stride = pc.n_head_kv * hd;
    const uint kvbase = kvh * hd;
    // P.V work split.
    const bool small_hd = hd <= L;
    const uint G = small_hd ? L / hd : 1u;
    const uint my_d = small_hd ? tid % hd : tid;
    const uint g = small_hd ? tid / hd : 0u;
    float acc[ACC_MAX];
    for (int k = 0; k < ACC_MAX; ++k) acc[k] = 0.0;
    float m_run = NEG_BIG, l_run = 0.0;

    for (uint t0 = j0; t0 < n; t0 += L) {
        const uint j = t0 + tid;
        float s = NEG_BIG;
        if (j < n) {
            const uint jr = j % pc.rows;
            float d0 = 0.0, d1 = 0.0;
            uint d = 0u;
            for (; d + 1u < hd; d += 2u) {
                d0 += qs[d] * KV_LOAD(K_TYPE, kc, jr, kvbase + d, kv_stride);
                d1 += qs[d + 1u] * KV_LOAD(K_TYPE, kc, jr, kvbase + d + 1u, kv_stride);
            }
            if (d < hd) d0 += qs[d] * KV_LOAD(K_TYPE, kc, jr, kvbase + d, kv_stride);
            s = d0 + d1;
        }
        const float m_new = max(m_run, wg_max(s));
        const float alpha = exp(m_run - m_new);
        const float pj = j < n ? exp(s - m_new) : 0.0;
        ps[tid] = pj;
        l_run = l_run * alpha + wg_sum(pj);  // wg_sum's barriers also publish ps[]
        m_run = m_new;

        // The tile's positions t0 .. t0+cnt-1 (cnt <= span <= rows) are in ring rows
        // r0, r0+1, ... wrapping once at most.
        const uint cnt = min(L, n - t0);
        const uint r0 = t0 % pc.rows;
        if (small_hd) {
            if (g < G) {
                float a = acc[0] * alpha;
                for (uint jj = g; jj < cnt; jj += G)
                    a += ps[jj] * KV_LOAD(V_TYPE, vc, ring_row(r0 + jj), kvbase + my_d, kv_stride);
                acc[0] = a;
            }
        } else {
            for (int k = 0; k < ACC_MAX; ++k) {
                const uint d = tid + uint(k) * L;
                if (d < hd) {
                    float a = acc[k] * alpha;
                    for (uint jj = 0u; jj < cnt; ++jj)
                        a += ps[jj] * KV_LOAD(V_TYPE, vc, ring_row(r0 + jj), kvbase + d, kv_stride);
                    acc[k] = a;
                }
            }
        }
        barrier();  // ps[] is rewritten by the next tile
    }

    const float inv_l = 1.0 / l_run;
    if (small_hd) {
        if (g < G) red[tid] = acc[0];
        barrier();
        if (tid < hd) {
            float r = 0.0;
            for (uint gg = 0u; gg < G; ++gg) r += red[gg * hd + tid];
            o[obase + tid] = r * inv_l;
        }
    } else {
        for (int k = 0; k < ACC_MAX; ++k) {
            const uint d = tid + uint(k) * L;
            if (d < hd) o[obase + d] = acc[k] * inv_l;
        }
    }
}
