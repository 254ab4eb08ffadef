// Element-wise kernels: residual add (shaders/add.comp).
#pragma once
#include <cstdint>

#include "vk/buffer.hpp"
#include "vk/recorder.hpp"

namespace vkrt::ops {

// a (n) + b (n) -> out (n); out may be a.
void add(Recorder& rec, const BufferView& a, const BufferView& b, const BufferView& out, uint32_t n);

}  // namespace vkrt::ops
