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

// The GEMV's epilogue (matvec.comp's specialization constant EPI; ops::MatmulEpilogue):
// plain store, residual add (y = res + sum), or a gated activation over the weight's
// [gate; up] halves (y = act(gate sum) * up sum; N = F, R = 2F, one part).
VKRT_CONST(uint, kEpiNone, 0);
VKRT_CONST(uint, kEpiResidual, 1);
VKRT_CONST(uint, kEpiSwiglu, 2);
VKRT_CONST(uint, kEpiGeglu, 3);

// Split-K reduction (shaders/splitk_reduce.comp): the S partial products of a GEMM over
// parts of K, P (S, M, R), summed in order of the part into Y[:, base .. base+R) of Y (M,N).
struct SplitKPush {
    uint M, N, R, base, S;
};
VKRT_SIZE_CHECK(SplitKPush, 5)

VKRT_SHARED_END
#endif
