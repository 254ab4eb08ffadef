#version 450
// Greedy pick, one workgroup per row:
//   logits (M,N) float -> idx (M) int32 = argmax_n logits[m,n]; the lowest index
//   wins ties. Rows holding NaN give an unspecified index (comparisons with NaN are false).
// Reductions: subgroupMax/subgroupMin (SUBGROUP=1) or a shared-memory tree
// (SUBGROUP=0; workgroup size a power of two).
//! variant argmax_sg SUBGROUP=1
//! variant argmax_shared SUBGROUP=0
#if SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer X { float x[]; };
layout(binding = 1) writeonly buffer R { int r[]; };
#include "shared/norm.h"
layout(push_constant) uniform PC { RowPush pc; };

const uint NONE = 0xffffffffu;
shared float rv[gl_WorkGroupSize.x];
shared uint ri[gl_WorkGroupSize.x];

// (va, ia) is replaced by (vb, ib) when b is a better candidate.
bool better(float va, uint ia, float vb, uint ib) {
    if (ib == NONE) return false;
    if (ia == NONE) return true;
    return vb > va || (vb == va && ib < ia);
}

void main() {
    const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (row >= pc.M) return;  // uniform per workgroup
    const uint tid = gl_LocalInvocationID.x, L = gl_WorkGroupSize.x;
    const uint base = row * pc.N;
    // Each thread scans increasing indices: a strict '>' keeps the lowest index.
    float bv = 0.0;
    uint bi = NONE;
    // A uniform trip count (indices past N skipped inside): the reduction below needs no
    // reconvergence after this loop.
    for (uint i0 = 0u; i0 < pc.N; i0 += L) {
        const uint i = i0 + tid;
        if (i < pc.N) {
            const float v = x[base + i];
            if (bi == NONE || v > bv) { bv = v; bi = i; }
        }
    }
#if SUBGROUP
    // Threads without a candidate (N < L) take part with -inf and NONE.
    const float sv = bi == NONE ? uintBitsToFloat(0xff800000u) : bv;
    const float mx = subgroupMax(sv);
    const uint si = subgroupMin((bi != NONE && sv == mx) ? bi : NONE);
    if (subgroupElect()) { rv[gl_SubgroupID] = mx; ri[gl_SubgroupID] = si; }
    barrier();
    if (tid == 0u) {
        float v = rv[0];
        uint id = ri[0];
        for (uint s = 1u; s < gl_NumSubgroups; ++s)
            if (better(v, id, rv[s], ri[s])) { v = rv[s]; id = ri[s]; }
        r[row] = int(id == NONE ? 0u : id);
    }
#else
    rv[tid] = bv;
    ri[tid] = bi;
    barrier();
    for (uint s = L / 2u; s > 0u; s >>= 1u) {
        if (tid < s && better(rv[tid], ri[tid], rv[tid + s], ri[tid + s])) {
            rv[tid] = rv[tid + s];
            ri[tid] = ri[tid + s];
        }
        barrier();
    }
    if (tid == 0u) r[row] = int(ri[0] == NONE ? 0u : ri[0]);
#endif
}
