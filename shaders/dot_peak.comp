#version 450
// Microbenchmarks for vkrt-bench's fraction-of-peak figures (runtime/ops/microbench.cpp).
//
// PEAK=1: packed int8 dot throughput. Each thread runs 8 independent dependency
//   chains, each step v[c] = uint(dot4(v[c], k)) for `iters` steps, so the loop
//   is bound by dot-product issue rate, not memory. One dot = 4 multiplies +
//   4 adds = 8 ops. Start values come from the invocation id and k from the
//   push constants, so nothing folds at compile time; the final XOR of the
//   chains is written only if it equals pc.magic (practically never), which
//   keeps the loop alive without memory traffic.
//   DOT=1 uses OpSDot (needs caps.int_dot); DOT=0 unpacks and multiplies.
//   out (1) uint; push: iters, k, magic.
// READ=1: read bandwidth. in (n16 uvec4) is read once, grid-stride, XOR-folded
//   per thread; out (1) uint written only if the fold equals pc.magic.
//   push: n16 (uvec4 count), magic. Grid: x (and y) workgroups, any count.
// PEAK=2: float FMA throughput (the float and cooperative-matrix GEMMs' fraction of peak),
//   the same 8 chains a thread, each step v[c] = fma(v[c], k, b) on a 2-vector (2 FMAs =
//   4 ops), of float16 (F16=1, needs shaderFloat16: packed halves where the hardware has
//   them) or float (F16=0). k = uintBitsToFloat(pc.k) (0.99..: the chains converge to
//   b / (1 - k), no overflow, no denormals); written only if the bits equal pc.magic.
//! variant dot_peak_dot PEAK=1 DOT=1 READ=0
//! variant dot_peak_nodot PEAK=1 DOT=0 READ=0
//! variant read_bandwidth PEAK=0 DOT=0 READ=1
//! variant fma_peak_f16 PEAK=2 DOT=0 READ=0 F16=1
//! variant fma_peak_f32 PEAK=2 DOT=0 READ=0 F16=0
#if DOT
#extension GL_EXT_spirv_intrinsics : require
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4450)
int sdot(uint a, uint b, spirv_literal int fmt);  // OpSDot, fmt 0 = PackedVectorFormat4x8Bit
#endif

layout(local_size_x_id = 0) in;

#if PEAK == 2
#if F16
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#define FV f16vec2
#define FS float16_t
#else
#define FV vec2
#define FS float
#endif
layout(binding = 0) writeonly buffer O { uint o[]; };
#include "shared/microbench.h"
layout(push_constant) uniform PC { DotPeakPush pc; };

void main() {
    const uint gid = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    const FV k = FV(FS(uintBitsToFloat(pc.k))), b = FV(FS(0.0625));
    FV v0 = FV(FS(float(gid & 15u) * 0.01), FS(0.5)), v1 = v0 + FV(FS(0.125)), v2 = v0 + FV(FS(0.25)), v3 = v0 + FV(FS(0.375));
    FV v4 = v0 + FV(FS(0.5)), v5 = v0 + FV(FS(0.625)), v6 = v0 + FV(FS(0.75)), v7 = v0 + FV(FS(0.875));
    for (uint i = 0u; i < pc.iters; ++i) {
        v0 = fma(v0, k, b);
        v1 = fma(v1, k, b);
        v2 = fma(v2, k, b);
        v3 = fma(v3, k, b);
        v4 = fma(v4, k, b);
        v5 = fma(v5, k, b);
        v6 = fma(v6, k, b);
        v7 = fma(v7, k, b);
    }
    const vec2 r = vec2(v0 + v1 + v2 + v3 + v4 + v5 + v6 + v7);
    if (floatBitsToUint(r.x) == pc.magic) o[0] = floatBitsToUint(r.y);
}
#elif PEAK
layout(binding = 0) writeonly buffer O { uint o[]; };
#include "shared/microbench.h"
layout(push_constant) uniform PC { DotPeakPush pc; };

int dot4(uint a, uint b) {
#if DOT
    return sdot(a, b, 0);
#else
    return bitfieldExtract(int(a), 0, 8) * bitfieldExtract(int(b), 0, 8) +
           bitfieldExtract(int(a), 8, 8) * bitfieldExtract(int(b), 8, 8) +
           bitfieldExtract(int(a), 16, 8) * bitfieldExtract(int(b), 16, 8) +
           bitfieldExtract(int(a), 24, 8) * bitfieldExtract(int(b), 24, 8);
#endif
}

void main() {
    const uint gid = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    uint v0 = gid * 0x9e3779b9u + 1u, v1 = v0 ^ 0x01010101u, v2 = v0 ^ 0x02020202u, v3 = v0 ^ 0x03030303u;
    uint v4 = v0 ^ 0x04040404u, v5 = v0 ^ 0x05050505u, v6 = v0 ^ 0x06060606u, v7 = v0 ^ 0x07070707u;
    const uint k = pc.k;
    for (uint i = 0u; i < pc.iters; ++i) {
        v0 = uint(dot4(v0, k));
        v1 = uint(dot4(v1, k));
        v2 = uint(dot4(v2, k));
        v3 = uint(dot4(v3, k));
        v4 = uint(dot4(v4, k));
        v5 = uint(dot4(v5, k));
        v6 = uint(dot4(v6, k));
        v7 = uint(dot4(v7, k));
    }
    const uint r = v0 ^ v1 ^ v2 ^ v3 ^ v4 ^ v5 ^ v6 ^ v7;
    if (r == pc.magic) o[0] = r;
}
#endif

#if READ
layout(binding = 0) readonly buffer I { uvec4 inp[]; };
layout(binding = 1) writeonly buffer O { uint o[]; };
#include "shared/microbench.h"
layout(push_constant) uniform PC { ReadBandwidthPush pc; };

void main() {
    const uint threads = gl_NumWorkGroups.x * gl_NumWorkGroups.y * gl_WorkGroupSize.x;
    const uint gid = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    uvec4 acc = uvec4(0u);
    for (uint i = gid; i < pc.n16; i += threads) acc ^= inp[i];
    const uint r = acc.x ^ acc.y ^ acc.z ^ acc.w;
    if (r == pc.magic) o[0] = r;
}
#endif
