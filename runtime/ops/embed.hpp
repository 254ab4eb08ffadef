// Token embedding lookup (shaders/embed.comp) from a GGUF-layout table.
#pragma once
#include <cstdint>
#include <span>

#include "core/format.hpp"
#include "ops/weights.hpp"
#include "vk/buffer.hpp"
#include "vk/recorder.hpp"

namespace vkrt::ops {

// table (n_vocab = table.rows rows of n_embd = table.cols, any format with GPU kernels,
// GGUF layout, one or more parts), ids (M) int32
//   -> out (M, n_embd) float = dequantized rows table[ids[m]] (bit for bit ggml's
//      dequantize_row_*). Block formats need n_embd to be a whole number of blocks.
// An id outside [0, n_vocab) yields a zero row (validate ids on the host with check_ids
// before upload).
void embed(Recorder& rec, const WeightView& table, const BufferView& ids, const BufferView& out, uint32_t M);
// The same with the table in one view.
void embed(Recorder& rec, const BufferView& table, Format type, const BufferView& ids, const BufferView& out,
           uint32_t M, uint32_t n_embd, uint32_t n_vocab);

// Host-side validation of token ids: every id in [0, n_vocab).
void check_ids(std::span<const int32_t> ids, uint32_t n_vocab);

}  // namespace vkrt::ops
