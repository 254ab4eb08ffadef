// The context shift's K re-rotation (shaders/kv_shift.comp): cached K rows are rope(k, p);
// moved to p + delta they are rotated once more by the angle of delta. CPU reference:
// ref::rope of the rows with every position = delta (RopeExtra's factors / freq_scale).
#pragma once
#include <cstdint>

#include "ops/kv_type.hpp"
#include "ops/rope.hpp"
#include "vk/buffer.hpp"
#include "vk/recorder.hpp"

namespace vkrt::ops {

// Whether kv_shift can move rows of this cache type under these rope parameters: f32 and
// f16 caches (a q8_0 block's rounding would compound), attn_factor 1 (it would be
// applied twice). Elsewhere the shift evaluates the kept tokens again.
bool kv_shift_supported(KvType type, const RopeParams& p);

// src (rows >= src_row0 + M, n_head * head_dim of `type`) -> dst (M rows of `type`):
//   dst row m = src row src_row0 + m with its first n_rot dims of every head rotated by
//   the angle of `delta` positions (p.n_head: the K heads). dst must not alias src.
void kv_shift(Recorder& rec, const BufferView& src, const BufferView& dst, uint32_t M, uint32_t src_row0,
              int32_t delta, const RopeParams& p, KvType type);

}  // namespace vkrt::ops
