// Element types of the KV cache and the byte size of its rows (the layouts are
// spelled out in shaders/kv_cache.glsl, which the store and attention kernels share).
#pragma once
#include <cstdint>
#include <string>

#include "core/format.hpp"

namespace vkrt::ops {

// Element type of a KV cache (ggml type ids, as llama.cpp's -ctk / -ctv). A cache is
// `rows` rows of `width` = n_head_kv * head_dim elements (layouts in shaders/kv_cache.glsl):
//   f32:  4 bytes an element;
//   f16:  2 bytes an element, IEEE binary16 rounded to nearest even (width even);
//   q8_0: ggml's q8_0 blocks along the row, 34 bytes per 32 elements (width % 32 == 0),
//         rows packed without padding, as llama.cpp's q8_0 cache.
enum class KvType : uint32_t {
    f32 = uint32_t(Format::F32), f16 = uint32_t(Format::F16), q8_0 = uint32_t(Format::Q8_0)
};
const char* kv_type_name(KvType t);  // "f32", "f16", "q8_0"
// "f32" / "f16" / "q8_0" (any case) -> the type; anything else -> invalid_argument naming
// `what` (e.g. "-ctk") and the supported types.
KvType parse_kv_type(const std::string& s, const char* what);
// Bytes of one cache row of `width` elements; a width the type cannot hold (odd for f16,
// not a multiple of 32 for q8_0) -> invalid_argument naming `what`.
uint64_t kv_row_bytes(KvType t, uint32_t width, const char* what = "kv cache");
// Bytes of a cache of `rows` rows: rows * kv_row_bytes, rounded up to whole 32-bit words
// (the shaders bind caches as uint[]; a q8_0 row may end mid-word).
uint64_t kv_cache_bytes(KvType t, uint32_t width, uint32_t rows, const char* what = "kv cache");
// Elements of a row that one invocation of a store kernel writes: 1 (f32), 2 (a word of
// two halves), 32 (a q8_0 block).
uint32_t kv_store_unit(KvType t);

}  // namespace vkrt::ops
