// The RMSNorm scale of one row, shared by the rmsnorm kernels (rmsnorm.comp,
// rmsnorm_q8_1.comp, rmsnorm_add_norm.comp) so that they all normalize bit for bit alike:
// 1 / sqrt(mean(v[0 .. K)^2) + eps), the squares summed by each thread over elements tid,
// tid + L, ... in two accumulators, then wg_sum (reductions.glsl). The includer includes
// reductions.glsl first. VKRT_RMS_SCALE_FN(NAME, LOAD) defines `float NAME(base, K, eps)`
// whose element k is LOAD(base, k); rms_scale (element k = x[base + k]) is defined unless
// the includer defines VKRT_RMS_NO_X (a shader without an x[]).
// With VKRT_RMS_Q8_OUT the q8_1 writer of a row's block (q8_1_store_block) is defined too:
// the includer declares xq[] (the q8_1 buffer of shared/q8_1.h) and includes shared/q8_1.h.
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
int q8_round_away(float a) {
    const float t = trunc(a);
    return int(t) + ((abs(a - t) >= 0.5) ? int(sign(a)) : 0);
}

// Block g of the q8_1 buffer of M rows of K from its 32 values v (as quantize_q8_1.comp):
// d = max|v| / 127, q = clamp(round_half_away(v / d), -127, 127), and the sum of q.
void q8_1_store_block(uint M, uint K, uint g, float v[32]) {
    float amax = 0.0;
    for (uint j = 0u; j < 32u; ++j) amax = max(amax, abs(v[j]));
    const float d = amax / 127.0;
    int qsum = 0;
    for (uint i = 0u; i < 8u; ++i) {
        int q[4];
        for (uint j = 0u; j < 4u; ++j) {
            const float s = (d != 0.0) ? v[4u * i + j] / d : 0.0;
            q[j] = clamp(q8_round_away(s), -127, 127);
            qsum += q[j];
        }
        xq[g * 8u + i] = (uint(q[0]) & 0xffu) | ((uint(q[1]) & 0xffu) << 8) | ((uint(q[2]) & 0xffu) << 16) |
                         (uint(q[3]) << 24);
    }
    const uint meta = (M * K) / 4u + kQ8MetaWords * g;
    xq[meta] = floatBitsToUint(d);
    xq[meta + 1u] = uint(qsum);
}
#endif
#endif
