#version 450
// The q, k, v step of a layer after its QKV projection, in one dispatch (the fused
// decode graph: what rope(q), rope_store(k) and kv_store(v) [after add_bias and the
// per-head q/k rmsnorm] do as separate passes):
//   q = rope(norm_q(q [+ bq]))                    in place in x (float)
//   K cache row pos[m] % rows = rope(norm_k(k [+ bk]))   rounded to K_TYPE
//   V cache row pos[m] % rows = v [+ bv]                 rounded to V_TYPE
// norm_*: per-head RMSNorm, (a * 1/sqrt(mean(a^2) + eps)) * w[c], as rmsnorm.comp;
// rope: rope.comp's float operations (theta, `precise` rotation), so every value is the
// separate kernels' up to the order of the norm's sum. Layout of x: shaders/shared/rope.h
// (RopeQkvPush). Options are specialization constants (uniform branches), K/V types variants.
// One workgroup per head of a token: the M * (n_head + 2 n_head_kv) heads in the order
// q heads, k heads, v heads of token 0, then token 1, ...; the head's norm is a workgroup
// sum (a shared-memory tree: the workgroup size is a power of two), read before the q
// head is rewritten in place. Rows with pos < 0 store nothing (the host validates
// positions). Caches: F32, F16 or q8_0 rows (shaders/kv_cache.glsl); a q8_0 block (32
// elements of a row, n_head_kv * head_dim % 32 == 0) is written by one thread of the
// workgroup of the head it starts in (kv_cache.glsl's block writer; neighbouring blocks of
// a row share a word, merged with atomics), its values computed as the F32/F16 stores do
// (below: a block of a head_dim < 32 cache spans heads).
//! variant rope_qkv_f32 K_TYPE=0 V_TYPE=0
//! variant rope_qkv_kf32_vf16 K_TYPE=0 V_TYPE=1
//! variant rope_qkv_kf16_vf32 K_TYPE=1 V_TYPE=0
//! variant rope_qkv_f16 K_TYPE=1 V_TYPE=1
//! variant rope_qkv_q8_0 K_TYPE=8 V_TYPE=8
//! variant rope_qkv_kq8_0_vf16 K_TYPE=8 V_TYPE=1
//! variant rope_qkv_kf16_vq8_0 K_TYPE=1 V_TYPE=8
//! variant rope_qkv_kq8_0_vf32 K_TYPE=8 V_TYPE=0
//! variant rope_qkv_kf32_vq8_0 K_TYPE=0 V_TYPE=8
#include "vkrt_formats.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ROPE = 1;     // rotary embedding (0: q, k as projected)
layout(constant_id = 2) const uint FACTORS = 0;  // per-pair frequency factors (binding 4)
layout(constant_id = 3) const uint BIAS = 0;     // + bias (binding 5)
layout(constant_id = 4) const uint QK_NORM = 0;  // per-head rmsnorm of q and k (bindings 6, 7)
layout(binding = 0) buffer X { float x[]; };     // q rewritten in place; k, v read
layout(binding = 1) readonly buffer P { int pos[]; };
// A q8_0 cache is merged into with atomics: not writeonly.
#if K_TYPE == VKRT_TYPE_Q8_0
layout(binding = 2) buffer KC { uint kc[]; };
#else
layout(binding = 2) writeonly buffer KC { uint kc[]; };
#endif
#if V_TYPE == VKRT_TYPE_Q8_0
layout(binding = 3) buffer VC { uint vc[]; };
#else
layout(binding = 3) writeonly buffer VC { uint vc[]; };
#endif
layout(binding = 4) readonly buffer FF { float factors[]; };  // (n_rot/2)
layout(binding = 5) readonly buffer B { float bias[]; };      // one fused row
layout(binding = 6) readonly buffer QN { float q_norm[]; };   // (head_dim)
layout(binding = 7) readonly buffer KN { float k_norm[]; };   // (head_dim)
#include "shared/rope.h"
layout(push_constant) uniform PC { RopeQkvPush pc; };
#include "reductions.glsl"
#include "kv_cache.glsl"
#define ROPE_FACTORS_SPEC (FACTORS != 0u)
#include "rope.glsl"

