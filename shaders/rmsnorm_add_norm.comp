#version 450
// A post norm, its residual add and the next pre-norm in one pass (Gemma 3's
// post-attention / post-FFN norm followed by the FFN's / next layer's input norm), one
// workgroup per row:
//   p (M,K), x (M,K) the residual (updated in place), wp, wn (K) float:
//   x[m,:] += rmsnorm(p[m,:]) * wp                    (rmsnorm_add's operations)
//   y[m,:]  = rmsnorm(x[m,:]) * wn                    (write_y: rmsnorm's operations)
//   xq      = q8_1 of y                               (write_q, K % 32 == 0: rmsnorm_q8_1's)
// Each value is what rmsnorm_add then rmsnorm / rmsnorm_q8_1 give, bit for bit (the same
// sums in the same order, rmsnorm_row.glsl; the new x is recomputed, never re-read):
//   1. the post scale sp from p;
//   2. the next scale sn from the new x = x + (p * sp) * wp, each thread over the elements
//      rms_scale gives it (nothing written yet);
//   3. after wg_sum's barriers, x written and y / xq from it: a thread takes elements tid,
//      tid + L, ... (float) or whole q8_1 blocks (write_q), and reads only the elements it
//      writes (the other threads' reads of them were in 1-2, before the barriers).
// The new x is never kept in memory between the steps, so no barrier on buffer memory.
//! variant rmsnorm_add_norm_sg SUBGROUP=1
//! variant rmsnorm_add_norm_shared SUBGROUP=0
#if SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer P { float p[]; };    // the post norm's input (M,K)
layout(binding = 1) readonly buffer WP { float wp[]; };  // post norm weights (K)
layout(binding = 2) buffer X { float x[]; };             // residual (M,K), += in place
layout(binding = 3) readonly buffer WN { float wn[]; };  // next norm weights (K)
layout(binding = 4) writeonly buffer Y { float y[]; };   // normalized new x (write_y; else bound to x)
layout(binding = 5) writeonly buffer XQ { uint xq[]; };  // its q8_1 blocks (write_q; else bound to x)
#include "shared/norm.h"
#include "shared/q8_1.h"
layout(push_constant) uniform PC { RmsNormAddNormPush pc; };
#include "reductions.glsl"
#define VKRT_RMS_NO_X
#define VKRT_RMS_Q8_OUT
#include "rmsnorm_row.glsl"

float g_sp;  // the row's post scale (step 1), read by the new-x element below

// Element k of the row at `base` of the new x.
float new_x(uint base, uint k) { return x[base + k] + (p[base + k] * g_sp) * wp[k]; }
#define LOAD_P(base, k) p[(base) + (k)]
#define LOAD_NEW_X(base, k) new_x(base, k)
VKRT_RMS_SCALE_FN(post_scale, LOAD_P)
VKRT_RMS_SCALE_FN(next_scale, LOAD_NEW_X)

void main() {
    const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (row >= pc.M) return;  // uniform per workgroup: no barrier divergence
    const uint tid = gl_LocalInvocationID.x, L = gl_WorkGroupSize.x;
    const uint base = row * pc.K;
    g_sp = post_scale(base, pc.K, pc.eps_post);
    const float sn = next_scale(base, pc.K, pc.eps_next);
    if (pc.write_q == 0u) {
        for (uint i = tid; i < pc.K; i += L) {
            const float v = new_x(base, i);
            x[base + i] = v;
            if (pc.write_y != 0u) y[base + i] = (v * sn) * wn[i];
        }
        return;
    }
    const uint nb = pc.K / kQ8Block;
    for (uint b = tid; b < nb; b += L) {
        const uint k0 = b * kQ8Block;
        float v[32];
        for (uint j = 0u; j < 32u; ++j) {
            const float a = new_x(base, k0 + j);
            x[base + k0 + j] = a;
            v[j] = (a * sn) * wn[k0 + j];
        }
        if (pc.write_y != 0u)
            for (uint j = 0u; j < 32u; ++j) y[base + k0 + j] = v[j];
        q8_1_store_block(pc.M, pc.K, row * nb + b, v);
    }
}
