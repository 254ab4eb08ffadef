#include "ops/rope.hpp"

#include <cmath>

#include "ops/dispatch.hpp"

namespace vkrt::ops {

namespace {
struct RopePush {
    uint32_t M, n_head, head_dim, n_rot;
    float freq_base;
    uint32_t neox, x_stride, out_stride, out_by_pos, rows;
    float freq_scale, attn_factor;
};

RopePush make_push(const char* kernel, uint32_t M, const RopeParams& p, uint32_t x_stride, uint32_t out_stride) {
    const uint32_t n_rot = p.n_rot ? p.n_rot : p.head_dim;
    VKRT_CHECK(M >= 1 && p.n_head >= 1 && p.head_dim >= 2, Status::invalid_argument, kernel, ": empty shape M=", M,
               " n_head=", p.n_head, " head_dim=", p.head_dim);
    VKRT_CHECK(p.head_dim % 2 == 0, Status::invalid_argument, kernel, ": head_dim must be even, got ", p.head_dim);
    VKRT_CHECK(n_rot % 2 == 0 && n_rot <= p.head_dim, Status::invalid_argument, kernel,
               ": n_rot must be even and <= head_dim (", p.head_dim, "), got ", n_rot);
    VKRT_CHECK(std::isfinite(p.freq_base) && p.freq_base > 0.f, Status::invalid_argument, kernel,
               ": freq_base must be > 0, got ", p.freq_base);
    VKRT_CHECK(p.mode == RopeMode::norm || p.mode == RopeMode::neox, Status::invalid_argument, kernel,
               ": unknown rope mode ", uint32_t(p.mode));
    const uint32_t width = p.n_head * p.head_dim;
    if (!x_stride) x_stride = width;
    if (!out_stride) out_stride = width;
    VKRT_CHECK(x_stride >= width && out_stride >= width, Status::invalid_argument, kernel, ": row strides (",
               x_stride, ", ", out_stride, ") must be >= n_head*head_dim = ", width);
    VKRT_CHECK(std::isfinite(p.freq_scale) && p.freq_scale > 0.f && std::isfinite(p.attn_factor) && p.attn_factor > 0.f,
               Status::invalid_argument, kernel, ": freq_scale (", p.freq_scale, ") and attn_factor (", p.attn_factor,
               ") must be > 0");
    if (p.factors.buffer) require_bytes(p.factors, uint64_t(n_rot / 2) * 4, kernel, "factors");
    return {M,          p.n_head, p.head_dim, n_rot, p.freq_base, p.mode == RopeMode::neox ? 1u : 0u,
            x_stride,   out_stride, 0,        0,     p.freq_scale, p.attn_factor};
}

constexpr uint32_t kLocal = 256;

// f32 output: an invocation per rotated pair; f16 / q8_0 caches: per word / block of a row.
// With factors (rope_freqs / rope_factors_*): the _factors variants, binding 3.
void record(Recorder& rec, const BufferView& x, const BufferView& pos, const BufferView& out, const RopePush& pc,
            KvType type, const BufferView& factors) {
    const uint64_t n = type == KvType::f32 ? uint64_t(pc.M) * pc.n_head * (pc.head_dim / 2)
                                           : uint64_t(pc.M) * pc.n_head * pc.head_dim / kv_store_unit(type);
    VKRT_CHECK(n <= 0xffffffffull, Status::limit_exceeded, "rope: ", n, " invocations exceed 2^32");
    std::string variant = factors.buffer ? "rope_factors" : "rope";
    if (type != KvType::f32) variant.append("_store").append(kv_variant_suffix(type));
    const uint32_t L = fit_local(rec.device().caps(), kLocal);
    const Groups g = groups_1d(rec.device(), n, L);
    if (factors.buffer)
        rec.dispatch(rec.device().pipeline(variant, {L}), {x, pos, out, factors}, pc, g);
    else
        rec.dispatch(rec.device().pipeline(variant, {L}), {x, pos, out}, pc, g);
}
}  // namespace

void rope(Recorder& rec, const BufferView& x, const BufferView& pos, const BufferView& out, uint32_t M,
          const RopeParams& p, uint32_t x_stride, uint32_t out_stride) {
    RopePush pc = make_push("rope", M, p, x_stride, out_stride);
    const uint64_t width = uint64_t(p.n_head) * p.head_dim;
    require_bytes(x, (uint64_t(M - 1) * pc.x_stride + width) * 4, "rope", "x");
    require_bytes(pos, uint64_t(M) * 4, "rope", "pos");
    require_bytes(out, (uint64_t(M - 1) * pc.out_stride + width) * 4, "rope", "out");
    record(rec, x, pos, out, pc, KvType::f32, p.factors);
}

void rope_store(Recorder& rec, const BufferView& x, const BufferView& pos, const BufferView& cache, uint32_t M,
                const RopeParams& p, uint32_t rows, uint32_t x_stride, KvType type) {
    RopePush pc = make_push("rope_store", M, p, x_stride, 0);
    VKRT_CHECK(rows >= 1, Status::invalid_argument, "rope_store: the cache needs rows >= 1");
    const uint64_t width = uint64_t(p.n_head) * p.head_dim;
    const uint64_t cache_bytes = kv_cache_bytes(type, uint32_t(width), rows, "rope_store");
    VKRT_CHECK(cache_bytes <= 0xffffffffull && uint64_t(rows) * width <= 0xffffffffull, Status::limit_exceeded,
               "rope_store: the cache exceeds 2^32 elements");
    require_bytes(x, (uint64_t(M - 1) * pc.x_stride + width) * 4, "rope_store", "x");
    require_bytes(pos, uint64_t(M) * 4, "rope_store", "pos");
    require_bytes(cache, cache_bytes, "rope_store", "cache");
    pc.out_by_pos = 1;
    pc.rows = rows;
    record(rec, x, pos, cache, pc, type, p.factors);
}

void check_positions(std::span<const int32_t> pos, uint32_t n_ctx) {
    for (size_t i = 0; i < pos.size(); ++i)
        VKRT_CHECK(pos[i] >= 0 && uint32_t(pos[i]) < n_ctx, Status::limit_exceeded, "position ", pos[i], " (row ", i,
                   ") is outside the context of ", n_ctx, " tokens");
}

}  // namespace vkrt::ops
