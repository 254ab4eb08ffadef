// Per-token int8 quantization of activations for the W8A8 (SmoothQuant) path
// (shaders/quantize.comp). One workgroup per row; the absmax / min-max /
// sum-of-squares reductions use subgroups when caps.subgroup, a shared-memory
// tree otherwise.
//
// Packed int8 layout (shared with ops::gemm_int8): a (rows, K) int8 matrix is
// stored as rows * Kw uint32 words, Kw = packed_row_words(K) = ceil(K/4); element
// k of row r is byte (k & 3), little-endian, of word [r*Kw + k/4], two's
// complement. Bytes past K in a row's last word are 0.
//
// The values quantized, per row m (K) (y below):
//   plain:  y[m,k] = x[m,k] / smooth[k]                                 (no division without smooth)
//   fused:  y[m,k] = ((x[m,k] * inv_rms) * w[k]) / smooth[k],  inv_rms = 1 / sqrt(mean_k(x[m,:]^2) + eps)
//
// Symmetric int8 (quantize_rows_i8, rmsnorm_quantize_rows_i8), per row of y:
//   dynamic (static_scale unbound; exactly vkrt::ref::quantize_rows_i8):
//     amax = max_k |y[k]|, s = amax / 127, q[k] = clamp(round(y[k] / s), -127, 127)
//     (round half away from zero); an all-zero row gets s = 0, q = 0.
//   static (static_scale bound: a 1-float buffer, the file's `act_scale`;
//     exactly vkrt::ref::quantize_rows_i8_static):
//     s = static_scale[0], q[k] = clamp(round(y[k] / s), -127, 127); s <= 0 or NaN gives q = 0.
//   sx[m] = s in both, so the GEMM epilogue y = sx[m] * sw[n] * acc is the same. x ~= q * s.
//
// Asymmetric uint8 + zero point (quantize_rows_asym_i8, rmsnorm_quantize_rows_asym_i8;
// exactly vkrt::ref::quantize_rows_asym_i8), per row of y:
//   lo = min(min_k y, 0), hi = max(max_k y, 0), s = (hi - lo) / 255,
//   zp = clamp(round(-lo / s), 0, 255), q[k] = clamp(round(y[k] / s) + zp, 0, 255);
//   s == 0 -> q = 0, zp = 0. Stored for the signed int8 GEMM as
//   Xq: q' = q - 128 (int8, packed as above; padding bytes 0), xzp[m] = zp' = zp - 128 (int32),
//   sx[m] = s; then y ~= s * (q' - zp'). Multiply with gemm_int8(..., xzp, wsum).
//
// The GPU division may differ from the host's by an ulp (and, fused, the sum of
// squares is reduced in another order), so q (and zp) can differ by 1 where the
// quotient lands within rounding error of a .5 boundary.
//
// Unused optional operands: the host binds another operand of the call in their
// place (x or w for smooth / static_scale, sx for xzp); the shader never touches
// them (push-constant flags say which are used), so no dummy buffer is needed.
#pragma once
#include <cstdint>

#include "vk/buffer.hpp"
#include "vk/recorder.hpp"

namespace vkrt::ops {

// uint32 words per packed int8 row of K elements: ceil(K/4).
inline uint32_t packed_row_words(uint32_t K) { return (K + 3) / 4; }

// X (M,K) float [/ smooth (K)] -> Xq (M, ceil(K/4)) packed int8 words, sx (M) float scales.
//   smooth: (K) float or unbound BufferView{} (no smoothing).
//   static_scale: (1) float or unbound (dynamic per-token absmax scale).
void quantize_rows_i8(Recorder& rec, const BufferView& x, const BufferView& xq, const BufferView& sx, uint32_t M,
                      uint32_t K, const BufferView& smooth = {}, const BufferView& static_scale = {});

// Fused RMSNorm + SmoothQuant smoothing + quantization, per row
// (exactly vkrt::ref::rmsnorm_quantize_rows_i8; with static_scale: ref::quantize_rows_i8_static
// of that function's y):
//   X (M,K) float, w (K) float, smooth (K) float or unbound
//   y[m,k] = ((x[m,k] * inv_rms) * w[k]) / smooth[k],  inv_rms = 1 / sqrt(mean_k(x[m,:]^2) + eps)
//   (no division when `smooth` is an unbound BufferView{}), then y -> Xq (M, ceil(K/4)) words, sx (M)
//   as quantize_rows_i8 (static_scale: (1) float or unbound).
void rmsnorm_quantize_rows_i8(Recorder& rec, const BufferView& x, const BufferView& w, const BufferView& smooth,
                              const BufferView& xq, const BufferView& sx, uint32_t M, uint32_t K, float eps,
                              const BufferView& static_scale = {});

// Asymmetric: X (M,K) float [/ smooth (K)] -> Xq (M, ceil(K/4)) words of q' = q - 128,
//   sx (M) float, xzp (M) int32 = zp - 128 (see above).
void quantize_rows_asym_i8(Recorder& rec, const BufferView& x, const BufferView& xq, const BufferView& sx,
                           const BufferView& xzp, uint32_t M, uint32_t K, const BufferView& smooth = {});

// Fused RMSNorm + smoothing + asymmetric quantization: y as rmsnorm_quantize_rows_i8, then
//   y -> Xq (M, ceil(K/4)) words of q', sx (M) float, xzp (M) int32 as quantize_rows_asym_i8.
void rmsnorm_quantize_rows_asym_i8(Recorder& rec, const BufferView& x, const BufferView& w,
                                   const BufferView& smooth, const BufferView& xq, const BufferView& sx,
                                   const BufferView& xzp, uint32_t M, uint32_t K, float eps);

}  // namespace vkrt::ops
