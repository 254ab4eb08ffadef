#version 450
// Split-K reduction of the prefill GEMMs (matmul.comp, mmq.comp with gl_NumWorkGroups.z = S
// parts of K, ops::matmul_gemm / ops::matmul_mmq):
//   P (S, M, R) float -> Y[m, base + n] = sum_{s < S} P[s, m, n]   (Y (M,N), n < R)
// One invocation per output, the parts added in order (deterministic for a given S).
layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer P { float p[]; };
layout(binding = 1) writeonly buffer Y { float y[]; };
#include "shared/matmul.h"
layout(push_constant) uniform PC { SplitKPush pc; };

void main() {
    const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    const uint MR = pc.M * pc.R;
    if (i >= MR) return;
    float s = p[i];
    for (uint z = 1u; z < pc.S; ++z) s += p[z * MR + i];
    y[(i / pc.R) * pc.N + pc.base + i % pc.R] = s;
}
