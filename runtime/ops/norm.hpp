// Row kernels (one workgroup per row): RMS norm (shaders/rmsnorm.comp), softmax
// (shaders/softmax.comp), argmax (shaders/argmax.comp). Each has a subgroup variant
// (used when caps.subgroup) and a shared-memory variant (used otherwise).
#pragma once
#include <cstdint>

#include "vk/buffer.hpp"
#include "vk/recorder.hpp"

namespace vkrt::ops {

// x (M,K), w (K) -> y (M,K) = x * (1/sqrt(mean(x^2) + eps)) * w, per row. y may be x.
void rmsnorm(Recorder& rec, const BufferView& x, const BufferView& w, const BufferView& y, uint32_t M, uint32_t K,
             float eps);

// Where the rows of a strided RMSNorm are: row r at float (r / group) * stride + (r % group) * K
// of x and of y. The per-head norm of the q (or k) slice of a fused QKV output (M, N):
// group = heads, stride = N, x = y = the view at the slice.
struct NormRows {
    uint32_t group = 1, stride = 0;  // stride 0: K (a plain matrix)
};
void rmsnorm(Recorder& rec, const BufferView& x, const BufferView& w, const BufferView& y, uint32_t M, uint32_t K,
             float eps, NormRows rows);

// x (M,K), w (K) -> y (M,K) += rmsnorm(x) * w (rmsnorm.comp with ADD = 1): a post norm and
// the residual add after it in one pass (Gemma 3's attn_post_norm / ffn_post_norm). y must
// not alias x.
void rmsnorm_add(Recorder& rec, const BufferView& x, const BufferView& w, const BufferView& y, uint32_t M, uint32_t K,
                 float eps);

// RMSNorm fused with the q8_1 quantization of its output (shaders/rmsnorm_q8_1.comp):
//   x (M,K), w (K), K % 32 == 0 -> xq (the q8_1 buffer of ops/matmul.hpp, Q8Activations with
//   M, K), and y (M,K) = the normalized rows, bit for bit ops::rmsnorm's, when y is bound
//   (for float-path matrices reading the same input); xq = ops::quantize_q8_1 of those rows.
void rmsnorm_q8_1(Recorder& rec, const BufferView& x, const BufferView& w, float eps, const BufferView& xq,
                  uint32_t M, uint32_t K, const BufferView& y = {});

// A post norm, its residual add and the next norm in one pass (shaders/rmsnorm_add_norm.comp):
//   p (M,K), x (M,K), w_post, w_next (K):
//   x += rmsnorm(p) * w_post (eps_post), bit for bit rmsnorm_add's;
//   y  = rmsnorm(new x) * w_next (eps_next) when y is bound, bit for bit rmsnorm's;
//   xq = its q8_1 blocks when xq is bound (K % 32 == 0), as rmsnorm_q8_1 writes them.
// At least one of y, xq; none of the outputs may alias p or x (or each other).
void rmsnorm_add_norm(Recorder& rec, const BufferView& p, const BufferView& w_post, float eps_post, const BufferView& x,
                      const BufferView& w_next, float eps_next, uint32_t M, uint32_t K, const BufferView& y,
                      const BufferView& xq);

// x (M,N) -> y (M,N) = softmax over each row (max-subtracted). y may be x.
void softmax(Recorder& rec, const BufferView& x, const BufferView& y, uint32_t M, uint32_t N);

// logits (M,N) -> idx (M) int32 = argmax of each row, lowest index on ties.
void argmax(Recorder& rec, const BufferView& logits, const BufferView& idx, uint32_t M, uint32_t N);

}  // namespace vkrt::ops
