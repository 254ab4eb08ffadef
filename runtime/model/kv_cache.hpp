// The KV cache of one sequence: a K and a V buffer per layer, each `rows(l)` rows (one
// per position) of width = n_head_kv * head_dim elements of the cache types
// (ops/kv_type.hpp: f32, f16, q8_0; llama.cpp's -ctk / -ctv). F16 by default, as in
// llama.cpp: half the memory of F32 for the same perplexity (docs/BENCHMARKS.md).
//
// Rows are given per layer: a full-attention layer keeps all n_ctx positions, a
// sliding-window layer only a ring of rows around its window (model::Session::kv_layer_rows;
// position p in row p % rows, see ops::kv_store).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "ops/kv_type.hpp"
#include "vk/buffer.hpp"

namespace vkrt {

class Device;

// Element types of the K and V caches.
struct KvCacheTypes {
    ops::KvType k = ops::KvType::f16;
    ops::KvType v = ops::KvType::f16;
};

class KvCache {
public:
    KvCache() = default;
    // layer_rows (n_layer): positions each layer keeps; width: elements of a row.
    // A width a type cannot hold (q8_0 needs a multiple of 32) -> invalid_argument.
    KvCache(Device& dev, std::span<const uint32_t> layer_rows, uint32_t width, KvCacheTypes types);

    uint32_t n_layer() const { return uint32_t(rows_.size()); }
    uint32_t rows(uint32_t layer) const { return rows_.at(layer); }
    uint32_t width() const { return width_; }
    const KvCacheTypes& types() const { return types_; }
    const Buffer& k(uint32_t layer) const { return k_.at(layer); }
    const Buffer& v(uint32_t layer) const { return v_.at(layer); }
    // Writable rows (a restored session state uploads them).
    Buffer& k(uint32_t layer) { return k_.at(layer); }
    Buffer& v(uint32_t layer) { return v_.at(layer); }
    // Device bytes of every layer's K and V buffers.
    uint64_t bytes() const { return bytes_; }

private:
    std::vector<uint32_t> rows_;
    uint32_t width_ = 0;
    KvCacheTypes types_;
    std::vector<Buffer> k_, v_;
    uint64_t bytes_ = 0;
};

}  // namespace vkrt
