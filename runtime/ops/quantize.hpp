// Per-token int8 quantization of activations for the W8A8 (SmoothQuant) path
// (shaders/quantize.comp). One workgroup per row; the absmax / sum-of-squares
// reductions use subgroups when caps.subgroup, a shared-memory tree otherwise.
//
// Packed int8 layout (shared with ops::gemm_int8): a (rows, K) int8 matrix is
// stored as rows * Kw uint32 words, Kw = packed_row_words(K) = ceil(K/4); element
// k of row r is byte (k & 3), little-endian, of word [r*Kw + k/4], two's
// complement. Bytes past K in a row's last word are 0.
//
// Quantization of a row v (K) (exactly vkrt::ref::quantize_rows_i8):
//   amax = max_k |v[k]|, s = amax / 127, q[k] = clamp(round(v[k] / s), -127, 127)
//   (round half away from zero); an all-zero row gets s = 0, q = 0.
// The GPU division may differ from the host's by an ulp, so q can differ by 1
// where v/s lands within rounding error of a .5 boundary.
#pragma once
#include <cstdint>

#include "vk/buffer.hpp"
#include "vk/recorder.hpp"

namespace vkrt::ops {

// uint32 words per packed int8 row of K elements: ceil(K/4).
inline uint32_t packed_row_words(uint32_t K) { return (K + 3) / 4; }

// X (M,K) float -> Xq (M, ceil(K/4)) packed int8 words, sx (M) float scales.
void quantize_rows_i8(Recorder& rec, const BufferView& x, const BufferView& xq, const BufferView& sx, uint32_t M,
                      uint32_t K);

// Fused RMSNorm + SmoothQuant smoothing + quantization, per row
// (exactly vkrt::ref::rmsnorm_quantize_rows_i8):
//   X (M,K) float, w (K) float, smooth (K) float or unbound
//   y[m,k] = ((x[m,k] * inv_rms) * w[k]) / smooth[k],  inv_rms = 1 / sqrt(mean_k(x[m,:]^2) + eps)
//   (no division when `smooth` is an unbound BufferView{}), then y -> Xq (M, ceil(K/4)) words, sx (M)
//   as quantize_rows_i8.
void rmsnorm_quantize_rows_i8(Recorder& rec, const BufferView& x, const BufferView& w, const BufferView& smooth,
                              const BufferView& xq, const BufferView& sx, uint32_t M, uint32_t K, float eps);

}  // namespace vkrt::ops
