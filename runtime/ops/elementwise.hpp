// Element-wise kernels: residual add, bias add and scale (shaders/add.comp), SwiGLU and
// GELU-tanh gating (shaders/swiglu.comp).
#pragma once
#include <cstdint>

#include "vk/buffer.hpp"
#include "vk/recorder.hpp"

namespace vkrt::ops {

// a (n) + b (n) -> out (n); out may be a.
void add(Recorder& rec, const BufferView& a, const BufferView& b, const BufferView& out, uint32_t n);

// x (M,N) + b (N) broadcast over rows -> out (M,N); out may be x.
void add_bias(Recorder& rec, const BufferView& x, const BufferView& b, const BufferView& out, uint32_t M, uint32_t N);

// x (n) * s -> out (n); out may be x.
void scale(Recorder& rec, const BufferView& x, float s, const BufferView& out, uint32_t n);

// gate (M,F), up (M,F) -> out (M,F) = silu(gate) * up, silu(g) = g / (1 + exp(-g));
// n = M*F elements (any F). out may be gate or up.
void swiglu(Recorder& rec, const BufferView& gate, const BufferView& up, const BufferView& out, uint32_t n);

// The same with GELU's tanh approximation (ggml_gelu) instead of SiLU (Gemma's GEGLU):
// out = 0.5 g (1 + tanh(sqrt(2/pi) g (1 + 0.044715 g^2))) * up.
void geglu(Recorder& rec, const BufferView& gate, const BufferView& up, const BufferView& out, uint32_t n);

// The gated activation of a layer (SiLU or GELU-tanh, arch::Act as uint32_t: 0 silu,
// 1 gelu_tanh) over strided inputs: gate and up (M,F) rows `stride` floats apart (the fused
// [gate | up] output of one matrix: up is the view at the up slice), out (M,F) contiguous.
// out must not alias gate or up when stride != F.
void glu(Recorder& rec, uint32_t act, const BufferView& gate, const BufferView& up, const BufferView& out, uint32_t M,
         uint32_t F, uint32_t stride);

}  // namespace vkrt::ops
