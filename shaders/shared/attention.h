// Push constants of the attention kernels (shaders/attention.comp: decode, split over the KV
// length, the last split of a head merging the splits; shaders/attention_flash.comp:
// prefill); host side runtime/ops/attention.cpp.
#ifndef VKRT_SHARED_ATTENTION_H
#define VKRT_SHARED_ATTENTION_H
#include "shared/shared.h"
VKRT_SHARED_BEGIN

// q (M, n_head, hd) (row stride q_stride floats) over K/V caches of `rows` rows (rings) of
// n_head_kv * hd elements -> out (M, n_head, hd) (row stride o_stride).
struct AttentionPush {
    uint M, n_head, n_head_kv, hd, rows;
    float scale;
    uint q_stride, o_stride;
    uint window;       // 0 = none
    uint n_split;      // decode: workgroups a query's visible KV range is split over (1 = no combine pass)
    uint head_groups;  // decode: workgroups the query heads of one kv head are spread over
};
VKRT_SIZE_CHECK(AttentionPush, 11)

// Decode: query heads one workgroup serves at most (their scores and accumulators are
// registers: arrays of this many indexed only by unrolled loops), and the workgroup size
// (one kv position a thread when scoring; shared memory is sized for it).
VKRT_CONST(uint, kAttnMaxHeads, 8u);
VKRT_CONST(uint, kAttnDecodeThreads, 128u);
// Floats of one split's partial result of one (query, head) in the split buffer:
// running max, running sum, then hd unnormalized output sums.
VKRT_CONST(uint, kAttnPartialHeader, 2u);
// Words at the start of the split scratch that count the splits done of each (kv head,
// query x head group) (shaders/arrival.glsl): zero when allocated, zero again after every
// dispatch. A fixed size, so that the partial results of any shape never overwrite them;
// a shape with more kv heads x head groups x queries runs unsplit.
VKRT_CONST(uint, kAttnArrivalWords, 1024u);

VKRT_SHARED_END
#endif
