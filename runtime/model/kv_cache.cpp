#include "model/kv_cache.hpp"

#include <algorithm>
#include <string>

#include "core/error.hpp"
#include "vk/device.hpp"

namespace vkrt {

KvCache::KvCache(Device& dev, std::span<const uint32_t> layer_rows, uint32_t width, KvCacheTypes types)
    : rows_(layer_rows.begin(), layer_rows.end()), width_(width), types_(types) {
    VKRT_CHECK(width >= 1, Status::invalid_argument, "kv cache: empty rows");
    for (uint32_t l = 0; l < n_layer(); ++l) {
        VKRT_CHECK(rows_[l] >= 1, Status::invalid_argument, "kv cache: layer ", l, " keeps no positions");
        const uint64_t kb = ops::kv_cache_bytes(types.k, width, rows_[l], "K cache (-ctk)");
        const uint64_t vb = ops::kv_cache_bytes(types.v, width, rows_[l], "V cache (-ctv)");
        const uint64_t limit = dev.caps().max_storage_buffer_range;
        VKRT_CHECK(kb <= limit && vb <= limit, Status::limit_exceeded, "kv cache: a layer of ", rows_[l],
                   " positions (", std::max(kb, vb), " bytes) exceeds maxStorageBufferRange (", limit, " bytes) of ",
                   dev.caps().name, " (lower -c or use a smaller -ctk / -ctv type)");
        k_.emplace_back(dev, kb, MemoryKind::device, "k cache " + std::to_string(l));
        v_.emplace_back(dev, vb, MemoryKind::device, "v cache " + std::to_string(l));
        k_.back().set_byte_class(ByteClass::kv);  // for the recorder's bytes-read counts
        v_.back().set_byte_class(ByteClass::kv);
        bytes_ += kb + vb;
    }
}

}  // namespace vkrt
