// Push constants of the row kernels (one workgroup per row): shaders/rmsnorm.comp (float
// out), shaders/rmsnorm_q8_1.comp (RMSNorm fused with the q8_1 quantization it feeds),
// shaders/rmsnorm_add_norm.comp (post norm + residual add + the next norm),
// shaders/softmax.comp, shaders/argmax.comp; host side runtime/ops/norm.cpp.
#ifndef VKRT_SHARED_NORM_H
#define VKRT_SHARED_NORM_H
#include "shared/shared.h"
VKRT_SHARED_BEGIN

// M rows of K floats normalized each with weights w (K). Row r starts at float
//   (r / group) * stride + (r % group) * K
// of x (and of y): group = 1, stride = K for a plain (M,K) matrix; per-head norms of the
// q or k slice of a fused QKV output take group = heads per token, stride = the fused row.
struct RmsNormPush {
    uint M, K;
    float eps;
    uint group, stride;
};
VKRT_SIZE_CHECK(RmsNormPush, 5)

// RMSNorm + q8_1: X (M,K) contiguous, K % 32 == 0 -> the q8_1 buffer (shared/q8_1.h)
// [and y (M,K) float when write_y != 0].
struct RmsNormQ8Push {
    uint M, K;
    float eps;
    uint write_y;
};
VKRT_SIZE_CHECK(RmsNormQ8Push, 4)

// A post norm, its residual add and the next norm (shaders/rmsnorm_add_norm.comp):
// P, X (M,K) contiguous: X += rmsnorm(P) * wp (eps_post), then the new X normalized with
// wn (eps_next) into y (write_y != 0) and / or the q8_1 buffer (write_q != 0; K % 32 == 0).
struct RmsNormAddNormPush {
    uint M, K;
    float eps_post, eps_next;
    uint write_y, write_q;
};
VKRT_SIZE_CHECK(RmsNormAddNormPush, 6)

// The other row kernels (shaders/softmax.comp, shaders/argmax.comp): M rows of N.
struct RowPush {
    uint M, N;
};
VKRT_SIZE_CHECK(RowPush, 2)

VKRT_SHARED_END
#endif