// Element c of the head at x[xb..], bias at bias[bb..]: biased, then normalized with
// `scale` and the weights of `part` (0 q, 1 k; 2 v: no norm).
float src(uint xb, uint bb, uint c) { return BIAS != 0u ? x[xb + c] + bias[bb + c] : x[xb + c]; }
float val(uint xb, uint bb, uint c, float scale, uint part) {
    const float a = src(xb, bb, c);
    if (QK_NORM == 0u || part == 2u) return a;
    return (a * scale) * (part == 0u ? q_norm[c] : k_norm[c]);
}

// Output element c of a k head (rotated when c < n_rot): rope.comp's rope_elem.
float k_elem(uint xb, uint bb, uint c, float scale, int p) {
    if (ROPE == 0u || c >= pc.n_rot) return val(xb, bb, c, scale, 1u);
    const uint half_rot = pc.n_rot / 2u;
    uint pr, i0, i1;
    if (pc.neox != 0u) { pr = c % half_rot; i0 = pr; i1 = pr + half_rot; }
    else               { pr = c / 2u; i0 = 2u * pr; i1 = i0 + 1u; }
    const vec2 r = rotate(val(xb, bb, i0, scale, 1u), val(xb, bb, i1, scale, 1u), theta_of(p, pr));
    return c == i0 ? r.x : r.y;
}

// ---- q8_0 caches: the workgroup of head c writes the blocks of the cache row that start in
// its head. With head_dim % 32 == 0 those are the head's own; with a smaller head a block
// runs on into the next heads, whose k / v this workgroup reads too (only q is rewritten
// in place) and whose q/k norm scale it sums itself, serially. The block writer asks for
// element ctx.x + j of the row (g_*: set before the call; one head and token a workgroup).
uint g_c, g_first, g_mrow;
float g_scale;
int g_p;
// The norm scale of the k head at x[xb..] (bias at bb..), summed by one thread.
float head_scale(uint xb, uint bb) {
    float s = 0.0;
    for (uint i = 0u; i < pc.head_dim; ++i) {
        const float a = src(xb, bb, i);
        s += a * a;
    }
    return 1.0 / sqrt(s / float(pc.head_dim) + pc.eps);
}
// Element e of the cache row being written, of `part` (1 k, 2 v).
float row_value(uint e, uint part) {
    const uint head = e / pc.head_dim, i = e - head * pc.head_dim;
    const uint bb = g_first + head * pc.head_dim, xb = bb + g_mrow;
    if (part == 2u) return val(xb, bb, i, 1.0, 2u);
    const float scale = QK_NORM != 0u && head != g_c ? head_scale(xb, bb) : g_scale;
    return k_elem(xb, bb, i, scale, g_p);
}
float k_block_value(uvec4 ctx, uint j) { return row_value(ctx.x + j, 1u); }
float v_block_value(uvec4 ctx, uint j) { return row_value(ctx.x + j, 2u); }
#if K_TYPE == VKRT_TYPE_Q8_0
KV_Q8_0_STORE_FN(store_k_block, kc, k_block_value)
#endif
#if V_TYPE == VKRT_TYPE_Q8_0
KV_Q8_0_STORE_FN(store_v_block, vc, v_block_value)
#endif

void store(uint part, uint e, vec2 v) {  // elements e, e + 1 (e even) of the flat cache (F32 / F16)
    if (part == 1u) {
#if K_TYPE == VKRT_TYPE_F16
        kc[e >> 1] = packHalf2x16(v);
#elif K_TYPE == VKRT_TYPE_Q8_0
        // (q8_0: whole blocks, in main)
#else
        kc[e] = floatBitsToUint(v.x);
        kc[e + 1u] = floatBitsToUint(v.y);
#endif
    } else {
#if V_TYPE == VKRT_TYPE_F16
        vc[e >> 1] = packHalf2x16(v);
#elif V_TYPE == VKRT_TYPE_Q8_0
        // (q8_0: whole blocks, in main)
#else
        vc[e] = floatBitsToUint(v.x);
        vc[e + 1u] = floatBitsToUint(v.y);
#endif
    }
}

