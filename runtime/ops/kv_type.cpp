#include "ops/kv_type.hpp"

#include <cctype>

#include "core/error.hpp"

namespace vkrt::ops {

namespace {
const fmt::Traits& kQ8 = fmt::traits(Format::Q8_0);  // the q8_0 cache rows are ggml q8_0 blocks
}  // namespace

const char* kv_type_name(KvType t) {
    switch (t) {
        case KvType::f32: return "f32";
        case KvType::f16: return "f16";
        case KvType::q8_0: return "q8_0";
    }
    return "?";
}

KvType parse_kv_type(const std::string& s, const char* what) {
    std::string l;
    for (char c : s) l += char(std::tolower(static_cast<unsigned char>(c)));
    for (KvType t : {KvType::f32, KvType::f16, KvType::q8_0})
        if (l == kv_type_name(t)) return t;
    fail(Status::invalid_argument, what, ": unsupported KV cache type '", s, "' (supported: f32, f16, q8_0)");
}

uint64_t kv_row_bytes(KvType t, uint32_t width, const char* what) {
    switch (t) {
        case KvType::f32: return uint64_t(width) * 4;
        case KvType::f16:
            VKRT_CHECK(width % 2 == 0, Status::invalid_argument, what, ": an f16 cache needs an even row width, got ",
                       width);
            return uint64_t(width) * 2;
        case KvType::q8_0:
            VKRT_CHECK(width % kQ8.block_elems == 0, Status::invalid_argument, what,
                       ": a q8_0 cache needs rows (n_head_kv * head_dim) of a multiple of 32 elements, got ", width);
            return uint64_t(width) / kQ8.block_elems * kQ8.block_bytes;
    }
    fail(Status::invalid_argument, what, ": unknown KV cache type ", uint32_t(t));
}

uint64_t kv_cache_bytes(KvType t, uint32_t width, uint32_t rows, const char* what) {
    return (uint64_t(rows) * kv_row_bytes(t, width, what) + 3) / 4 * 4;
}

uint32_t kv_store_unit(KvType t) { return t == KvType::f16 ? 2 : t == KvType::q8_0 ? fmt::traits(Format::Q8_0).block_elems : 1; }

}  // namespace vkrt::ops
