// Push constants of the embedding gather: shaders/embed.comp; host side runtime/ops/embed.cpp.
#ifndef VKRT_SHARED_EMBED_H
#define VKRT_SHARED_EMBED_H
#include "shared/shared.h"
VKRT_SHARED_BEGIN

// out (M, n_embd) = rows ids[m] of a table of n_vocab rows, bound as the part of R rows
// from row `base` (ops/weights.hpp).
struct EmbedPush {
    uint M, n_embd, n_vocab, R, base;
};
VKRT_SIZE_CHECK(EmbedPush, 5)

VKRT_SHARED_END
#endif
