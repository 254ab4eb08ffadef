#version 450
// Quantize activations for the integer-dot matmul path (matvec_*_int):
//   X (M,K) float, K % 32 == 0  ->  XQ, the q8_1 activation buffer (layout: shared/q8_1.h)
// One invocation per block (2D-folded grid). Division on the GPU may be inexact
// (SPIR-V allows 2.5 ulp), so d may differ from the CPU's in the last bits and q by
// one where x / d lies within an ulp of .5.
layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer X { vec4 x4[]; };
layout(binding = 1) writeonly buffer XQ { uint xq[]; };
#include "shared/q8_1.h"
layout(push_constant) uniform PC { Q8Push pc; };

int round_away(float a) {
    const float t = trunc(a);
    return int(t) + ((abs(a - t) >= 0.5) ? int(sign(a)) : 0);
}

void main() {
    const uint g = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    const uint nblocks = pc.M * (pc.K / 32u);
    if (g >= nblocks) return;
    vec4 v[8];
    float amax = 0.0;
    for (uint i = 0u; i < 8u; ++i) {
        v[i] = x4[g * 8u + i];
        const vec4 a = abs(v[i]);
        amax = max(amax, max(max(a.x, a.y), max(a.z, a.w)));
    }
    const float d = amax / 127.0;
    int sum = 0;
    for (uint i = 0u; i < 8u; ++i) {
        const vec4 s = (d != 0.0) ? v[i] / d : vec4(0.0);
        const int q0 = clamp(round_away(s.x), -127, 127), q1 = clamp(round_away(s.y), -127, 127);
        const int q2 = clamp(round_away(s.z), -127, 127), q3 = clamp(round_away(s.w), -127, 127);
        sum += q0 + q1 + q2 + q3;
        xq[g * 8u + i] = (uint(q0) & 0xffu) | ((uint(q1) & 0xffu) << 8) | ((uint(q2) & 0xffu) << 16) |
                         (uint(q3) << 24);
    }
    const uint meta = (pc.M * pc.K) / 4u + 2u * g;
    xq[meta] = floatBitsToUint(d);
    xq[meta + 1u] = uint(sum);
}
