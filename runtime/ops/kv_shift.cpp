#include "ops/kv_shift.hpp"

#include <cmath>

#include "ops/dispatch.hpp"
#include "shared/kv_shift.h"

namespace vkrt::ops {

bool kv_shift_supported(KvType type, const RopeParams& p) {
    return (type == KvType::f32 || type == KvType::f16) && p.attn_factor == 1.0f;
}

void kv_shift(Recorder& rec, const BufferView& src, const BufferView& dst, uint32_t M, uint32_t src_row0,
              int32_t delta, const RopeParams& p, KvType type) {
    const uint32_t n_rot = p.n_rot ? p.n_rot : p.head_dim;
    VKRT_CHECK(kv_shift_supported(type, p), Status::invalid_argument, "kv_shift: a ", kv_type_name(type),
               " cache with attn_factor ", p.attn_factor, " cannot be re-rotated (f32/f16 and attn_factor 1 only)");
    VKRT_CHECK(M >= 1 && p.n_head >= 1 && p.head_dim >= 2 && p.head_dim % 2 == 0 && n_rot % 2 == 0 &&
                   n_rot <= p.head_dim,
               Status::invalid_argument, "kv_shift: bad shape M=", M, " n_head=", p.n_head, " head_dim=", p.head_dim,
               " n_rot=", n_rot);
    VKRT_CHECK(std::isfinite(p.freq_base) && p.freq_base > 0.f && std::isfinite(p.freq_scale) && p.freq_scale > 0.f,
               Status::invalid_argument, "kv_shift: freq_base (", p.freq_base, ") and freq_scale (", p.freq_scale,
               ") must be > 0");
    const uint32_t width = p.n_head * p.head_dim;
    const uint64_t rb = kv_row_bytes(type, width, "kv_shift");
    VKRT_CHECK((uint64_t(src_row0) + M) * width <= 0xffffffffull, Status::limit_exceeded,
               "kv_shift: the cache exceeds 2^32 elements");
    require_bytes(src, (uint64_t(src_row0) + M) * rb, "kv_shift", "src");
    require_bytes(dst, uint64_t(M) * rb, "kv_shift", "dst");
    if (p.factors.buffer) require_bytes(p.factors, uint64_t(n_rot / 2) * 4, "kv_shift", "factors");
    const shader::KvShiftPush pc{M,     p.n_head, p.head_dim, n_rot, src_row0, delta, p.mode == RopeMode::neox ? 1u : 0u,
                                 p.factors.buffer ? 1u : 0u, p.freq_base, p.freq_scale};
    constexpr uint32_t kLocal = 256;
    const uint64_t n = type == KvType::f32 ? uint64_t(M) * width : uint64_t(M) * width / 2;
    // Without factors binding 2 is bound to src, never read (has_factors = 0).
    const BufferView factors = p.factors.buffer ? p.factors : src;
    const spv::Variant v = type == KvType::f32 ? spv::Variant::kv_shift_f32 : spv::Variant::kv_shift_f16;
    rec.dispatch(rec.device().pipeline(v, {kLocal}),
                 {src, dst, factors}, pc, groups_1d(rec.device(), n, kLocal));
}

}  // namespace vkrt::ops
