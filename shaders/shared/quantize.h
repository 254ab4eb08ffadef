// Push constants and flags of the W8A8 per-token activation quantization:
// shaders/quantize.comp; host side runtime/ops/quantize.cpp.
#ifndef VKRT_SHARED_QUANTIZE_H
#define VKRT_SHARED_QUANTIZE_H
#include "shared/shared.h"
VKRT_SHARED_BEGIN

VKRT_CONST(uint, QF_SMOOTH, 1u);  // divide by smooth[k]
VKRT_CONST(uint, QF_STATIC, 2u);  // per-tensor scale from static_scale[0]
VKRT_CONST(uint, QF_ASYM, 4u);    // asymmetric uint8 + zero point (not with QF_STATIC)

// X (M,K) -> Xq (M, Kw = ceil(K/4)) words; eps: the fused RMSNorm's only.
struct QuantizePush {
    uint M, K, Kw;
    float eps;
    uint flags;
};
VKRT_SIZE_CHECK(QuantizePush, 5)

VKRT_SHARED_END
#endif
