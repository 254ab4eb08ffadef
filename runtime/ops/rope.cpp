#include "ops/rope.hpp"

#include <algorithm>
#include <cmath>

#include "ops/dispatch.hpp"
#include "shared/rope.h"

namespace vkrt::ops {

namespace {
using shader::RopePush;

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
    using V = spv::Variant;
    const bool f = factors.buffer != nullptr;
    const V variant = type == KvType::f16    ? (f ? V::rope_factors_store_f16 : V::rope_store_f16)
                      : type == KvType::q8_0 ? (f ? V::rope_factors_store_q8_0 : V::rope_store_q8_0)
                                             : (f ? V::rope_factors : V::rope);
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

namespace {
// The rope_qkv variant for the cache types (rope_qkv_supported).
spv::Variant qkv_variant(KvType k, KvType v) {
    using V = spv::Variant;
    switch (k) {
        case KvType::f16:
            return v == KvType::f16 ? V::rope_qkv_f16 : v == KvType::q8_0 ? V::rope_qkv_kf16_vq8_0 : V::rope_qkv_kf16_vf32;
        case KvType::q8_0:
            return v == KvType::f16 ? V::rope_qkv_kq8_0_vf16 : v == KvType::q8_0 ? V::rope_qkv_q8_0 : V::rope_qkv_kq8_0_vf32;
        default:
            return v == KvType::f16 ? V::rope_qkv_kf32_vf16 : v == KvType::q8_0 ? V::rope_qkv_kf32_vq8_0 : V::rope_qkv_f32;
    }
}
}  // namespace

bool rope_qkv_supported(KvType k_type, KvType v_type) {
    auto ok = [](KvType t) { return t == KvType::f32 || t == KvType::f16 || t == KvType::q8_0; };
    return ok(k_type) && ok(v_type);
}

void rope_qkv(Recorder& rec, const BufferView& qkv, const BufferView& pos, const BufferView& k_cache,
              const BufferView& v_cache, uint32_t M, const QkvStep& s) {
    const char* kernel = "rope_qkv";
    const RopeParams& r = s.rope;
    // The rotation's checks (shape, n_rot, bases, mode, factors) are rope's.
    const RopePush rp = make_push(kernel, M, r, 0, 0);
    const uint32_t hd = r.head_dim, Q = r.n_head * hd, KV = s.n_head_kv * hd;
    VKRT_CHECK(s.n_head_kv >= 1 && s.rows >= 1, Status::invalid_argument, kernel, ": n_head_kv (", s.n_head_kv,
               ") and rows (", s.rows, ") must be >= 1");
    VKRT_CHECK(rope_qkv_supported(s.k_type, s.v_type), Status::unsupported, kernel, ": caches of ",
               kv_type_name(s.k_type), " / ", kv_type_name(s.v_type), " rows (F32, F16 and q8_0 only)");
    VKRT_CHECK(s.q_stride >= Q && s.kv_stride >= KV, Status::invalid_argument, kernel, ": row strides (", s.q_stride,
               ", ", s.kv_stride, ") below the widths (", Q, ", ", KV, ")");
    VKRT_CHECK((s.q_norm.buffer != nullptr) == (s.k_norm.buffer != nullptr), Status::invalid_argument, kernel,
               ": q and k norms come together");
    // Flat float indices are 32-bit.
    const uint64_t end = std::max({uint64_t(s.q0) + uint64_t(M - 1) * s.q_stride + Q,
                                   uint64_t(s.k0) + uint64_t(M - 1) * s.kv_stride + KV,
                                   uint64_t(s.v0) + uint64_t(M - 1) * s.kv_stride + KV});
    VKRT_CHECK(end <= 0xffffffffull && uint64_t(s.rows) * KV <= 0xffffffffull, Status::limit_exceeded, kernel,
               ": the buffers exceed 2^32 floats");
    require_bytes(qkv, end * 4, kernel, "qkv");
    require_bytes(pos, uint64_t(M) * 4, kernel, "pos");
    require_bytes(k_cache, kv_cache_bytes(s.k_type, KV, s.rows, "K cache"), kernel, "k_cache");
    require_bytes(v_cache, kv_cache_bytes(s.v_type, KV, s.rows, "V cache"), kernel, "v_cache");
    if (s.bias.buffer)
        require_bytes(s.bias, (std::max({uint64_t(s.q0) + Q, uint64_t(s.k0) + KV, uint64_t(s.v0) + KV})) * 4, kernel,
                      "bias");
    if (s.q_norm.buffer) {
        require_bytes(s.q_norm, uint64_t(hd) * 4, kernel, "q_norm");
        require_bytes(s.k_norm, uint64_t(hd) * 4, kernel, "k_norm");
    }
    const shader::RopeQkvPush pc{M,           r.n_head,     s.n_head_kv,    hd,         rp.n_rot, rp.freq_base,
                                 rp.freq_scale, rp.attn_factor, rp.neox,    s.q0,       s.k0,     s.v0,
                                 s.q_stride,  s.kv_stride,  s.rows,         s.eps};
    const uint64_t heads = uint64_t(M) * (r.n_head + 2ull * s.n_head_kv);
    // A workgroup per head: as many threads as cover its pairs (a power of two: the norm's tree).
    Device& dev = rec.device();
    const uint32_t L = fit_local(dev.caps(), std::clamp<uint32_t>(hd / 2, 1, 64));
    const bool factors = s.rope_on && r.factors.buffer != nullptr;
    const Pipeline& p =
        dev.pipeline(qkv_variant(s.k_type, s.v_type),
                     {L, s.rope_on ? 1u : 0u, factors ? 1u : 0u, s.bias.buffer ? 1u : 0u, s.q_norm.buffer ? 1u : 0u});
    // Unused bindings hold the positions (a few bytes; never read: their options are off).
    auto or_pos = [&](const BufferView& b, bool on) { return on ? b : pos; };
    rec.dispatch(p,
                 {qkv, pos, k_cache, v_cache, or_pos(r.factors, factors), or_pos(s.bias, s.bias.buffer != nullptr),
                  or_pos(s.q_norm, s.q_norm.buffer != nullptr), or_pos(s.k_norm, s.k_norm.buffer != nullptr)},
                 pc, groups_1d(dev, heads, 1));
}

void check_positions(std::span<const int32_t> pos, uint32_t n_ctx) {
    for (size_t i = 0; i < pos.size(); ++i)
        VKRT_CHECK(pos[i] >= 0 && uint32_t(pos[i]) < n_ctx, Status::limit_exceeded, "position ", pos[i], " (row ", i,
                   ") is outside the context of ", n_ctx, " tokens");
}

}  // namespace vkrt::ops
