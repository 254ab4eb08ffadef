// The weight-format registry: what vkrt knows about each ggml tensor type, generated
// from shaders/formats.def (one line per ggml type id; see that file). One id space:
// a Format's value is ggml's type number, so any id read from a GGUF file can be held
// in a Format, named and sized here, and refused only where a weight is bound to a
// kernel (traits(f).kernels == 0).
//
// Reference decoders (Traits::dequantize) exist for every format with GPU kernels and
// equal ggml's dequantize_row_* bit for bit (tests/test_formats.cpp checks them against
// digests of ggml's own output over the llama.cpp-written files in ../shared/models).
// Block layouts (little-endian, fp16 = IEEE binary16, "d" = scale, "m" = min):
//   F32 / F16 / BF16: one element per "block".
//   Q4_0   (32, 18 B): d | qs[16]           x = d * (q - 8)        q: low nibbles = 0..15, high = 16..31
//   Q4_1   (32, 20 B): d | m | qs[16]       x = d * q + m
//   Q5_0   (32, 22 B): d | qh[4] | qs[16]   x = d * (q - 16)       bit 4 of element j = bit j of qh
//   Q5_1   (32, 24 B): d | m | qh[4] | qs[16]   x = d * q + m
//   Q8_0   (32, 34 B): d | int8 qs[32]      x = d * q
//   Q2_K  (256, 84 B): scales[16] | qs[64] | d | dmin     16 groups of 16: x = d*(sc&15)*q - dmin*(sc>>4)
//   Q3_K (256, 110 B): hmask[32] | qs[64] | scales[12] | d   16 groups of 16, 6-bit signed scales
//   Q4_K (256, 144 B): d | dmin | scales[12] | qs[128]  8 groups of 32, 6-bit scales and mins
//   Q5_K (256, 176 B): d | dmin | scales[12] | qh[32] | qs[128]
//   Q6_K (256, 210 B): ql[128] | qh[64] | int8 scales[16] | d
//   IQ4_NL (32, 18 B): d | qs[16]           x = d * kvalues_iq4nl[q]
//   IQ4_XS (256, 136 B): d | scales_h (u16) | scales_l[4] | qs[128]   8 groups of 32, 6-bit scales
// (the exact bit positions are spelled out at each decoder in format.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

namespace vkrt {

// ggml's type ids (ggml.h enum ggml_type); a Format may hold any uint32_t read from a file.
// (The first inclusion of formats.def also defines VKRT_K_FLOAT / VKRT_K_INT.)
enum class Format : uint32_t {
#define VKRT_FORMAT(ID, suffix, id, block_elems, block_bytes, kernels) ID = id,
#include "formats.def"
#undef VKRT_FORMAT
};

namespace fmt {

// Kernel families of a format (formats.def's last column).
inline constexpr uint32_t kKernelFloat = VKRT_K_FLOAT;  // dequantizing GEMV / GEMM / embedding
inline constexpr uint32_t kKernelInt = VKRT_K_INT;      // also the integer-dot GEMV and GEMM
inline constexpr uint32_t kKernelMmq = VKRT_K_MMQ;      // also the integer-dot GEMM only (Q2_K)

// Decoder: k elements (a multiple of block_elems) at src -> k floats at dst.
using DequantizeFn = void (*)(const void* src, float* dst, size_t k);
// Encoder: k floats -> k elements (a multiple of block_elems) at dst, bytes as ggml's
// reference quantizer (quantize_row_*_ref) writes them.
using QuantizeFn = void (*)(const float* src, void* dst, size_t k);
// Weighted encoder of one whole row of k elements: ggml's quantize_<fmt>(row, importance), the
// function llama-quantize calls. importance: k non-negative weights per column (llama.cpp's
// importance matrix entry for the row's input columns) or nullptr, which gives llama-quantize's
// bytes without an imatrix (equal to `quantize` except for IQ4_NL, whose ggml _ref skips the
// scale search that llama-quantize runs).
using QuantizeWeightedFn = void (*)(const float* src, void* dst, size_t k, const float* importance);

struct Traits {
    Format type;
    const char* name;          // ggml's name: "Q6_K", "BF16", ...
    const char* suffix;        // lower case, as in shader variant names: "q6_k"
    uint32_t block_elems;      // elements per block (1 for scalar types)
    uint32_t block_bytes;      // bytes per block
    uint32_t kernels;          // 0, or kKernelFloat [| kKernelInt or kKernelMmq]
    DequantizeFn dequantize;   // nullptr where vkrt has no decoder
    QuantizeFn quantize;       // nullptr where vkrt cannot write the format
    QuantizeWeightedFn quantize_weighted;  // nullptr where vkrt cannot write the format
    // A further search of the scales under the same weights, vkrt's own (its bytes are not
    // ggml's): where a format has one, the importance search (quant/scale_search.hpp) and
    // --gptq (quant/gptq.hpp) try it beside quantize_weighted. nullptr for most formats.
    QuantizeWeightedFn quantize_refined;
};

// The entry for a ggml type id; nullptr for an id formats.def does not list (retired or unknown).
const Traits* find(uint32_t id);
// The entry for f; throws Status::unsupported naming the id if formats.def does not list it.
const Traits& traits(Format f);
// ggml's name of any id ("Q6_K"); "unknown" for ids formats.def does not list.
const char* name(uint32_t id);
inline const char* name(Format f) { return name(uint32_t(f)); }
// Every entry, ids ascending.
std::span<const Traits> all();

// Bytes of k elements of f: k / block_elems * block_bytes. Throws Status::invalid_argument
// when k is not a multiple of the block, Status::unsupported for an unknown id,
// Status::limit_exceeded on overflow.
uint64_t row_bytes(Format f, uint64_t k);

// One row through the registry, with the checks the raw function pointers skip:
// k % block_elems == 0 (invalid_argument) and a decoder / encoder existing (unsupported).
void dequantize_row(Format f, const void* src, float* dst, size_t k);
void quantize_row(Format f, const float* src, void* dst, size_t k);
// One whole row through the weighted encoder (importance: k weights or nullptr); same checks.
void quantize_row_weighted(Format f, const float* src, void* dst, size_t k, const float* importance);

}  // namespace fmt
}  // namespace vkrt
