// The RMSNorm scale of one row, shared by rmsnorm.comp and rmsnorm_q8_1.comp so that both
// normalize bit for bit alike: 1 / sqrt(mean(x[base .. base+K)^2) + eps), the squares summed
// by each thread over elements tid, tid + L, ... in two accumulators, then wg_sum
// (reductions.glsl). The includer declares x[] and includes reductions.glsl first.
#ifndef VKRT_RMSNORM_ROW_GLSL
#define VKRT_RMSNORM_ROW_GLSL
float rms_scale(uint base, uint K, float eps) {
    const uint tid = gl_LocalInvocationID.x, L = gl_WorkGroupSize.x;
    // Two accumulators per thread for a little ILP.
    float s0 = 0.0, s1 = 0.0;
    uint k = tid;
    for (; k + L < K; k += 2u * L) {
        float a = x[base + k], b = x[base + k + L];
        s0 += a * a;
        s1 += b * b;
    }
    if (k < K) { float a = x[base + k]; s0 += a * a; }
    const float sum = wg_sum(s0 + s1);
    return 1.0 / sqrt(sum / float(K) + eps);
}
#endif
