// Push constants and modes of shaders/gemm_int8.comp (W8A8 GEMM and GEMV, and the int8
// weight row sums); host side runtime/ops/gemm_int8.cpp.
#ifndef VKRT_SHARED_GEMM_INT8_H
#define VKRT_SHARED_GEMM_INT8_H
#include "shared/shared.h"
VKRT_SHARED_BEGIN

// What the GEMM writes (GemmInt8Push::mode): Y = float(acc) * sx[m] * sw[n] (scaled),
// the same + bias[n] (scaled + bias), or the int32 accumulators themselves (raw).
VKRT_CONST(uint, kInt8ModeScaled, 0u);
VKRT_CONST(uint, kInt8ModeScaledBias, 1u);
VKRT_CONST(uint, kInt8ModeRaw, 2u);

// Xq (M,K) int8 . Wq (N,K)^T int8, both packed Kw = ceil(K/4) words a row; asym != 0:
// activations with zero points (xzp (M), wsum (N) bound).
struct GemmInt8Push {
    uint M, N, K, Kw, mode, asym;
};
VKRT_SIZE_CHECK(GemmInt8Push, 6)

// int8_row_sums: Wq (N,K) packed, Kw words a row -> wsum (N).
struct Int8RowSumsPush {
    uint N, K, Kw;
};
VKRT_SIZE_CHECK(Int8RowSumsPush, 3)

VKRT_SHARED_END
#endif
