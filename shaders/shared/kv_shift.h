// Push constants of shaders/kv_shift.comp (the context shift's K re-rotation); host side
// runtime/ops/kv_shift.cpp.
#ifndef VKRT_SHARED_KV_SHIFT_H
#define VKRT_SHARED_KV_SHIFT_H
#include "shared/shared.h"
VKRT_SHARED_BEGIN

// dst rows [0, M) = src rows [src_row0, src_row0 + M) of a cache of n_head * head_dim
// elements a row, each head's first n_rot dims rotated by the angle of `delta` positions.
struct KvShiftPush {
    uint M, n_head, head_dim, n_rot;
    uint src_row0;
    int delta;          // new position - old position (negative for a shift)
    uint neox;          // 0 = NORM (adjacent pairs), 1 = NEOX (halves)
    uint has_factors;   // 1: divide theta by factors[pair] (binding 2)
    float freq_base, freq_scale;
};
VKRT_SIZE_CHECK(KvShiftPush, 10)

VKRT_SHARED_END
#endif
