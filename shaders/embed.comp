#version 450
// Token embedding lookup, any table format with GPU kernels (GGUF layout, bound as uint
// words, decoded by shaders/formats/<format>.glsl for TYPE):
//   table part (rows base .. base+R of n_vocab rows of n_embd), ids (M) int32
//   -> out (M, n_embd) float,  out[m, k] = dequant(table[ids[m], k]) for ids in the part
// A table above the device's binding limit is bound as several parts, one dispatch each
// (ops/weights.hpp); each writes the rows whose id falls in its range. Block formats:
// one invocation per 4 elements (fmt_dq4, ggml's float operations: the row equals
// ggml's dequantize_row_* bit for bit); scalar formats: one per element. An id outside
// [0, n_vocab) writes zeros (from the part with base 0; the host validates ids too).
//! variant-per-format embed_{fmt} K_FLOAT
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer T { uint w[]; };
#define FMT_LAYOUT_ID 1  // the table's layout (ops/weights.hpp)
#include "vkrt_decoder.glsl"
layout(binding = 1) readonly buffer I { int ids[]; };
layout(binding = 2) writeonly buffer O { float o[]; };
#include "shared/embed.h"
layout(push_constant) uniform PC { EmbedPush pc; };

#if FMT_QK > 1
const uint PER = 4u;  // elements per invocation
#else
const uint PER = 1u;
#endif

void main() {
    const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    const uint per_row = pc.n_embd / PER;
    if (i >= pc.M * per_row) return;
    const uint m = i / per_row, k = (i - m * per_row) * PER;
    const int id = ids[m];
    const uint ob = m * pc.n_embd + k;
    if (id < 0 || uint(id) >= pc.n_vocab) {
        if (pc.base == 0u)
            for (uint j = 0u; j < PER; ++j) o[ob + j] = 0.0;
        return;
    }
    if (uint(id) < pc.base || uint(id) - pc.base >= pc.R) return;  // another part's row
    const uint row = uint(id) - pc.base;
#if FMT_QK > 1
    const uint row_bytes = (pc.n_embd / FMT_QK) * FMT_BYTES;
    const vec4 v = fmt_dq4(row * row_bytes + (k / FMT_QK) * FMT_BYTES, k % FMT_QK);
    for (uint j = 0u; j < 4u; ++j) o[ob + j] = v[j];
#else
    o[ob] = fmt_elem(row * pc.n_embd + k);
#endif
}
