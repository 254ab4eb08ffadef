// Push constants of shaders/kv_store.comp (the KV-cache store); host side
// runtime/ops/attention.cpp (ops::kv_store).
#ifndef VKRT_SHARED_KV_STORE_H
#define VKRT_SHARED_KV_STORE_H
#include "shared/shared.h"
VKRT_SHARED_BEGIN

// src (M, width) floats, rows src_stride floats apart (the v slice of a fused QKV row)
// -> cache row pos[m] % rows of `rows` rows of `width` elements of the cache type.
struct KvStorePush {
    uint M, width, rows, src_stride;
};
VKRT_SIZE_CHECK(KvStorePush, 4)

VKRT_SHARED_END
#endif
