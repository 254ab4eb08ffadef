#version 450
// Gated activations: gate (M,F) float, up (M,F) float -> out (M,F) = act(gate) * up; n = M*F
// (any F); gate and up rows `stride` floats apart (shared/elementwise.h: the fused [gate | up]
// output of one matrix). out may alias gate or up when stride == F.
//   swiglu (GELU=0): act(g) = silu(g) = g / (1 + exp(-g))
//   geglu  (GELU=1): act(g) = gelu(g), tanh approximation (ggml_gelu):
//                    0.5 g (1 + tanh(sqrt(2/pi) g (1 + 0.044715 g^2)))
//! variant swiglu GELU=0
//! variant geglu GELU=1
layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer G { float g[]; };
layout(binding = 1) readonly buffer U { float u[]; };
layout(binding = 2) writeonly buffer O { float o[]; };
#include "shared/elementwise.h"
layout(push_constant) uniform PC { GluPush pc; };
#include "activation.glsl"
void main() {
    const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    if (i >= pc.n) return;
    const uint m = i / pc.F, j = m * pc.stride + (i - m * pc.F);
#if GELU
    o[i] = act_gelu(g[j]) * u[j];
#else
    o[i] = act_silu(g[j]) * u[j];
#endif
}
