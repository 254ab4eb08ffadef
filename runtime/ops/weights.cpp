#include "ops/weights.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "ops/dispatch.hpp"

namespace vkrt::ops {

namespace {
uint64_t padded4(uint64_t b) { return (b + 3) & ~uint64_t(3); }
}  // namespace

// ---- The grouped layout (WeightLayout::grouped): per format, where the last field array
// (the quants) starts in a group and its bytes per block, and how a block's fields go into
// a group (block j of the group at `g`).
namespace {

using PackFn = void (*)(const uint8_t* blk, uint8_t* g, uint64_t j);

struct GroupSpec {
    uint64_t last_at = 0, last_bytes = 0;  // the quant array: offset in the group, bytes per block
    PackFn pack = nullptr;
};

// The 32-element formats with an f16 d first: 8 d, then the GGUF bytes after d.
template <uint64_t BB>
void pack_d_quants(const uint8_t* blk, uint8_t* g, uint64_t j) {
    std::memcpy(g + 2 * j, blk, 2);
    std::memcpy(g + 16 + j * (BB - 2), blk + 2, BB - 2);
}

// Q4_1 (20 B: d | m | qs[16]), Q5_1 (24 B: d | m | qh[4] | qs[16]), IQ4_XS (136 B: d |
// scales_h | scales_l[4] | qs[128]): fields moved as they are, 4 bytes of scales first.
void pack_q4_1(const uint8_t* blk, uint8_t* g, uint64_t j) {
    std::memcpy(g + 4 * j, blk, 4);
    std::memcpy(g + 32 + 16 * j, blk + 4, 16);
}
void pack_q5_1(const uint8_t* blk, uint8_t* g, uint64_t j) {
    std::memcpy(g + 4 * j, blk, 4);
    std::memcpy(g + 32 + 4 * j, blk + 4, 4);
    std::memcpy(g + 64 + 16 * j, blk + 8, 16);
}
void pack_iq4_xs(const uint8_t* blk, uint8_t* g, uint64_t j) {
    std::memcpy(g + 4 * j, blk, 4);
    std::memcpy(g + 32 + 4 * j, blk + 4, 4);
    std::memcpy(g + 64 + 128 * j, blk + 8, 128);
}

// A unit of 32 4-bit values v(l) (l < 32) as 16 bytes in Q4_0's order.
template <typename V>
void pack_nibbles(uint8_t* out, V v) {
    for (int i = 0; i < 16; ++i) out[i] = uint8_t(v(i) | (v(16 + i) << 4));
}

// Q4_K (144 B: d | dmin | scales[12] | qs[128]; unit s = nibble s % 2 of qs[32 (s / 2) ..]).
void pack_q4_k(const uint8_t* blk, uint8_t* g, uint64_t j) {
    std::memcpy(g + 4 * j, blk, 4);
    std::memcpy(g + 32 + 12 * j, blk + 4, 12);
    for (int s = 0; s < 8; ++s)
        pack_nibbles(g + 128 + 128 * j + 16 * s,
                     [&](int l) { return (blk[16 + 32 * (s / 2) + l] >> (4 * (s % 2))) & 15; });
}

// A unit of 32 2-bit values v(l) as 8 bytes: v(16h + b + 4k) at bits 2k of byte 4h + b
// (a word's bytes then give four consecutive elements per shift).
template <typename V>
void pack_crumbs(uint8_t* out, V v) {
    for (int h = 0; h < 2; ++h)
        for (int b = 0; b < 4; ++b) {
            int x = 0;
            for (int k = 0; k < 4; ++k) x |= v(16 * h + b + 4 * k) << (2 * k);
            out[4 * h + b] = uint8_t(x);
        }
}

// A unit of 32 1-bit values v(l) as a little-endian word, v(b + 4k) at bit k of byte b
// (a word's bytes then give four consecutive elements per shift).
template <typename V>
void pack_bits(uint8_t* out, V v) {
    for (int b = 0; b < 4; ++b) {
        int x = 0;
        for (int k = 0; k < 8; ++k) x |= v(b + 4 * k) << k;
        out[b] = uint8_t(x);
    }
}

// Q5_K (176 B: d | dmin | scales[12] | qh[32] | qs[128]; unit s: low nibbles as Q4_K's,
// 5th bits bit s of qh[l]).
void pack_q5_k(const uint8_t* blk, uint8_t* g, uint64_t j) {
    std::memcpy(g + 4 * j, blk, 4);
    std::memcpy(g + 32 + 12 * j, blk + 4, 12);
    for (int s = 0; s < 8; ++s) {
        pack_bits(g + 128 + 32 * j + 4 * s, [&](int l) { return (blk[16 + l] >> s) & 1; });
        pack_nibbles(g + 384 + 128 * j + 16 * s,
                     [&](int l) { return (blk[48 + 32 * (s / 2) + l] >> (4 * (s % 2))) & 15; });
    }
}

// Q6_K (210 B: ql[128] | qh[64] | scales[16] | d; unit u = 4h + c: low nibbles nibble c / 2
// of ql[64h + 32 (c % 2) ..], high 2 bits bits 2c of qh[32h ..]).
void pack_q6_k(const uint8_t* blk, uint8_t* g, uint64_t j) {
    std::memcpy(g + 2 * j, blk + 208, 2);
    std::memcpy(g + 16 + 16 * j, blk + 192, 16);
    for (int u = 0; u < 8; ++u) {
        const int h = u / 4, c = u % 4;
        pack_crumbs(g + 144 + 64 * j + 8 * u, [&](int l) { return (blk[128 + 32 * h + l] >> (2 * c)) & 3; });
        pack_nibbles(g + 656 + 128 * j + 16 * u,
                     [&](int l) { return (blk[64 * h + 32 * (c % 2) + l] >> (4 * (c / 2))) & 15; });
    }
}

// Q3_K (110 B: hmask[32] | qs[64] | scales[12] | d; unit u: 2-bit quants bits 2 (u % 4) of
// qs[32 (u / 4) ..], high bits bit u of hmask[l]).
void pack_q3_k(const uint8_t* blk, uint8_t* g, uint64_t j) {
    std::memcpy(g + 2 * j, blk + 108, 2);
    std::memcpy(g + 16 + 12 * j, blk + 96, 12);
    for (int u = 0; u < 8; ++u) {
        pack_bits(g + 112 + 32 * j + 4 * u, [&](int l) { return (blk[l] >> u) & 1; });
        pack_crumbs(g + 368 + 64 * j + 8 * u, [&](int l) { return (blk[32 + 32 * (u / 4) + l] >> (2 * (u % 4))) & 3; });
    }
}

// Q2_K (84 B: scales[16] | qs[64] | d | dmin; unit u: 2-bit quants bits 2 (u % 4) of
// qs[32 (u / 4) ..]).
void pack_q2_k(const uint8_t* blk, uint8_t* g, uint64_t j) {
    std::memcpy(g + 4 * j, blk + 80, 4);
    std::memcpy(g + 32 + 16 * j, blk, 16);
    for (int u = 0; u < 8; ++u)
        pack_crumbs(g + 160 + 64 * j + 8 * u, [&](int l) { return (blk[16 + 32 * (u / 4) + l] >> (2 * (u % 4))) & 3; });
}

GroupSpec group_spec(Format type) {
    switch (type) {
        case Format::Q4_0: return {16, 16, pack_d_quants<18>};
        case Format::Q4_1: return {32, 16, pack_q4_1};
        case Format::Q5_1: return {64, 16, pack_q5_1};
        case Format::IQ4_XS: return {64, 128, pack_iq4_xs};
        case Format::Q5_0: return {16, 20, pack_d_quants<22>};
        case Format::Q8_0: return {16, 32, pack_d_quants<34>};
        case Format::IQ4_NL: return {16, 16, pack_d_quants<18>};
        case Format::Q2_K: return {160, 64, pack_q2_k};
        case Format::Q4_K: return {128, 128, pack_q4_k};
        case Format::Q3_K: return {368, 64, pack_q3_k};
        case Format::Q5_K: return {384, 128, pack_q5_k};
        case Format::Q6_K: return {656, 128, pack_q6_k};
        default: return {};
    }
}

}  // namespace

bool can_group(Format type) { return group_spec(type).pack != nullptr; }

WeightLayout upload_layout(const Device& dev, Format type) {
    return can_group(type) && dev.caps().repack ? WeightLayout::grouped : WeightLayout::gguf;
}

uint64_t weight_bytes(Format type, uint32_t cols, uint64_t rows, WeightLayout layout) {
    const uint64_t bytes = fmt::row_bytes(type, cols) * rows;
    if (layout == WeightLayout::gguf) return bytes;
    const fmt::Traits& t = fmt::traits(type);
    const GroupSpec gs = group_spec(type);
    const uint64_t blocks = rows * (cols / t.block_elems), rest = blocks % 8;
    // Whole groups take their GGUF bytes; a short last group of n blocks its arrays up to
    // the quants' and n quant arrays.
    return bytes - rest * t.block_bytes + (rest ? gs.last_at + rest * gs.last_bytes : 0);
}

void group_blocks(Format type, const uint8_t* src, uint64_t nblocks, uint8_t* dst) {
    const GroupSpec gs = group_spec(type);
    VKRT_CHECK(gs.pack, Status::internal, "group_blocks: ", fmt::name(type), " has no grouped layout");
    const uint64_t bb = fmt::traits(type).block_bytes;
    const uint64_t bytes = weight_bytes(type, fmt::traits(type).block_elems, nblocks, WeightLayout::grouped);
    std::memset(dst, 0, bytes);  // a short group's unused slots
    for (uint64_t b = 0; b < nblocks; ++b) gs.pack(src + b * bb, dst + (b / 8) * 8 * bb, b % 8);
}

WeightView single_part(const BufferView& view, Format type, uint32_t rows, uint32_t cols, WeightLayout layout) {
    WeightView w{type, rows, cols, {}, layout};
    w.parts.push_back({view, 0, rows});
    return w;
}

void check_weight(const WeightView& w, const char* kernel, const char* operand) {
    const fmt::Traits* ft = fmt::find(uint32_t(w.type));
    VKRT_CHECK(ft && (ft->kernels & fmt::kKernelFloat), Status::unsupported, kernel, ": weight type ",
               fmt::name(w.type), " (id ", uint32_t(w.type), ") is not supported by the GPU kernels");
    VKRT_CHECK(w.rows > 0 && w.cols > 0, Status::invalid_argument, kernel, ": empty weight (", w.rows, " x ", w.cols,
               ")");
    VKRT_CHECK(w.cols % ft->block_elems == 0, Status::invalid_argument, kernel, ": rows of ", w.cols,
               " elements: K must be a multiple of ", ft->block_elems, " for ", ft->name, " weights");
    VKRT_CHECK(w.layout == WeightLayout::gguf || can_group(w.type), Status::invalid_argument, kernel,
               ": weight type ", ft->name, " has no grouped layout");
    const uint64_t rb = fmt::row_bytes(w.type, w.cols);
    uint32_t next = 0;
    for (const WeightPart& p : w.parts) {
        VKRT_CHECK(p.row0 == next && p.rows > 0, Status::invalid_argument, kernel, ": weight parts must cover rows 0..",
                   w.rows, " in order (a part starts at row ", p.row0, ", expected ", next, ")");
        // Flat byte offsets in the shaders are 32-bit.
        VKRT_CHECK(rb * p.rows < (uint64_t(1) << 32), Status::limit_exceeded, kernel, ": a weight part of ", p.rows,
                   " rows x ", rb, " bytes is too large for 32-bit addressing");
        require_bytes(p.view, padded4(weight_bytes(w.type, w.cols, p.rows, w.layout)), kernel, operand);
        next += p.rows;
    }
    VKRT_CHECK(next == w.rows, Status::invalid_argument, kernel, ": weight parts cover ", next, " of ", w.rows,
               " rows");
}

uint32_t rows_per_part(Format type, uint32_t cols, uint64_t max_bytes, const std::string& name, WeightLayout layout) {
    const uint64_t rb = fmt::row_bytes(type, cols);
    // A part of r rows needs padded4(weight_bytes(r rows)) <= max_bytes (the grouped layout
    // pads the last group: a few rows fewer at most).
    uint64_t r = rb ? (max_bytes & ~uint64_t(3)) / rb : 0;
    while (r > 0 && padded4(weight_bytes(type, cols, r, layout)) > max_bytes) --r;
    VKRT_CHECK(r > 0, Status::limit_exceeded, "tensor '", name, "': one row (", rb,
               " bytes) is larger than the binding limit (", max_bytes, " bytes)");
    return uint32_t(std::min<uint64_t>(r, 0xffffffffu));
}

WeightBuffers upload_weight(Device& dev, Format type, uint32_t rows, uint32_t cols, const void* data,
                     const std::string& name, uint64_t max_bytes) {
    if (max_bytes == 0) max_bytes = dev.caps().max_binding_bytes;
    const uint64_t rb = fmt::row_bytes(type, cols);
    const WeightLayout layout = upload_layout(dev, type);
    const uint32_t per = rows_per_part(type, cols, max_bytes, name, layout);
    WeightBuffers w;
    w.view.type = type;
    w.view.rows = rows;
    w.view.cols = cols;
    w.view.layout = layout;
    std::vector<uint8_t> grouped;
    const uint8_t* src = static_cast<const uint8_t*>(data);
    const uint32_t nparts = (rows + per - 1) / per;
    w.buffers.reserve(nparts);
    for (uint32_t r0 = 0; r0 < rows; r0 += per) {
        const uint32_t n = std::min(per, rows - r0);
        const uint64_t bytes = weight_bytes(type, cols, n, w.view.layout);
        const std::string pname = nparts > 1 ? name + " [rows " + std::to_string(r0) + ".." +
                                                   std::to_string(r0 + n) + ")"
                                             : name;
        Buffer& b = w.buffers.emplace_back(dev, std::max<uint64_t>(padded4(bytes), 4), MemoryKind::device, pname);
        if (w.view.layout == WeightLayout::grouped) {
            grouped.resize(bytes);
            group_blocks(type, src + rb * r0, uint64_t(n) * (cols / fmt::traits(type).block_elems), grouped.data());
            b.upload(grouped.data(), bytes);
        } else {
            b.upload(src + rb * r0, bytes);
        }
        if (padded4(bytes) > bytes) {
            const uint8_t zeros[4] = {0, 0, 0, 0};
            b.upload(zeros, padded4(bytes) - bytes, bytes);
        }
        w.view.parts.push_back({BufferView(b), r0, n});
    }
    return w;
}

}  // namespace vkrt::ops

