// A session's saved state (vkrt_session_state_get/set, vkrt_session_save/load): the byte
// format and its parser, kept apart from the GPU so that the parser runs under libFuzzer
// (tests/fuzz/fuzz_session_state.cpp) without a device.
//
// Layout (little endian; every count is checked against the blob's size before use):
//   header (StateHeader, 88 bytes): magic "VKRTSES\0", format version, header bytes, the
//     model's identity (model::Model::identity: a hash of its metadata and tensor data),
//     n_layer, KV row width, n_vocab, K and V cache types, the saving session's n_ctx,
//     pos, the lowest position every sliding-window ring still holds, the number of
//     logits saved (0 or n_vocab), the bytes of the caller's extra section, the bytes
//     after the header, and a checksum over everything (checksum field read as 0).
//   tokens    pos x i32: the token history, i.e. the ids of positions [0, pos)
//   logits    n_logits x f32: the last evaluated token's logits
//   layers    n_layer x u32 `first`: the lowest position whose K/V rows follow for that
//             layer (0 for full attention, ring_lo for a ring), then per layer the K rows
//             of positions [first, pos) and the V rows, kv_row_bytes each, position order
//   extra     extra_bytes: the C API's sampler state (vkrt_c.cpp), opaque here
// A blob is refused whole (bad_format naming the field) if any of this does not add up,
// if a token id is outside the vocabulary, or if the checksum differs (a flipped bit).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ops/kv_type.hpp"

namespace vkrt::model {

inline constexpr char kStateMagic[8] = {'V', 'K', 'R', 'T', 'S', 'E', 'S', '\0'};
inline constexpr uint32_t kStateVersion = 1;

struct StateHeader {
    char magic[8];
    uint32_t version;
    uint32_t header_bytes;  // sizeof(StateHeader): a later version may append fields
    uint64_t model_id;
    uint32_t n_layer, width, n_vocab;
    uint32_t type_k, type_v;  // ops::KvType
    uint32_t n_ctx, pos, ring_lo, n_logits;
    uint32_t reserved;
    uint64_t extra_bytes;
    uint64_t payload_bytes;  // bytes after the header
    uint64_t checksum;       // state_hash of the whole blob with this field 0
};
static_assert(sizeof(StateHeader) == 88, "the saved-state header is part of the file format");

// A parsed blob: the header and views into the blob's bytes (valid while the blob is).
struct StateView {
    StateHeader h{};
    std::vector<int32_t> tokens;  // copies: a caller's blob need not be aligned
    std::vector<float> logits;
    std::vector<uint32_t> first;  // (n_layer) lowest saved position per layer
    std::vector<std::span<const uint8_t>> k, v;  // (n_layer) rows [first, pos)
    std::span<const uint8_t> extra;
    uint64_t row_bytes_k = 0, row_bytes_v = 0;
};

// Checks the whole structure and the checksum; throws bad_format naming what is wrong.
// Nothing here knows the session: model, cache types and n_ctx are compared by the caller.
StateView parse_state(std::span<const uint8_t> blob);

// A 64-bit hash over bytes (four 64-bit lanes, so that hashing a model's weights runs at
// memory speed); not cryptographic: it tells a changed model or a flipped bit, no attacker.
class StateHash {
public:
    explicit StateHash(uint64_t seed = 0);
    void update(const void* data, size_t n);
    uint64_t digest() const;

private:
    void block(const uint8_t* p);
    uint64_t lane_[4];
    uint8_t tail_[32];
    size_t tail_n_ = 0;
    uint64_t total_ = 0;
};
uint64_t state_hash(std::span<const uint8_t> bytes);

}  // namespace vkrt::model
