// The RMSNorm scale of one row, shared by rmsnorm.comp and rmsnorm_q8_1.comp so that both
// normalize bit for bit alike: 1 / sqrt(mean(x[base .. base+K)^2) + eps), the squares summed
// by each thread over elements tid, tid + L, ... in two accumulators, then wg_sum
// (reductions.glsl). The includer declares x[] and includes reductions.glsl first.
#ifndef VKRT_RMSNORM_ROW_GLSL
#define VKRT_RMSNORM_ROW_GLSL
float rms_scale(uint base, uint K, float eps) {
    const uint tid = gl_LocalInvocationID.x, L = gl_WorkGroupSize.x;
    // Two accumulators per thread for a little ILP. The loop runs as often in every
    // invocation (a uniform trip count; out-of-row elements are skipped inside), so the
    // reduction after it is in uniform control flow without relying on reconvergence.
    float s0 = 0.0, s1 = 0.0;
    for (uint k0 = 0u; k0 < K; k0 += 2u * L) {
        const uint k = k0 + tid;
        if (k < K) { const float a = x[base + k]; s0 += a * a; }
        if (k + L < K) { const float b = x[base + k + L]; s1 += b * b; }
    }
    const float sum = wg_sum(s0 + s1);
    return 1.0 / sqrt(sum / float(K) + eps);
}
#endif
