// The RMSNorm scale of one row, shared by the rmsnorm kernels (rmsnorm.comp,
// rmsnorm_q8_1.comp, rmsnorm_add_norm.comp) so that they all normalize bit for bit alike:
// 1 / sqrt(mean(v[0 .. K)^2) + eps), the squares summed by each thread over elements tid,
// tid + L, ... in two accumulators, then wg_sum (reductions.glsl). The includer includes
// reductions.glsl first. VKRT_RMS_SCALE_FN(NAME, LOAD) defines `float NAME(base, K, eps)`
// whose element k is LOAD(base, k); rms_scale (element k = x[base + k]) is defined unless
// the includer defines VKRT_RMS_NO_X (a shader without an x[]).
// With VKRT_RMS_Q8_OUT the q8_1 writer of a row's block (q8_1_store_block, q8_1.glsl) is
// defined too: the includer declares xq[] (the q8_1 buffer of shared/q8_1.h) and includes
// shared/q8_1.h.
#ifndef VKRT_RMSNORM_ROW_GLSL
#define VKRT_RMSNORM_ROW_GLSL
// Two accumulators per thread for a little ILP. The loop runs as often in every invocation
// (a uniform trip count; out-of-row elements are skipped inside), so the reduction after it
// is in uniform control flow without relying on reconvergence.
#define VKRT_RMS_SCALE_FN(NAME, LOAD)                                           \
    float NAME(uint base, uint K, float eps) {                                  \
        const uint tid = gl_LocalInvocationID.x, L = gl_WorkGroupSize.x;        \
        float s0 = 0.0, s1 = 0.0;                                               \
        for (uint k0 = 0u; k0 < K; k0 += 2u * L) {                              \
            const uint k = k0 + tid;                                            \
            if (k < K) { const float a = LOAD(base, k); s0 += a * a; }          \
            if (k + L < K) { const float b = LOAD(base, k + L); s1 += b * b; }  \
        }                                                                       \
        const float sum = wg_sum(s0 + s1);                                      \
        return 1.0 / sqrt(sum / float(K) + eps);                                \
    }
#ifndef VKRT_RMS_NO_X
#define VKRT_RMS_LOAD_X(base, k) x[(base) + (k)]
VKRT_RMS_SCALE_FN(rms_scale, VKRT_RMS_LOAD_X)
#endif

#ifdef VKRT_RMS_Q8_OUT
#include "q8_1.glsl"
#endif
#endif
