#include "model/session_state.hpp"

#include <algorithm>
#include <cstring>

#include "core/error.hpp"

namespace vkrt::model {

// ---------------------------------------------------------------- hash

namespace {
constexpr uint64_t kPrime1 = 0x9E3779B185EBCA87ull, kPrime2 = 0xC2B2AE3D27D4EB4Full;
uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
uint64_t mix(uint64_t acc, uint64_t v) { return rotl(acc + v * kPrime2, 31) * kPrime1; }
uint64_t load64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}
}  // namespace

StateHash::StateHash(uint64_t seed)
    : lane_{seed + kPrime1 + kPrime2, seed + kPrime2, seed, seed - kPrime1} {}

void StateHash::block(const uint8_t* p) {
    for (int i = 0; i < 4; ++i) lane_[i] = mix(lane_[i], load64(p + 8 * i));
}

void StateHash::update(const void* data, size_t n) {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    total_ += n;
    if (tail_n_) {
        const size_t take = std::min(n, sizeof tail_ - tail_n_);
        std::memcpy(tail_ + tail_n_, p, take);
        tail_n_ += take;
        p += take;
        n -= take;
        if (tail_n_ < sizeof tail_) return;
        block(tail_);
        tail_n_ = 0;
    }
    for (; n >= 32; p += 32, n -= 32) block(p);
    std::memcpy(tail_, p, n);
    tail_n_ = n;
}

uint64_t StateHash::digest() const {
    uint64_t h = rotl(lane_[0], 1) + rotl(lane_[1], 7) + rotl(lane_[2], 12) + rotl(lane_[3], 18);
    for (int i = 0; i < 4; ++i) h = (h ^ mix(0, lane_[i])) * kPrime1 + kPrime2;
    h += total_;
    for (size_t i = 0; i < tail_n_; ++i) h = rotl(h ^ (tail_[i] * kPrime1), 11) * kPrime2;
    h ^= h >> 33;
    h *= kPrime2;
    h ^= h >> 29;
    return h;
}

uint64_t state_hash(std::span<const uint8_t> bytes) {
    StateHash h;
    h.update(bytes.data(), bytes.size());
    return h.digest();
}

// ---------------------------------------------------------------- parser

namespace {

// Reads consecutive sections of a blob; every take is checked against what is left.
struct Reader {
    std::span<const uint8_t> rest;
    std::span<const uint8_t> take(uint64_t n, const char* what) {
        VKRT_CHECK(n <= rest.size(), Status::bad_format, "session state: truncated in ", what, " (", n,
                   " bytes needed, ", rest.size(), " left)");
        auto s = rest.first(size_t(n));
        rest = rest.subspan(size_t(n));
        return s;
    }
};

bool known_kv_type(uint32_t t) {
    using ops::KvType;
    return t == uint32_t(KvType::f32) || t == uint32_t(KvType::f16) || t == uint32_t(KvType::q8_0);
}

}  // namespace