void main() {
    const uint wg = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    const uint heads = pc.n_head + 2u * pc.n_head_kv;
    if (wg >= pc.M * heads) return;  // uniform per workgroup
    const uint tid = gl_LocalInvocationID.x, L = gl_WorkGroupSize.x, hd = pc.head_dim;
    const uint m = wg / heads, h = wg - m * heads;
    const uint part = h < pc.n_head ? 0u : h < pc.n_head + pc.n_head_kv ? 1u : 2u;
    const uint c = part == 0u ? h : part == 1u ? h - pc.n_head : h - pc.n_head - pc.n_head_kv;  // head in its part
    const uint first = part == 0u ? pc.q0 : part == 1u ? pc.k0 : pc.v0;
    const uint xb = first + m * (part == 0u ? pc.q_stride : pc.kv_stride) + c * hd;
    const uint bb = first + c * hd;
    const int p = pos[m];
    // The head's norm (uniform branch): every thread's reads of the head come before
    // wg_sum's barriers, so the q head may be rewritten after it.
    float scale = 1.0;
    if (QK_NORM != 0u && part != 2u) {
        float s = 0.0;
        for (uint i = tid; i < hd; i += L) {
            const float a = src(xb, bb, i);
            s += a * a;
        }
        scale = 1.0 / sqrt(wg_sum(s) / float(hd) + pc.eps);
    }
    const uint half_rot = ROPE != 0u ? pc.n_rot / 2u : 0u;
    if (part == 0u) {
        if (ROPE == 0u && BIAS == 0u && QK_NORM == 0u) return;  // q stays as projected
        // One thread per pair: it reads and writes only its two elements.
        for (uint pr = tid; pr < hd / 2u; pr += L) {
            if (pr < half_rot) {
                uint i0, i1;
                if (pc.neox != 0u) { i0 = pr; i1 = pr + half_rot; }
                else               { i0 = 2u * pr; i1 = i0 + 1u; }
                const vec2 r = rotate(val(xb, bb, i0, scale, 0u), val(xb, bb, i1, scale, 0u), theta_of(p, pr));
                x[xb + i0] = r.x;
                x[xb + i1] = r.y;
            } else {
                const uint j = 2u * half_rot + 2u * (pr - half_rot);  // pass-through dims j, j + 1
                const vec2 r = vec2(val(xb, bb, j, scale, 0u), val(xb, bb, j + 1u, scale, 0u));
                x[xb + j] = r.x;
                x[xb + j + 1u] = r.y;
            }
        }
        return;
    }
    if (p < 0) return;
    const uint row = uint(p) % pc.rows, width = pc.n_head_kv * hd;
    if ((part == 1u && K_TYPE == VKRT_TYPE_Q8_0) || (part == 2u && V_TYPE == VKRT_TYPE_Q8_0)) {
        g_c = c, g_first = first, g_mrow = m * pc.kv_stride, g_scale = scale, g_p = p;
        // Blocks b with c * hd <= 32 b < (c + 1) hd: those that start in this head.
        for (uint b = (c * hd + 31u) / 32u + tid; 32u * b < (c + 1u) * hd; b += L) {
            const uint off = KV_Q8_0_BLOCK(row, 32u * b, width);
#if K_TYPE == VKRT_TYPE_Q8_0
            if (part == 1u) store_k_block(off, uvec4(32u * b, 0u, 0u, 0u));
#endif
#if V_TYPE == VKRT_TYPE_Q8_0
            if (part == 2u) store_v_block(off, uvec4(32u * b, 0u, 0u, 0u));
#endif
        }
        return;
    }
    for (uint w = tid; w < hd / 2u; w += L) {  // elements 2w, 2w + 1 of the head
        const uint e = 2u * w;
        vec2 v;
        if (part == 1u) v = vec2(k_elem(xb, bb, e, scale, p), k_elem(xb, bb, e + 1u, scale, p));
        else            v = vec2(val(xb, bb, e, scale, 2u), val(xb, bb, e + 1u, scale, 2u));
        store(part, row * width + c * hd + e, v);
    }
}
