// Element-wise kernels: residual add (shaders/add.comp), SwiGLU (shaders/swiglu.comp).
#pragma once
#include <cstdint>

#include "vk/buffer.hpp"
#include "vk/recorder.hpp"

namespace vkrt::ops {

// a (n) + b (n) -> out (n); out may be a.
void add(Recorder& rec, const BufferView& a, const BufferView& b, const BufferView& out, uint32_t n);

// gate (M,F), up (M,F) -> out (M,F) = silu(gate) * up, silu(g) = g / (1 + exp(-g));
// n = M*F elements (any F). out may be gate or up.
void swiglu(Recorder& rec, const BufferView& gate, const BufferView& up, const BufferView& out, uint32_t n);

}  // namespace vkrt::ops
