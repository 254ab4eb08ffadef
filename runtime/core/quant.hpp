// Quantizers for the formats vkrt writes (vkrt-quantize, synthetic models): the
// ggml-exact ones are also the format registry's encoders (fmt::traits(f).quantize);
// decoding goes through the registry (core/format.hpp: fmt::dequantize_row).
// Bit-compatible with ggml's reference quantizers (quantize_row_q4_0_ref /
// quantize_row_q8_0_ref, which llama-quantize uses when no importance matrix is given).
//
// Q4_0 block (18 bytes, 32 elements): fp16 d | 16 bytes of nibbles.
//   element j <  16: q = qs[j] & 0xF;  element j >= 16: q = qs[j-16] >> 4;  x = d * (q - 8)
// Q8_0 block (34 bytes, 32 elements): fp16 d | int8 qs[32];  x = d * qs[j]
//
// All row functions take k = number of elements, which must be a multiple of 32
// for the block types (else Status::invalid_argument).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "gguf/gguf.hpp"

namespace vkrt {

#pragma pack(push, 1)
struct BlockQ4_0 {
    static constexpr int kElems = 32;
    uint16_t d;              // fp16 scale
    uint8_t qs[kElems / 2];  // nibbles: low = elements 0..15, high = 16..31
};
struct BlockQ8_0 {
    static constexpr int kElems = 32;
    uint16_t d;              // fp16 scale
    int8_t qs[kElems];
};
#pragma pack(pop)
static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block must be 18 bytes (shaders/formats.def)");
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block must be 34 bytes (shaders/formats.def)");

// ---- quantize: k floats -> k/32 blocks at out ----

// Exactly ggml's quantize_row_q4_0_ref: per block, take the element of largest
// magnitude *with its sign* (max), d = max / -8, id = 1/d,
// q = min(15, (int8)(x * id + 8.5f)); stores fp16(d).
void quantize_row_q4_0(const float* x, void* out, size_t k);
// Exactly ggml's quantize_row_q8_0_ref: d = amax / 127, q = roundf(x * (1/d)).
void quantize_row_q8_0(const float* x, void* out, size_t k);
// Q4_0 with a searched scale (not ggml-compatible bytes, same format): for each
// block, tries d' = d * s for s = 0.70, 0.71, ..., 1.00 (d from the ref rule
// above), q = clamp(round(x / d') + 8, 0, 15), and keeps the s with the least
// squared error measured with the fp16-rounded d' (ties keep the larger s).
// s = 1.00 is the ref's choice (up to how exact .5 ties round), so the block
// error is never worse than that. Shrinking d trades clipping of the largest
// element for finer steps for all the others: typically lower RMS error.
void quantize_row_q4_0_mse(const float* x, void* out, size_t k);
void quantize_row_f16(const float* x, void* out, size_t k);  // fp32 -> fp16, round to nearest even

// ---- whole tensors ----

// Whole tensor (info.data must point at its bytes, e.g. from gguf::File) -> n_elements floats,
// decoded row by row with the registry (any type with a decoder, I8/I32 converted).
std::vector<float> dequantize_tensor(const gguf::TensorInfo& info);

}  // namespace vkrt
