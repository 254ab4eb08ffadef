#version 450
// Row softmax, numerically stable, one workgroup per row:
//   x (M,N) float -> y (M,N) float,  y[m,n] = exp(x[m,n] - max_n x[m,:]) / sum_n exp(x[m,n] - max)
// y may alias x. Reductions: subgroup ops (SUBGROUP=1) or a shared-memory tree
// (SUBGROUP=0; workgroup size a power of two).
//! variant softmax_sg SUBGROUP=1
//! variant softmax_shared SUBGROUP=0
#if SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) writeonly buffer Y { float y[]; };
#include "shared/norm.h"
layout(push_constant) uniform PC { RowPush pc; };

#include "reductions.glsl"

void main() {
    const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (row >= pc.M) return;  // uniform per workgroup
    const uint tid = gl_LocalInvocationID.x, L = gl_WorkGroupSize.x;
    const uint base = row * pc.N;
    float mx = -3.402823466e38;
    // Loops before a reduction run as often in every invocation (uniform trip counts, the
    // elements past N skipped inside): the reductions need no reconvergence after them.
    for (uint i0 = 0u; i0 < pc.N; i0 += L)
        if (i0 + tid < pc.N) mx = max(mx, x[base + i0 + tid]);
    mx = wg_max(mx);
    float s = 0.0;
    for (uint i0 = 0u; i0 < pc.N; i0 += L)
        if (i0 + tid < pc.N) s += exp(x[base + i0 + tid] - mx);
    const float inv = 1.0 / wg_sum(s);
    for (uint i = tid; i < pc.N; i += L) y[base + i] = exp(x[base + i] - mx) * inv;
}
