// Token embedding lookup (shaders/embed.comp) from a GGUF-layout table.
#pragma once
#include <cstdint>
#include <span>

#include "gguf/gguf.hpp"
#include "vk/buffer.hpp"
#include "vk/recorder.hpp"

namespace vkrt::ops {

// table (n_vocab rows of n_embd, type F32 / F16 / Q4_0 / Q8_0 in GGUF layout), ids (M) int32
//   -> out (M, n_embd) float = dequantized rows table[ids[m]].
// Block types need n_embd % 32 == 0. An id outside [0, n_vocab) yields a zero row
// (validate ids on the host with check_ids before upload).
void embed(Recorder& rec, const BufferView& table, gguf::TensorType type, const BufferView& ids,
           const BufferView& out, uint32_t M, uint32_t n_embd, uint32_t n_vocab);

// Host-side validation of token ids: every id in [0, n_vocab).
void check_ids(std::span<const int32_t> ids, uint32_t n_vocab);

}  // namespace vkrt::ops
