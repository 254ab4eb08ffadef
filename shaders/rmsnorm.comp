#version 450
// RMS norm, one workgroup per row:
//   x (M,K) float, w (K) float -> y (M,K) float
//   y[m,k] = x[m,k] * (1 / sqrt(mean_k(x[m,:]^2) + eps)) * w[k]      (llama.cpp order)
// Rows are placed by group/stride (shared/norm.h), so a per-head norm can run in place on
// the q or k slice of a fused QKV output.
// y may alias x (each element is read before it is written by the same thread).
// ADD = 1 (specialization constant): y += the normalized row instead (a post norm and its
// residual add in one pass: y[m,k] = y[m,k] + x[m,k] * scale * w[k]); y must not alias x.
// The row sum of squares is reduced with subgroupAdd (SUBGROUP=1; any subgroup
// size) or a shared-memory tree (SUBGROUP=0; the workgroup size must be a power of two).
//! variant rmsnorm_sg SUBGROUP=1
//! variant rmsnorm_shared SUBGROUP=0
#if SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ADD = 0;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer W { float w[]; };
layout(binding = 2) buffer Y { float y[]; };  // read with ADD
#include "shared/norm.h"
layout(push_constant) uniform PC { RmsNormPush pc; };

#include "reductions.glsl"
#include "rmsnorm_row.glsl"

void main() {
    const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (row >= pc.M) return;  // uniform per workgroup: no barrier divergence
    const uint tid = gl_LocalInvocationID.x, L = gl_WorkGroupSize.x;
    const uint base = (row / pc.group) * pc.stride + (row % pc.group) * pc.K;
    const float scale = rms_scale(base, pc.K, pc.eps);
    for (uint i = tid; i < pc.K; i += L) {
        const float v = (x[base + i] * scale) * w[i];
        y[base + i] = ADD != 0u ? y[base + i] + v : v;
    }
}
