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

bool can_group(Format type) {
    const fmt::Traits& t = fmt::traits(type);
    return t.block_elems == 32 && t.block_bytes % 4 == 2 && (t.kernels & fmt::kKernelFloat);
}

WeightLayout upload_layout(Format type) { return can_group(type) ? WeightLayout::grouped : WeightLayout::gguf; }

uint64_t weight_bytes(Format type, uint32_t cols, uint64_t rows, WeightLayout layout) {
    const uint64_t bytes = fmt::row_bytes(type, cols) * rows;
    if (layout == WeightLayout::gguf) return bytes;
    const fmt::Traits& t = fmt::traits(type);
    const uint64_t blocks = rows * (cols / t.block_elems), rest = blocks % 8;
    // Whole groups take their GGUF bytes; a short last group of n blocks 16 + n quant arrays.
    return bytes - rest * t.block_bytes + (rest ? 16 + rest * (t.block_bytes - 2) : 0);
}

void group_blocks(Format type, const uint8_t* src, uint64_t nblocks, uint8_t* dst) {
    VKRT_CHECK(can_group(type), Status::internal, "group_blocks: ", fmt::name(type), " has no grouped layout");
    const uint64_t bb = fmt::traits(type).block_bytes, qb = bb - 2;
    std::memset(dst, 0, weight_bytes(type, 32, nblocks, WeightLayout::grouped));  // a short group's unused d
    for (uint64_t b = 0; b < nblocks; ++b) {
        uint8_t* group = dst + (b / 8) * 8 * bb;
        std::memcpy(group + 2 * (b % 8), src + b * bb, 2);            // d
        std::memcpy(group + 16 + (b % 8) * qb, src + b * bb + 2, qb);  // quants
    }
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

uint32_t rows_per_part(Format type, uint32_t cols, uint64_t max_bytes, const std::string& name) {
    const uint64_t rb = fmt::row_bytes(type, cols);
    // A part of r rows needs padded4(weight_bytes(r rows)) <= max_bytes (the grouped layout
    // pads the last group: a few rows fewer at most).
    uint64_t r = rb ? (max_bytes & ~uint64_t(3)) / rb : 0;
    while (r > 0 && padded4(weight_bytes(type, cols, r, upload_layout(type))) > max_bytes) --r;
    VKRT_CHECK(r > 0, Status::limit_exceeded, "tensor '", name, "': one row (", rb,
               " bytes) is larger than the binding limit (", max_bytes, " bytes)");
    return uint32_t(std::min<uint64_t>(r, 0xffffffffu));
}

WeightBuffers upload_weight(Device& dev, Format type, uint32_t rows, uint32_t cols, const void* data,
                     const std::string& name, uint64_t max_bytes) {
    if (max_bytes == 0) max_bytes = dev.caps().max_binding_bytes;
    const uint64_t rb = fmt::row_bytes(type, cols);
    const uint32_t per = rows_per_part(type, cols, max_bytes, name);
    WeightBuffers w;
    w.view.type = type;
    w.view.rows = rows;
    w.view.cols = cols;
    w.view.layout = upload_layout(type);
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
