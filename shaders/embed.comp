#version 450
// Token embedding lookup (GGUF table layout, bound as uint words):
//   table (n_vocab rows of n_embd) of type F32 / F16 / Q4_0 / Q8_0, ids (M) int32
//   -> out (M, n_embd) float,  out[m, k] = dequant(table[ids[m], k])
// Q4_0: d * (q - 8), Q8_0: d * q with d the block's fp16 scale (one multiply, so
// the result equals the host dequantization bit for bit). An id outside
// [0, n_vocab) writes zeros (the host validates ids too).
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer T { uint tw[]; };
layout(binding = 1) readonly buffer I { int ids[]; };
layout(binding = 2) writeonly buffer O { float o[]; };
layout(push_constant) uniform PC { uint M; uint n_embd; uint n_vocab; uint type; } pc;

uint byte_at(uint off) { return (tw[off >> 2] >> ((off & 3u) * 8u)) & 0xffu; }

void main() {
    const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    if (i >= pc.M * pc.n_embd) return;
    const uint m = i / pc.n_embd, k = i - m * pc.n_embd;
    const int id = ids[m];
    if (id < 0 || uint(id) >= pc.n_vocab) { o[i] = 0.0; return; }
    const uint row = uint(id);
    float v;
    if (pc.type == VKRT_TYPE_F32) {
        v = uintBitsToFloat(tw[row * pc.n_embd + k]);
    } else if (pc.type == VKRT_TYPE_F16) {
        v = VKRT_LOAD_F16(tw, (row * pc.n_embd + k) * 2u);
    } else if (pc.type == VKRT_TYPE_Q4_0) {
        const uint off = (row * (pc.n_embd / VKRT_QK4_0) + k / VKRT_QK4_0) * VKRT_Q4_0_BYTES;
        const uint j = k % VKRT_QK4_0;
        const float d = VKRT_LOAD_F16(tw, off);
        const uint b = byte_at(off + 2u + (j & 15u));
        const int qv = int(j < 16u ? (b & 15u) : (b >> 4)) - 8;
        v = d * float(qv);
    } else {  // VKRT_TYPE_Q8_0
        const uint off = (row * (pc.n_embd / VKRT_QK8_0) + k / VKRT_QK8_0) * VKRT_Q8_0_BYTES;
        const float d = VKRT_LOAD_F16(tw, off);
        const int qv = bitfieldExtract(int(byte_at(off + 2u + k % VKRT_QK8_0)), 0, 8);
        v = d * float(qv);
    }
    o[i] = v;
}
