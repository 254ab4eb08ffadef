#version 450
// Element-wise:
//   add      out (n) = a (n) + b (n); out may alias a (the residual add)
//   add_bias out (n) = a (n) + b[i % nb]: a bias (nb = N) broadcast over the rows of a (M,N)
//   scale    out (n) = a (n) * s
//! variant add BIAS=0 SCALE=0
//! variant add_bias BIAS=1 SCALE=0
//! variant scale BIAS=0 SCALE=1
layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer A { float a[]; };
#include "shared/elementwise.h"
#if SCALE
layout(binding = 1) writeonly buffer O { float o[]; };
layout(push_constant) uniform PC { ScalePush pc; };
#else
layout(binding = 1) readonly buffer B { float b[]; };
layout(binding = 2) writeonly buffer O { float o[]; };
#if BIAS
layout(push_constant) uniform PC { AddBiasPush pc; };
#else
layout(push_constant) uniform PC { AddPush pc; };
#endif
#endif
void main() {
    uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    if (i >= pc.n) return;
#if SCALE
    o[i] = a[i] * pc.s;
#elif BIAS
    o[i] = a[i] + b[i % pc.nb];
#else
    o[i] = a[i] + b[i];
#endif
}
