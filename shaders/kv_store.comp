#version 450
// KV-cache store: src (M, width) float -> cache (n_ctx, width) float, row pos[m].
//   cache[pos[m], c] = src[m, c]
// Positions come from a buffer (they change every token while the command buffer
// is reused). A position outside [0, n_ctx) is skipped here (the host validates too).
layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer S { float src[]; };
layout(binding = 1) readonly buffer P { int pos[]; };
layout(binding = 2) writeonly buffer C { float cache[]; };
layout(push_constant) uniform PC { uint M; uint width; uint n_ctx; } pc;
void main() {
    const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    if (i >= pc.M * pc.width) return;
    const uint m = i / pc.width, c = i - m * pc.width;
    const int p = pos[m];
    if (p < 0 || uint(p) >= pc.n_ctx) return;
    cache[uint(p) * pc.width + c] = src[i];
}
