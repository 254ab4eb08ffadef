#include "ops/attention.hpp"

#include <algorithm>
#include <cmath>

#include "ops/dispatch.hpp"

namespace vkrt::ops {

namespace {
// Variant name of an attention kernel family for the cache types (shaders/attention.comp).
std::string attention_variant(const char* family, KvType k, KvType v) {
    if (k == v) return std::string(family) + kv_variant_suffix(k);
    return std::string(family) + "_k" + kv_type_name(k) + "_v" + kv_type_name(v);
}
}  // namespace

void kv_store(Recorder& rec, const BufferView& src, const BufferView& pos, const BufferView& cache, uint32_t M,
              uint32_t width, uint32_t rows, KvType type, uint32_t src_stride) {
    VKRT_CHECK(M >= 1 && width >= 1 && rows >= 1, Status::invalid_argument, "kv_store: empty shape M=", M,
               " width=", width, " rows=", rows);
    const uint64_t n = uint64_t(M) * width;
    const uint64_t cache_bytes = kv_cache_bytes(type, width, rows, "kv_store");
    VKRT_CHECK(n <= 0xffffffffull && uint64_t(rows) * width <= 0xffffffffull && cache_bytes <= 0xffffffffull,
               Status::limit_exceeded, "kv_store: shape exceeds 2^32 elements");
    if (src_stride == 0) src_stride = width;
    VKRT_CHECK(src_stride >= width && uint64_t(M) * src_stride <= 0xffffffffull, Status::invalid_argument,
               "kv_store: src_stride ", src_stride, " must be >= width ", width);
    require_bytes(src, (uint64_t(M - 1) * src_stride + width) * 4, "kv_store", "src");
    require_bytes(pos, uint64_t(M) * 4, "kv_store", "pos");
    require_bytes(cache, cache_bytes, "kv_store", "cache");
    const uint32_t kLocal = fit_local(rec.device().caps(), 256);
    struct { uint32_t M, width, rows, src_stride; } pc{M, width, rows, src_stride};
    rec.dispatch(rec.device().pipeline(std::string("kv_store") + kv_variant_suffix(type), {kLocal}),
                 {src, pos, cache}, pc, groups_1d(rec.device(), n / kv_store_unit(type), kLocal));
}

void attention(Recorder& rec, const BufferView& q, const BufferView& k_cache, const BufferView& v_cache,
               const BufferView& pos, const BufferView& out, uint32_t M, const AttentionShape& s, float scale,
               uint32_t q_stride, uint32_t out_stride, uint32_t window) {
    const char* kn = "attention";
    VKRT_CHECK(M >= 1 && s.n_head >= 1 && s.n_head_kv >= 1 && s.rows >= 1, Status::invalid_argument, kn,
               ": empty shape M=", M, " n_head=", s.n_head, " n_head_kv=", s.n_head_kv, " rows=", s.rows);
    VKRT_CHECK(s.head_dim >= 1 && s.head_dim <= 256, Status::invalid_argument, kn, ": head_dim must be in 1..256, got ",
               s.head_dim);
    VKRT_CHECK(s.n_head % s.n_head_kv == 0, Status::invalid_argument, kn, ": n_head (", s.n_head,
               ") is not a multiple of n_head_kv (", s.n_head_kv, ")");
    if (scale == 0.f) scale = 1.f / std::sqrt(float(s.head_dim));
    VKRT_CHECK(std::isfinite(scale), Status::invalid_argument, kn, ": scale must be finite");
    const uint64_t width = uint64_t(s.n_head) * s.head_dim;
    const uint64_t kv_width = uint64_t(s.n_head_kv) * s.head_dim;
    if (!q_stride) q_stride = uint32_t(width);
    if (!out_stride) out_stride = uint32_t(width);
    VKRT_CHECK(q_stride >= width && out_stride >= width, Status::invalid_argument, kn, ": row strides (", q_stride,
               ", ", out_stride, ") must be >= n_head*head_dim = ", width);
    const uint64_t k_bytes = kv_cache_bytes(s.type_k, uint32_t(kv_width), s.rows, "attention: k_cache");
    const uint64_t v_bytes = kv_cache_bytes(s.type_v, uint32_t(kv_width), s.rows, "attention: v_cache");
    VKRT_CHECK(uint64_t(s.rows) * kv_width <= 0xffffffffull && uint64_t(M) * q_stride <= 0xffffffffull &&
                   uint64_t(M) * out_stride <= 0xffffffffull && std::max(k_bytes, v_bytes) <= 0xffffffffull,
               Status::limit_exceeded, kn, ": shape exceeds 2^32 elements");
    require_bytes(q, ((M - 1) * uint64_t(q_stride) + width) * 4, kn, "q");
    require_bytes(k_cache, k_bytes, kn, "k_cache");
    require_bytes(v_cache, v_bytes, kn, "v_cache");
    require_bytes(pos, uint64_t(M) * 4, kn, "pos");
    require_bytes(out, ((M - 1) * uint64_t(out_stride) + width) * 4, kn, "out");

    Device& dev = rec.device();
    struct {
        uint32_t M, n_head, n_head_kv, hd, rows;
        float scale;
        uint32_t q_stride, o_stride, window;
    } pc{M, s.n_head, s.n_head_kv, s.head_dim, s.rows, scale, q_stride, out_stride, window};
    const uint32_t grp = s.n_head / s.n_head_kv;

    // Prefill: blocks of query rows share K/V tiles (shaders/attention_flash.comp).
    if (M >= kAttentionBlockMinRows) {
        if (auto t = flash_tiles(dev.caps(), s.head_dim)) {
            const uint64_t blocks = (uint64_t(M) * grp + t->br - 1) / t->br;
            if (s.n_head_kv <= dev.caps().max_workgroup_count[0] && blocks <= dev.caps().max_workgroup_count[1]) {
                rec.dispatch(dev.pipeline(attention_variant("attention_flash", s.type_k, s.type_v),
                                          {t->wg, t->br, t->bc, t->tpr, t->dpt, t->ns, t->q_size, t->k_size,
                                           t->v_size, t->s_size}),
                             {q, k_cache, v_cache, pos, out}, pc, Groups{s.n_head_kv, uint32_t(blocks), 1});
                return;
            }
        }
    }

    // Decode (few queries): one workgroup per (head, query), see shaders/attention.comp.
    VKRT_CHECK(s.n_head <= dev.caps().max_workgroup_count[0] && M <= dev.caps().max_workgroup_count[1],
               Status::limit_exceeded, kn, ": ", s.n_head, " heads x ", M,
               " queries exceed the device's workgroup-count limits (split the batch)");
    // 128 threads: a kv tile of 128 rows; hd <= 256 needs at most 2 accumulators a
    // thread (the shader allows 4, i.e. workgroups down to 64).
    constexpr uint32_t kLocal = 128;
    const std::string variant =
        attention_variant(dev.caps().subgroup ? "attention_sg" : "attention_shared", s.type_k, s.type_v);
    rec.dispatch(dev.pipeline(variant, {kLocal}), {q, k_cache, v_cache, pos, out}, pc, Groups{s.n_head, M, 1});
}

std::optional<FlashTiles> flash_tiles(const Capabilities& caps, uint32_t head_dim) {
    if (head_dim < 1 || head_dim > 256) return std::nullopt;
    FlashTiles t;
    // Threads per query row: enough that each owns <= 16 output dims (vec4 columns).
    t.tpr = 1;
    while ((head_dim + t.tpr - 1) / t.tpr > 16) t.tpr *= 2;
    t.dpt = ((head_dim + t.tpr - 1) / t.tpr + 3) / 4 * 4;
    const uint32_t hds4 = t.tpr * t.dpt / 4, pad = t.tpr > 1 ? 1 : 0;
    // More shared memory than 32 KiB buys little and costs occupancy.
    const uint32_t limit = std::min<uint32_t>(caps.shared_memory, 32768);
    // Small heads (one thread a row) use 64-thread workgroups: 64 query rows a block, and
    // 16-row kv tiles (its 16 scores stay in registers; lavapipe: 32 rows were ~1.5x slower).
    uint32_t wg = std::min<uint32_t>(t.tpr == 1 ? 64 : 128, caps.max_workgroup_invocations);
    for (; wg >= std::max<uint32_t>(t.tpr, 16); wg /= 2) {
        for (uint32_t bc = t.tpr == 1 ? 16 : 32; bc >= 4; bc /= 2) {
            t.wg = wg;
            t.br = wg / t.tpr;
            t.bc = bc;
            t.ns = (bc + t.tpr - 1) / t.tpr;
            t.q_size = t.tpr == 1 ? 1 : t.br * (hds4 + pad);
            t.k_size = bc * (hds4 + pad);
            t.v_size = bc * hds4;
            t.s_size = t.tpr == 1 ? 1 : 2 * t.br * (bc + 1);  // scores, then p
            if (t.shared_bytes() <= limit) return t;
        }
    }
    return std::nullopt;
}

}  // namespace vkrt::ops
