#version 450
// RMSNorm fused with the q8_1 quantization of its output, one workgroup per row:
//   x (M,K) float, w (K) float, K % 32 == 0 -> xq, the q8_1 activation buffer (shared/q8_1.h)
//   [and y (M,K) float when write_y: for the float-path matrices that read the same input]
//   y[m,k] = x[m,k] * (1 / sqrt(mean_k(x[m,:]^2) + eps)) * w[k]   (as rmsnorm.comp, bit for bit:
//   the same partial sums, reduction and operation order), then per block of 32 (as
//   quantize_q8_1.comp): d = max|y| / 127, q = clamp(round_half_away(y / d), -127, 127), sum q.
// The normalized row is never written to memory unless write_y: the matrices read xq.
// Each thread takes whole blocks (the block's amax needs no cross-thread reduction).
//! variant rmsnorm_q8_1_sg SUBGROUP=1
//! variant rmsnorm_q8_1_shared SUBGROUP=0
#if SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) readonly buffer W { float w[]; };
layout(binding = 2) writeonly buffer XQ { uint xq[]; };
layout(binding = 3) writeonly buffer Y { float y[]; };  // bound to xq when write_y == 0 (never written)
#include "shared/norm.h"
#include "shared/q8_1.h"
layout(push_constant) uniform PC { RmsNormQ8Push pc; };
#include "reductions.glsl"
#define VKRT_RMS_Q8_OUT
#include "rmsnorm_row.glsl"

void main() {
    const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (row >= pc.M) return;  // uniform per workgroup: no barrier divergence
    const uint tid = gl_LocalInvocationID.x, L = gl_WorkGroupSize.x;
    const uint base = row * pc.K;
    const float scale = rms_scale(base, pc.K, pc.eps);
    const uint nb = pc.K / kQ8Block;
    for (uint b = tid; b < nb; b += L) {
        const uint e0 = base + b * kQ8Block, k0 = b * kQ8Block;
        float v[32];
        for (uint j = 0u; j < 32u; ++j) v[j] = (x[e0 + j] * scale) * w[k0 + j];
        if (pc.write_y != 0u)
            for (uint j = 0u; j < 32u; ++j) y[e0 + j] = v[j];
        q8_1_store_block(pc.M, pc.K, row * nb + b, v);
    }
}
