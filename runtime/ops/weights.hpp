// Weights as the matrix and embedding kernels bind them: N rows of K elements of one
// format (core/format.hpp) in their exact GGUF byte layout, as one or more parts of
// whole rows. A tensor above the device's binding limit (maxStorageBufferRange: phones
// report 128 MiB to 1 GiB, while Llama-3-8B's Q6_K token_embd is 431 MB) is split into
// parts that each fit one storage-buffer binding; the kernels run once per part with the
// part's first row as a push constant (shaders/matvec.comp, matmul.comp, embed.comp).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/format.hpp"
#include "vk/buffer.hpp"

namespace vkrt::ops {

// How a weight's bytes are arranged in its buffers.
enum class WeightLayout : uint32_t {
    gguf,     // the file's bytes (any format)
    // The blocks of a part in groups of 8, each group where its GGUF bytes start (8 blocks
    // take the same bytes in both layouts), holding per field of the block the 8 blocks'
    // values as one array: scales first, the quants last, each array 16-byte aligned where
    // the fields' sizes allow. The GEMV's lanes then load their quants as aligned words or
    // 16-byte vectors, consecutive lanes consecutive bytes (shaders/formats/helpers.glsl),
    // where the GGUF blocks of these formats leave every other block 2-byte aligned (Q4_0,
    // Q5_0, Q8_0, IQ4_NL, Q3_K, Q6_K), a 32-element unit's quants over more bytes than its
    // own (the K formats: two to eight units share a byte), or quants not 16-byte aligned
    // (Q4_1, Q5_1, IQ4_XS). What upload_weight makes of them:
    //   Q4_0, Q5_0, Q8_0, IQ4_NL: 8 d (16 bytes) | 8 quant arrays (the GGUF bytes after d)
    //   Q4_K: 8 (d, dmin) (32 bytes) | 8 x 12 scale bytes | 8 x 128 quant bytes, each unit
    //         of 32 elements as 16 bytes in Q4_0's order (element i low nibble of byte i,
    //         element 16 + i high nibble)
    //   Q6_K: 8 d (16) | 8 x 16 int8 scales | 8 x 64 bytes of high 2-bit parts (per unit 8
    //         bytes: element 16h + b + 4k at bits 2k of byte 4h + b) | 8 x 128 bytes of low
    //         nibbles (per unit 16 bytes in Q4_0's order)
    //   Q5_K: as Q4_K, with 8 x 32 bytes of 5th bits (per unit a word: element b + 4k at
    //         bit k of byte b) at 128, the quants at 384
    //   Q3_K: 8 d (16) | 8 x 12 scale bytes | 8 x 32 bytes of hmask bits (per unit a word, as Q5_K's)
    //         | 8 x 64 bytes of 2-bit quants (per unit 8 bytes, as Q6_K's high parts)
    //   Q2_K: 8 (d, dmin) (32) | 8 x 16 scale/min bytes | 8 x 64 bytes of 2-bit quants (per
    //         unit 8 bytes, as Q3_K's)
    //   Q4_1: 8 (d, m) (32) | 8 x 16 quant bytes;  Q5_1: 8 (d, m) | 8 qh words | 8 x 16 quant
    //         bytes;  IQ4_XS: 8 (d, scales_h) | 8 scales_l words | 8 x 128 quant bytes
    // The reference decoders (core/format.hpp) stay the spec: the repacking moves bits only.
    grouped,
};
// Whether `type` has the grouped layout.
bool can_group(Format type);
// The layout upload_weight gives weights of `type` on `dev`: grouped where can_group,
// unless the device was made with weights kept in the file's layout (Capabilities::repack
// off: DeviceOptions::disable_repack, VKRT_DISABLE=repack or VKRT_REPACK=0; an A/B switch
// of the repacked kernels on one binary).
WeightLayout upload_layout(const Device& dev, Format type);
// Bytes that `rows` rows of `cols` elements take in `layout` (before rounding up to 4).
// A short last group of n blocks (nblocks % 8) takes its full field arrays but the last
// (the quants), which holds only the n blocks' values.
uint64_t weight_bytes(Format type, uint32_t cols, uint64_t rows, WeightLayout layout);
// GGUF blocks (nblocks of `type`, can_group) -> the grouped layout; dst holds
// weight_bytes(...) bytes (a short last group's unused slots zero).
void group_blocks(Format type, const uint8_t* src, uint64_t nblocks, uint8_t* dst);

// Rows row0 .. row0+rows of a weight, bound as one view. The view holds the rows' bytes
// rounded up to a multiple of 4 (the shaders read 32-bit words), in the weight's layout.
struct WeightPart {
    BufferView view;
    uint32_t row0 = 0, rows = 0;
};

// A weight (N rows of K elements of `type`), parts in row order covering all rows.
struct WeightView {
    Format type = Format::F32;
    uint32_t rows = 0, cols = 0;  // N, K
    std::vector<WeightPart> parts;
    WeightLayout layout = WeightLayout::gguf;  // of every part (each part grouped on its own)
};

// A weight held in one view (any size the recorder accepts).
WeightView single_part(const BufferView& view, Format type, uint32_t rows, uint32_t cols,
                       WeightLayout layout = WeightLayout::gguf);

// Checks a view against its shape: a format with GPU kernels, K a whole number of blocks,
// parts contiguous in row order, each view holding its rows' bytes rounded up to 4.
// Throws Status::unsupported / invalid_argument naming `kernel` and `operand`.
void check_weight(const WeightView& w, const char* kernel, const char* operand = "w");

// A weight's device buffers (one per part) and its view.
struct WeightBuffers {
    std::vector<Buffer> buffers;
    WeightView view;
};

// Rows per part for a weight of `cols` elements of `type` a row in `layout` under a
// binding limit of `max_bytes` (rounded-up rows included); throws
// Status::limit_exceeded when one row does not fit.
uint32_t rows_per_part(Format type, uint32_t cols, uint64_t max_bytes, const std::string& name, WeightLayout layout);

// Uploads N rows of K elements (GGUF bytes at `data`, fmt::row_bytes(type, K) a row) into
// parts of at most `max_bytes` each (0 = the device's caps().max_binding_bytes, which
// VKRT_MAX_BINDING_BYTES can lower), one buffer each, zero padded to whole words, in
// upload_layout(dev, type) (the grouped formats repacked part by part).
WeightBuffers upload_weight(Device& dev, Format type, uint32_t rows, uint32_t cols, const void* data,
                     const std::string& name, uint64_t max_bytes = 0);

}  // namespace vkrt::ops

namespace vkrt::ops {

// Synthetic weights for tests and benchmarks: N rows of K elements of `type` in GGUF
// layout. Formats with an encoder (fmt::Traits::quantize) get uniform [-1, 1] values
// encoded; the others get random block bytes, a block redrawn until every element it
// decodes to (the registry's reference decoder) is finite with max |x| in [2^-8, 64], so
// every bit of every field is exercised at sane magnitudes. Deterministic in `seed`.
std::vector<uint8_t> synthetic_weight(Format type, uint32_t rows, uint32_t cols, uint32_t seed);

}  // namespace vkrt::ops
