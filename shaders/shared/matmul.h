// Push constants of the matrix kernels: shaders/matvec.comp (GEMV), shaders/matmul.comp
// (tiled GEMM) and shaders/mmq.comp (int8-dot GEMM); host side runtime/ops/matmul.cpp.
#ifndef VKRT_SHARED_MATMUL_H
#define VKRT_SHARED_MATMUL_H
#include "shared/shared.h"
VKRT_SHARED_BEGIN

// Y (M,N) [:, base .. base+R) = X (M,K) @ W_part (R,K)^T: one part of a weight (rows
// base .. base+R of N) per dispatch (ops/weights.hpp).
struct MatmulPush {
    uint M, N, K, R, base;
};
VKRT_SIZE_CHECK(MatmulPush, 5)

VKRT_SHARED_END
#endif
