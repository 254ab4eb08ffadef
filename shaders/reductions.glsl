// Workgroup reductions of the row kernels (rmsnorm, rmsnorm_q8_1, ...): every thread of the
// workgroup calls them with its partial value (uniform control flow) and gets the total.
// SUBGROUP=1: subgroupAdd / subgroupMax, then one value per subgroup through shared memory
// (any subgroup size; the includer enables GL_KHR_shader_subgroup_basic and _arithmetic);
// SUBGROUP=0: a shared-memory tree (the workgroup size must be a power of two).
// Each call starts with a barrier, so the scratch may be reused by the next call.
#ifndef VKRT_REDUCTIONS_GLSL
#define VKRT_REDUCTIONS_GLSL

shared float vkrt_red[gl_WorkGroupSize.x];

#if SUBGROUP
#define VKRT_WG_REDUCE(NAME, SUBGROUP_OP, COMBINE)                        \
    float NAME(float v) {                                                 \
        barrier();                                                        \
        v = SUBGROUP_OP(v);                                               \
        if (subgroupElect()) vkrt_red[gl_SubgroupID] = v;                 \
        barrier();                                                        \
        float r = vkrt_red[0];                                            \
        for (uint i = 1u; i < gl_NumSubgroups; ++i) r = COMBINE(r, vkrt_red[i]); \
        return r;                                                         \
    }
#else
#define VKRT_WG_REDUCE(NAME, SUBGROUP_OP, COMBINE)                        \
    float NAME(float v) {                                                 \
        const uint tid = gl_LocalInvocationID.x;                          \
        barrier();                                                        \
        vkrt_red[tid] = v;                                                \
        barrier();                                                        \
        for (uint s = gl_WorkGroupSize.x / 2u; s > 0u; s >>= 1u) {        \
            if (tid < s) vkrt_red[tid] = COMBINE(vkrt_red[tid], vkrt_red[tid + s]); \
            barrier();                                                    \
        }                                                                 \
        return vkrt_red[0];                                               \
    }
#endif

float vkrt_add(float a, float b) { return a + b; }
VKRT_WG_REDUCE(wg_sum, subgroupAdd, vkrt_add)
VKRT_WG_REDUCE(wg_max, subgroupMax, max)

#endif