namespace vkrt::ops {

std::vector<uint8_t> synthetic_weight(Format type, uint32_t rows, uint32_t cols, uint32_t seed) {
    const fmt::Traits& t = fmt::traits(type);
    VKRT_CHECK(t.dequantize, Status::unsupported, "synthetic_weight: no decoder for ", t.name);
    const uint64_t rb = fmt::row_bytes(type, cols);
    std::vector<uint8_t> w(rb * rows);
    std::mt19937 rng(seed);
    if (t.quantize) {
        std::uniform_real_distribution<float> u(-1.f, 1.f);
        std::vector<float> row(cols);
        for (uint32_t r = 0; r < rows; ++r) {
            for (float& v : row) v = u(rng);
            t.quantize(row.data(), w.data() + rb * r, cols);
        }
        return w;
    }
    std::vector<float> vals(t.block_elems);
    const uint64_t nblocks = uint64_t(rows) * (cols / t.block_elems);
    for (uint64_t b = 0; b < nblocks; ++b) {
        uint8_t* blk = w.data() + b * t.block_bytes;
        for (int attempt = 0;; ++attempt) {
            VKRT_CHECK(attempt < 100000, Status::internal, "synthetic_weight: no acceptable random ", t.name, " block");
            for (uint32_t i = 0; i < t.block_bytes; ++i) blk[i] = uint8_t(rng());
            t.dequantize(blk, vals.data(), t.block_elems);
            float mx = 0;
            bool finite = true;
            for (float v : vals) {
                finite = finite && std::isfinite(v);
                mx = std::max(mx, std::fabs(v));
            }
            if (finite && mx >= 1.0f / 256 && mx <= 64) break;
        }
    }
    return w;
}

}  // namespace vkrt::ops
