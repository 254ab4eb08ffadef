// Plain C++ reference of every vkrt kernel: the spec the GPU kernels are tested
// against. Simple loops, no tricks; where a kernel must match bit-exactly (int8
// quantization, int8 GEMM) the float operations and their order are spelled out
// and followed literally. Elsewhere sums are accumulated in double so the result
// is the "true" value and GPU tests use an error bound.
//
// Conventions:
//   * host arrays, row-major and contiguous; shapes in comments, llama2.c style.
//   * matrices: Y (M,N) = X (M,K) . W (N,K)^T; a weight is N rows of K (GGUF layout,
//     dims[0] = K contiguous).
//   * weight / table types are Formats (core/format.hpp, ggml's type ids); their rows
//     are decoded with the registry's reference decoders (fmt::traits(f).dequantize).
//   * every function checks its shapes (span sizes against the dims) and throws
//     vkrt::Error(Status::invalid_argument) on mismatch; dims may be 0 (empty result).
//
// Block formats: see core/format.hpp (the registry's decoders are the spec, bit-exact
// with ggml's dequantize_row_*).
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/format.hpp"

namespace vkrt::ref {

// ---- formats ----------------------------------------------------------------------

// A matrix: w (rows, k) of `type`, rows * fmt::row_bytes(type, k) bytes -> (rows, k) floats,
// each row with fmt::dequantize_row (any format with a decoder; k % block_elems == 0).
std::vector<float> dequantize(Format type, std::span<const uint8_t> w, size_t rows, size_t k);

// ---- int8 quantization (W8A8 / SmoothQuant path) ----------------------------------

// Rounding used by every int8 quantizer here: round half away from zero (std::round).
//   quantize_value_i8(v, s) = (int8) clamp(std::round(v / s), -127, 127)
// with v / s a float division. Callers guarantee s > 0.
int8_t quantize_value_i8(float v, float s);

// One row v (K) -> q (K), returns the scale s:
//   amax = max_k |v[k]| (float), s = amax / 127.0f (float division),
//   q[k] = quantize_value_i8(v[k], s).
//   An all-zero row (amax == 0) returns s = 0 and q = 0 (dequantizes to 0 either way).
// Matches shaders/quantize.comp.
float quantize_row_i8(const float* v, size_t K, int8_t* q);

struct QuantizedRows {
    std::vector<int8_t> q;  // (M,K)
    std::vector<float> s;   // (M) per-row scale: x[m,k] ~= q[m,k] * s[m]
    std::vector<float> y;   // (M,K) the float values that were quantized (rmsnorm variant only; debugging)
};

// x (M,K) float -> q (M,K) int8, s (M) float; each row with quantize_row_i8.
QuantizedRows quantize_rows_i8(std::span<const float> x, size_t M, size_t K);

// Fused RMSNorm + SmoothQuant smoothing + quantization:
//   x (M,K), w (K), smooth (K) or empty -> q (M,K), s (M), y (M,K)
//   sum = sum_k x[m,k]^2 accumulated in double, then in float:
//   inv_rms = 1.0f / std::sqrt(float(sum) / float(K) + eps)
//   y[m,k] = ((x[m,k] * inv_rms) * w[k]) / smooth[k]   (no division when smooth is empty)
//   then each row of y quantized with quantize_row_i8. Matches shaders/quantize.comp
//   up to the float summation order of `sum` on the GPU.
QuantizedRows rmsnorm_quantize_rows_i8(std::span<const float> x, std::span<const float> w,
                                       std::span<const float> smooth, size_t M, size_t K, float eps);

// Xq (M,K) int8 . Wq (N,K)^T int8 -> acc (M,N) int32, exact (K <= 133144 so int32 cannot overflow).
std::vector<int32_t> gemm_i8_i32(std::span<const int8_t> xq, std::span<const int8_t> wq, size_t M, size_t N,
                                 size_t K);

// Xq (M,K), sx (M), Wq (N,K), sw (N), bias (N) or empty -> Y (M,N) float:
//   Y[m,n] = (float(acc[m,n]) * sx[m]) * sw[n]  (+ bias[n]),   float operations in that order.
std::vector<float> gemm_i8(std::span<const int8_t> xq, std::span<const float> sx, std::span<const int8_t> wq,
                           std::span<const float> sw, std::span<const float> bias, size_t M, size_t N, size_t K);

// ---- W8A8 activation variants: smoothing, static scale, asymmetric ----------------

// SmoothQuant smoothing of a plain (un-normed) input:
//   x (M,K), smooth (K) -> y (M,K) = x[m,k] / smooth[k]   (float division; a copy when smooth is empty).
std::vector<float> smooth_rows(std::span<const float> x, std::span<const float> smooth, size_t M, size_t K);

// Static (per-tensor, calibrated) symmetric scale s: one row v (K) -> q (K), returns s:
//   s > 0:     q[k] = quantize_value_i8(v[k], s)   (clamps to [-127, 127]: the scale is fixed)
//   otherwise (0, negative, NaN): q = 0.
// Matches shaders/quantize.comp with a static scale.
float quantize_row_i8_static(const float* v, size_t K, float s, int8_t* q);
// y (M,K) -> q (M,K), s (M) with s[m] = the static scale for every row (so the GEMM
// epilogue is the dynamic one).
QuantizedRows quantize_rows_i8_static(std::span<const float> y, float s, size_t M, size_t K);

// Asymmetric per-token quantization (uint8 with a zero point), stored shifted to int8
// so the signed int8 GEMM applies. One row v (K):
//   lo = min(min_k v[k], 0), hi = max(max_k v[k], 0)      (exact)
//   s  = (hi - lo) / 255.0f                               (float subtraction, then float division)
//   s == 0: q = 0, zp = 0 (unsigned), i.e. q' = -128 for every k, zp' = -128
//   else:   zp = clamp(round(-lo / s), 0, 255)              (round half away from zero, float division)
//           q[k] = clamp(round(v[k] / s) + zp, 0, 255)
//   stored: q'[k] = q[k] - 128 (int8), zp' = zp - 128 (int32);  v[k] ~= s * (q'[k] - zp').
// Returns s.
float quantize_row_asym_i8(const float* v, size_t K, int8_t* q, int32_t* zp);
struct AsymQuantizedRows {
    std::vector<int8_t> q;    // (M,K) q' = q - 128
    std::vector<float> s;     // (M)
    std::vector<int32_t> zp;  // (M) zp' = zp - 128, in [-128, 127]
};
// y (M,K) -> q' (M,K), s (M), zp' (M); each row with quantize_row_asym_i8.
AsymQuantizedRows quantize_rows_asym_i8(std::span<const float> y, size_t M, size_t K);

// Wq (N,K) int8 -> wsum (N) int32 = sum_k Wq[n,k] (exact).
std::vector<int32_t> row_sums_i8(std::span<const int8_t> wq, size_t N, size_t K);

// Asymmetric-activation accumulators, exact int32:
//   Xq' (M,K) int8, zp' (M) int32, Wq (N,K) int8 ->
//   acc[m,n] = sum_k Xq'[m,k] * Wq[n,k] - zp'[m] * wsum[n] = sum_k (q[m,k] - zp[m]) * Wq[n,k]
//   |acc| <= 255 * 127 * K: K <= 66311 so that it fits in int32.
std::vector<int32_t> gemm_i8_i32_asym(std::span<const int8_t> xq, std::span<const int32_t> zp,
                                      std::span<const int8_t> wq, size_t M, size_t N, size_t K);
// ... -> Y (M,N) float = (float(acc[m,n]) * sx[m]) * sw[n]  (+ bias[n]), float operations in that
// order, acc from gemm_i8_i32_asym (the epilogue of gemm_i8 applied to the corrected accumulator).
std::vector<float> gemm_i8_asym(std::span<const int8_t> xq, std::span<const float> sx, std::span<const int32_t> zp,
                                std::span<const int8_t> wq, std::span<const float> sw, std::span<const float> bias,
                                size_t M, size_t N, size_t K);

// ---- float matmul -------------------------------------------------------------------

// X (M,K) float, W (N,K) float -> Y (M,N) = X . W^T, accumulated in double, rounded to float.
std::vector<float> matmul_f32(std::span<const float> x, std::span<const float> w, size_t M, size_t N, size_t K);
// X (M,K) float, W (N,K) of `type` (raw bytes of any decodable format, N * fmt::row_bytes(type, K))
//   -> Y (M,N): W dequantized exactly to float, then as above.
std::vector<float> matmul_f32(std::span<const float> x, std::span<const uint8_t> w, Format type, size_t M,
                              size_t N, size_t K);

// ---- integer-dot matmul against block weights (Q8_1-style activations, no sum) -------
//
// Activations are quantized per block of 32 consecutive values of a row (K % 32 == 0):
//   block b of row m: (xq[m, 32b .. 32b+31], d[m,b]) = quantize_row_i8(x[m, 32b..], 32)
//   i.e. d = amax / 127.0f, q = clamp(round_half_away(x / d), -127, 127); all-zero block: d = 0, q = 0.
// The product with a Q4_0 / Q8_0 weight W (N,K):
//   acc[m,n,b] = sum_{j<32} int32(xq[m,32b+j]) * int32(wq[n,b,j])   exact int32, where
//                wq = q - 8 (Q4_0 nibble, in [-8,7]) or qs[j] (Q8_0)
//   term[m,n,b] = (float(acc) * d[m,b]) * dw[n,b]   (float ops in that order; dw = fp16 scale as float)
//   Y[m,n] = float(sum_b term[m,n,b])   summed in double here (a GPU kernel sums in float,
//            so it matches within ~(K/32) ulp of the sum of |term|).
struct BlockQuantized {
    std::vector<int8_t> q;  // (M,K)
    std::vector<float> d;   // (M, K/32)
};
// x (M,K) -> q (M,K), d (M, K/32) as above.
BlockQuantized quantize_blocks_i8(std::span<const float> x, size_t M, size_t K);
// xq (M,K) + d (M,K/32), W (N,K) Q4_0 or Q8_0 bytes -> Y (M,N).
std::vector<float> matmul_q_i8(const BlockQuantized& xq, std::span<const uint8_t> w, Format type, size_t M,
                               size_t N, size_t K);
// x (M,K) float -> quantize_blocks_i8 -> the above.
std::vector<float> matmul_q_i8(std::span<const float> x, std::span<const uint8_t> w, Format type, size_t M,
                               size_t N, size_t K);

// ---- row kernels / element-wise ------------------------------------------------------

// x (M,K), w (K) -> y (M,K) = float(x * (1/sqrt(mean_k(x^2) + eps)) * w), all in double.
std::vector<float> rmsnorm(std::span<const float> x, std::span<const float> w, size_t M, size_t K, float eps);

// llama.cpp's mode values. NORM (llama / GGUF arch "llama"): rotates adjacent pairs
// (x[2i], x[2i+1]); NEOX: rotates halves (x[i], x[i + n_rot/2]); i in [0, n_rot/2).
enum class RopeMode : uint32_t { norm = 0, neox = 2 };

// x (M, n_head, head_dim), pos (M) int32 -> (M, n_head, head_dim):
//   theta_i = pos[m] * base^(-2i/n_rot)   (double)
//   (a, b) = the pair i:  a' = a cos(theta_i) - b sin(theta_i),  b' = a sin(theta_i) + b cos(theta_i)
//   dims >= n_rot are copied unchanged. n_rot even, <= head_dim; n_rot = 0 means head_dim.
std::vector<float> rope(std::span<const float> x, std::span<const int32_t> pos, size_t M, size_t n_head,
                        size_t head_dim, size_t n_rot, float base, RopeMode mode);
// The same with llama.cpp's ggml_rope_ext extras (no YaRN ramp):
//   theta_i = freq_scale * pos[m] * base^(-2i/n_rot) / factors[i]   (factors: n_rot/2 or empty = 1)
//   cos and sin multiplied by attn_factor (rotated dims only).
struct RopeExtra {
    std::span<const float> factors;
    float freq_scale = 1.0f;
    float attn_factor = 1.0f;
};
std::vector<float> rope(std::span<const float> x, std::span<const int32_t> pos, size_t M, size_t n_head,
                        size_t head_dim, size_t n_rot, float base, RopeMode mode, const RopeExtra& extra);

// x (M,N) -> y (M,N): y = exp(x - max_row) / sum_row exp(x - max_row), in double.
std::vector<float> softmax_rows(std::span<const float> x, size_t M, size_t N);

// gate (n), up (n) -> silu(gate) * up, silu(g) = g / (1 + exp(-g)), in double. n = M*F.
std::vector<float> swiglu(std::span<const float> gate, std::span<const float> up);

// gate (n), up (n) -> gelu(gate) * up with GELU's tanh approximation (ggml_gelu, GEGLU):
//   gelu(g) = 0.5 g (1 + tanh(sqrt(2/pi) g (1 + 0.044715 g^2))), in double.
std::vector<float> geglu(std::span<const float> gate, std::span<const float> up);

// x (n) * s -> (n), float multiplication.
std::vector<float> scale(std::span<const float> x, float s);

// x (M,N) + b (N) broadcast over rows -> (M,N), float addition.
std::vector<float> add_bias(std::span<const float> x, std::span<const float> b, size_t M);

// a (n) + b (n) -> (n), float addition.
std::vector<float> add(std::span<const float> a, std::span<const float> b);

// table (n_vocab, n_embd) of `type` (bytes of any decodable format), ids (M) int32 -> (M, n_embd):
//   row m = dequantized table row ids[m]. An id outside [0, n_vocab) -> invalid_argument.
std::vector<float> embedding(std::span<const uint8_t> table, Format type, size_t n_vocab, size_t n_embd,
                             std::span<const int32_t> ids);

// ---- KV cache and attention ------------------------------------------------------------

// KV cache element types (ggml ids, as ops::KvType): Format::F32, F16 or Q8_0.
// A cache row of `width` elements is stored as (shaders/kv_cache.glsl):
//   F32:  the floats;
//   F16:  each value rounded to binary16, nearest even (width even);
//   Q8_0: ggml's quantize_row_q8_0_ref per block of 32 (width % 32 == 0):
//         amax = max |x| (float), d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0,
//         q[j] = roundf(clamp(x[j] * id, -127, 127)) (half away from zero), stored fp16(d).
//         The GPU divides with up to 2.5 ulp of error (SPIR-V precision), so its d may
//         differ by an fp16 ulp where float d lies at an fp16 rounding tie, and a q by one
//         where x[j] * id lies within a few ulp of a .5 tie.
// Attention reads the cache back as the float values it holds (f16 exactly, q8_0 as
// fp16(d) * q, exact in float).

// One row src (width) -> its bytes in a cache of `type` (width * 4, width * 2 or width/32 * 34).
std::vector<uint8_t> encode_kv_row(uint32_t type, std::span<const float> src);
// One row src (width) -> the float values a cache of `type` holds for it
// (dequantize_row(type, encode_kv_row(type, src))).
std::vector<float> round_kv_row(uint32_t type, std::span<const float> src);

// src (M, width), pos (M) int32 -> cache (n_ctx, width) of floats, the values a cache of
// `type` holds: cache[pos[m], :] = round_kv_row(type, src[m, :]).
// pos outside [0, n_ctx) -> invalid_argument (nothing written); a type other than
// F32/F16/Q8_0, or a width the type cannot hold -> invalid_argument.
void kv_store(std::span<const float> src, std::span<const int32_t> pos, std::span<float> cache, size_t M,
              size_t width, size_t n_ctx, uint32_t type = uint32_t(Format::F32));

// q (M, n_head, hd), k_cache (n_ctx, n_head_kv, hd), v_cache (n_ctx, n_head_kv, hd), pos (M) int32
//   -> out (M, n_head, hd):
//   kvh = h / (n_head / n_head_kv)                    (grouped-query; n_head_kv divides n_head)
//   s_j = scale * q[m,h] . k_cache[j,kvh],  j = 0 .. pos[m] inclusive (causal)
//   p_j = exp(s_j - max s) / sum exp(s - max s)
//   out[m,h] = sum_j p_j v_cache[j,kvh]
//   everything in double; scale = 0 means 1/sqrt(hd). pos outside [0, n_ctx) -> invalid_argument.
//   window > 0 (sliding-window layers): only rows pos[m] - window < j <= pos[m].
std::vector<float> attention(std::span<const float> q, std::span<const float> k_cache,
                             std::span<const float> v_cache, std::span<const int32_t> pos, size_t M,
                             size_t n_head, size_t n_head_kv, size_t hd, size_t n_ctx, float scale = 0.f,
                             size_t window = 0);

}  // namespace vkrt::ref
