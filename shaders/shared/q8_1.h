// The q8_1 activation buffer: X (M,K) float quantized per row to int8 blocks of 32, written
// once per norm (shaders/quantize_q8_1.comp, or fused with the RMSNorm that feeds it) and
// read by every integer-path matrix kernel that takes that input (matvec_*_int for decode,
// the int8 GEMM for prefill). Host side: ops::Q8Activations (runtime/ops/matmul.hpp).
// Layout, in 32-bit words, K % 32 == 0:
//   [0, M*K/4)              int8 q (M,K) row-major, 4 a word, little-endian
//   [M*K/4, +2*M*K/32)      per block g = m*(K/32) + b: { d as float bits, sum of its 32 q as int }
//   per block (ref::quantize_blocks_i8): amax = max |x|, d = amax / 127,
//   q = clamp(round_half_away(x / d), -127, 127); an all-zero block gives d = 0, q = 0.
#ifndef VKRT_SHARED_Q8_1_H
#define VKRT_SHARED_Q8_1_H
#include "shared/shared.h"
VKRT_SHARED_BEGIN

VKRT_CONST(uint, kQ8Block, 32u);       // elements per block
VKRT_CONST(uint, kQ8MetaWords, 2u);    // words of {d, sum} per block

struct Q8Push {
    uint M, K;
};
VKRT_SIZE_CHECK(Q8Push, 2)

VKRT_SHARED_END
#endif
