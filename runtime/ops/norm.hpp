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

// x (M,N) -> y (M,N) = softmax over each row (max-subtracted). y may be x.
void softmax(Recorder& rec, const BufferView& x, const BufferView& y, uint32_t M, uint32_t N);

// logits (M,N) -> idx (M) int32 = argmax of each row, lowest index on ties.
void argmax(Recorder& rec, const BufferView& logits, const BufferView& idx, uint32_t M, uint32_t N);

}  // namespace vkrt::ops
