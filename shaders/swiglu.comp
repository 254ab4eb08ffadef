#version 450
// SwiGLU gate: gate (n) float, up (n) float -> out (n) = silu(gate) * up,
// silu(g) = g / (1 + exp(-g)); n = M*F (any F). out may alias gate or up.
layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer G { float g[]; };
layout(binding = 1) readonly buffer U { float u[]; };
layout(binding = 2) writeonly buffer O { float o[]; };
layout(push_constant) uniform PC { uint n; } pc;
void main() {
    const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    if (i >= pc.n) return;
    const float a = g[i];
    o[i] = a / (1.0 + exp(-a)) * u[i];
}