StateView parse_state(std::span<const uint8_t> blob) {
    StateView s;
    StateHeader& h = s.h;
    VKRT_CHECK(blob.size() >= sizeof h, Status::bad_format, "session state: ", blob.size(),
               " bytes is shorter than its ", sizeof h, "-byte header (truncated)");
    std::memcpy(&h, blob.data(), sizeof h);
    VKRT_CHECK(std::memcmp(h.magic, kStateMagic, sizeof h.magic) == 0, Status::bad_format,
               "session state: not a vkrt session state (bad magic)");
    VKRT_CHECK(h.version == kStateVersion, Status::bad_format, "session state: format version ", h.version,
               " (this vkrt reads version ", kStateVersion, ")");
    VKRT_CHECK(h.header_bytes == sizeof h, Status::bad_format, "session state: header of ", h.header_bytes,
               " bytes (version ", kStateVersion, " has ", sizeof h, ")");
    VKRT_CHECK(h.payload_bytes == blob.size() - sizeof h, Status::bad_format, "session state: ",
               blob.size() - sizeof h, " bytes after the header, the header says ", h.payload_bytes,
               blob.size() - sizeof h < h.payload_bytes ? " (truncated)" : " (trailing bytes)");
    {
        // The checksum covers every byte (header with the field read as 0): any flipped bit.
        StateHeader z = h;
        z.checksum = 0;
        StateHash hash;
        hash.update(&z, sizeof z);
        hash.update(blob.data() + sizeof h, blob.size() - sizeof h);
        VKRT_CHECK(hash.digest() == h.checksum, Status::bad_format,
                   "session state: checksum mismatch (the data is corrupt)");
    }
    VKRT_CHECK(known_kv_type(h.type_k) && known_kv_type(h.type_v), Status::bad_format,
               "session state: unknown cache type ids ", h.type_k, " / ", h.type_v);
    VKRT_CHECK(h.n_layer >= 1 && h.width >= 1 && h.n_vocab >= 1, Status::bad_format,
               "session state: empty model shape (", h.n_layer, " layers, width ", h.width, ", vocab ", h.n_vocab, ")");
    VKRT_CHECK(h.pos <= h.n_ctx && h.ring_lo <= h.pos, Status::bad_format, "session state: pos ", h.pos,
               ", ring start ", h.ring_lo, " and n_ctx ", h.n_ctx, " do not fit together");
    VKRT_CHECK(h.n_logits == 0 || h.n_logits == h.n_vocab, Status::bad_format, "session state: ", h.n_logits,
               " logits for a vocabulary of ", h.n_vocab);
    // kv_row_bytes refuses widths a type cannot hold (invalid_argument): a file error here.
    try {
        s.row_bytes_k = ops::kv_row_bytes(ops::KvType(h.type_k), h.width);
        s.row_bytes_v = ops::kv_row_bytes(ops::KvType(h.type_v), h.width);
    } catch (const Error& e) {
        fail(Status::bad_format, "session state: ", e.what());
    }

    Reader r{blob.subspan(sizeof h)};
    auto tok = r.take(uint64_t(h.pos) * 4, "the token history");
    s.tokens.resize(h.pos);
    if (h.pos) std::memcpy(s.tokens.data(), tok.data(), tok.size());
    for (uint32_t i = 0; i < h.pos; ++i) {
        const int32_t t = s.tokens[i];
        VKRT_CHECK(t >= 0 && uint32_t(t) < h.n_vocab, Status::bad_format, "session state: token ", i, " is id ", t,
                   ", outside the vocabulary (", h.n_vocab, ")");
    }
    auto lg = r.take(uint64_t(h.n_logits) * 4, "the logits");
    s.logits.resize(h.n_logits);
    if (h.n_logits) std::memcpy(s.logits.data(), lg.data(), lg.size());
    auto firsts = r.take(uint64_t(h.n_layer) * 4, "the layer table");
    s.first.resize(h.n_layer);
    std::memcpy(s.first.data(), firsts.data(), firsts.size());
    for (uint32_t l = 0; l < h.n_layer; ++l)
        VKRT_CHECK(s.first[l] == 0 || s.first[l] == h.ring_lo, Status::bad_format, "session state: layer ", l,
                   " starts at position ", s.first[l], " (0 or the ring start ", h.ring_lo, ")");
    for (uint32_t l = 0; l < h.n_layer; ++l) {
        const uint64_t rows = h.pos - s.first[l];
        s.k.push_back(r.take(rows * s.row_bytes_k, "the K cache"));
        s.v.push_back(r.take(rows * s.row_bytes_v, "the V cache"));
    }
    s.extra = r.take(h.extra_bytes, "the sampler section");
    VKRT_CHECK(r.rest.empty(), Status::bad_format, "session state: ", r.rest.size(), " bytes after the last section");
    return s;
}

}  // namespace vkrt::model
