// Push constants of shaders/dot_peak.comp (vkrt-bench's fraction-of-peak
// microbenchmarks); host side runtime/ops/microbench.cpp.
#ifndef VKRT_SHARED_MICROBENCH_H
#define VKRT_SHARED_MICROBENCH_H
#include "shared/shared.h"
VKRT_SHARED_BEGIN

// dot_peak_*: `iters` steps of 8 dependent dot chains a thread against k; the result is
// written only if it equals magic (never, in practice), which keeps the loop alive.
// fma_peak_*: the same with 2-vector FMA chains, k the bits of the float multiplier.
struct DotPeakPush {
    uint iters, k, magic;
};
VKRT_SIZE_CHECK(DotPeakPush, 3)

// read_bandwidth: n16 uvec4s read once, folded, written only if the fold equals magic.
struct ReadBandwidthPush {
    uint n16, magic;
};
VKRT_SIZE_CHECK(ReadBandwidthPush, 2)

VKRT_SHARED_END
#endif
