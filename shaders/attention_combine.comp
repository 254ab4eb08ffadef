#version 450
// Combine pass of the split decode attention (shaders/attention.comp with n_split > 1):
//   part (M, n_head, n_split, 2 + hd): per split s of a query's visible positions, its
//   running max m_s, running sum l_s = sum_j exp(score_j - m_s) and the unnormalized
//   a_s[d] = sum_j exp(score_j - m_s) V[j, d]  ->  out (M, n_head, hd) (row stride o_stride):
//   out[m,h,d] = sum_s w_s a_s[d] / sum_s w_s l_s,  w_s = exp(m_s - max_s m_s)
// (a split with no positions has m_s = -FLT_MAX, l_s = 0, a_s = 0: weight 0 beside any
// split that has some; a query with none at all (pos < 0) gets zeros).
// One workgroup per (head, query): x = head, y = query; threads over the dims.
//! variant attention_combine
#include "shared/attention.h"
layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer Part { float part[]; };
layout(binding = 1) writeonly buffer O { float o[]; };
layout(push_constant) uniform PC { AttentionPush pc; };

void main() {
    const uint h = gl_WorkGroupID.x, m = gl_WorkGroupID.y;
    if (h >= pc.n_head || m >= pc.M) return;  // uniform per workgroup
    const uint S = pc.n_split, hd = pc.hd, stride = kAttnPartialHeader + hd;
    const uint base = (m * pc.n_head + h) * S * stride;
    float mx = part[base];
    for (uint s = 1u; s < S; ++s) mx = max(mx, part[base + s * stride]);
    float l = 0.0;
    for (uint s = 0u; s < S; ++s) l += exp(part[base + s * stride] - mx) * part[base + s * stride + 1u];
    const float inv_l = l > 0.0 ? 1.0 / l : 0.0;
    for (uint d = gl_LocalInvocationID.x; d < hd; d += gl_WorkGroupSize.x) {
        float a = 0.0;
        for (uint s = 0u; s < S; ++s) {
            const uint b = base + s * stride;
            a += exp(part[b] - mx) * part[b + kAttnPartialHeader + d];
        }
        o[m * pc.o_stride + h * hd + d] = a * inv_l;
    }
}
