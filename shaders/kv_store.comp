#version 450
// KV-cache store: src (M, width) float (rows src_stride floats apart: the v slice of a fused QKV row) -> cache (rows, width) of the cache type, row pos[m] % rows:
//   cache[pos[m] % rows, c] = round_to_cache_type(src[m, c])     (row layouts: shaders/kv_cache.glsl)
// The cache is a ring of `rows` rows: a layer that keeps every position has rows = n_ctx
// (the modulo is the identity), a sliding-window layer keeps the last `rows` positions.
// Positions come from a buffer (they change every token while the command buffer
// is reused). A negative position is skipped here (the host validates positions against n_ctx).
// One invocation per unit of the row: an element (F32), a word of two halves (F16,
// width even) or a 32-element q8_0 block (Q8_0, width % 32 == 0).
//! variant kv_store OUT_TYPE=0
//! variant kv_store_f16 OUT_TYPE=1
//! variant kv_store_q8_0 OUT_TYPE=8
#include "vkrt_formats.glsl"
#include "shared/kv_store.h"

layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer S { float src[]; };
layout(binding = 1) readonly buffer P { int pos[]; };
#if OUT_TYPE == VKRT_TYPE_Q8_0
layout(binding = 2) buffer C { uint cache[]; };  // read-write: shared words are merged with atomics
#else
layout(binding = 2) writeonly buffer C { uint cache[]; };
#endif
layout(push_constant) uniform PC { KvStorePush pc; };  // src rows src_stride floats apart
#if OUT_TYPE == VKRT_TYPE_Q8_0
#define KV_OUT cache
#endif
#include "kv_cache.glsl"

#if OUT_TYPE == VKRT_TYPE_F16
const uint UNIT = 2u;
#elif OUT_TYPE == VKRT_TYPE_Q8_0
const uint UNIT = 32u;
#else
const uint UNIT = 1u;
#endif

#if OUT_TYPE == VKRT_TYPE_Q8_0
// Element j of the q8_0 block whose first source element is ctx.x.
float kv_q8_0_value(uvec4 ctx, uint j) { return src[ctx.x + j]; }
#endif

void main() {
    const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    const uint units = pc.width / UNIT;  // per row
    if (i >= pc.M * units) return;
    const uint m = i / units, u = i - m * units;
    const int p = pos[m];
    if (p < 0) return;
    const uint row = uint(p) % pc.rows;
    const uint s = m * pc.src_stride + u * UNIT;  // first source element
#if OUT_TYPE == VKRT_TYPE_F16
    cache[(row * pc.width + u * UNIT) >> 1] = packHalf2x16(vec2(src[s], src[s + 1u]));
#elif OUT_TYPE == VKRT_TYPE_Q8_0
    kv_store_q8_0_block(KV_Q8_0_BLOCK(row, u * UNIT, pc.width), uvec4(s, 0u, 0u, 0u));
#else
    cache[row * pc.width + u] = floatBitsToUint(src[s]);
#endif
}
