#include "ops/attention.hpp"

#include <algorithm>
#include <cmath>
#include <thread>

#include "ops/dispatch.hpp"
#include "shared/attention.h"
#include "shared/kv_store.h"
#include "shared/q8_1.h"
#include "ops/matmul.hpp"

namespace vkrt::ops {

namespace {
// The attention kernels, one variant per cache types: decode (shaders/attention.comp, subgroup
// or shared-memory reductions), prefill (shaders/attention_flash.comp, with subgroup
// shuffles -- FlashTiles::subgroup -- or without) and prefill on cooperative matrices
// (shaders/attention_flash_cm.comp, or its _emu form with the products as loops).
enum class AttnKernel : uint32_t { decode_sg, decode_shared, flash, flash_sg, flash_cm, flash_cm_emu };
spv::Variant attention_variant(AttnKernel family, KvType k, KvType v) {
    using V = spv::Variant;
    // [family][K type][V type], types in the order f32, f16, q8_0.
    static constexpr V kTable[6][3][3] = {
        {{V::attention_sg, V::attention_sg_kf32_vf16, V::attention_sg_kf32_vq8_0},
         {V::attention_sg_kf16_vf32, V::attention_sg_f16, V::attention_sg_kf16_vq8_0},
         {V::attention_sg_kq8_0_vf32, V::attention_sg_kq8_0_vf16, V::attention_sg_q8_0}},
        {{V::attention_shared, V::attention_shared_kf32_vf16, V::attention_shared_kf32_vq8_0},
         {V::attention_shared_kf16_vf32, V::attention_shared_f16, V::attention_shared_kf16_vq8_0},
         {V::attention_shared_kq8_0_vf32, V::attention_shared_kq8_0_vf16, V::attention_shared_q8_0}},
        {{V::attention_flash, V::attention_flash_kf32_vf16, V::attention_flash_kf32_vq8_0},
         {V::attention_flash_kf16_vf32, V::attention_flash_f16, V::attention_flash_kf16_vq8_0},
         {V::attention_flash_kq8_0_vf32, V::attention_flash_kq8_0_vf16, V::attention_flash_q8_0}},
        {{V::attention_flash_sg, V::attention_flash_sg_kf32_vf16, V::attention_flash_sg_kf32_vq8_0},
         {V::attention_flash_sg_kf16_vf32, V::attention_flash_sg_f16, V::attention_flash_sg_kf16_vq8_0},
         {V::attention_flash_sg_kq8_0_vf32, V::attention_flash_sg_kq8_0_vf16, V::attention_flash_sg_q8_0}},
        {{V::attention_flash_cm, V::attention_flash_cm_kf32_vf16, V::attention_flash_cm_kf32_vq8_0},
         {V::attention_flash_cm_kf16_vf32, V::attention_flash_cm_f16, V::attention_flash_cm_kf16_vq8_0},
         {V::attention_flash_cm_kq8_0_vf32, V::attention_flash_cm_kq8_0_vf16, V::attention_flash_cm_q8_0}},
        {{V::attention_flash_cm_emu, V::attention_flash_cm_emu_kf32_vf16, V::attention_flash_cm_emu_kf32_vq8_0},
         {V::attention_flash_cm_emu_kf16_vf32, V::attention_flash_cm_emu_f16, V::attention_flash_cm_emu_kf16_vq8_0},
         {V::attention_flash_cm_emu_kq8_0_vf32, V::attention_flash_cm_emu_kq8_0_vf16, V::attention_flash_cm_emu_q8_0}},
    };
    auto index = [](KvType t) { return t == KvType::f16 ? 1 : t == KvType::q8_0 ? 2 : 0; };
    return kTable[uint32_t(family)][index(k)][index(v)];
}

// The decode kernel's subgroup variant needs at least two invocations a subgroup (its
// per-subgroup maxes fill half a workgroup's worth of shared floats).
bool decode_subgroup(const Capabilities& caps) { return caps.subgroup && caps.subgroup_size >= 2; }

// Compute units (SMs, CUs, shader cores) of a device: the count a vendor extension reports
// (Capabilities::compute_units, vk/device.cpp), else an estimate that errs high, as splits
// cost little (the device's own estimate errs low, for split-K). A CPU device with
// cpu_tuning runs a workgroup a thread: its hardware threads. Otherwise what GPUs of its
// type have: a discrete GPU 64-132 (RTX 4090 128 SMs, H100 132, RX 7900 XTX 96 CUs), an
// integrated or phone GPU a few to a few dozen (16). lavapipe without cpu_tuning takes the
// GPU figure, so that it runs the GPU's splits.
uint32_t compute_units(const Capabilities& caps) {
    if (caps.compute_units_reported) return std::max(1u, caps.compute_units);
    if (caps.cpu_tuning) return std::max(1u, std::thread::hardware_concurrency());
    return caps.type == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU ? 128 : 16;
}

struct DecodeShape {
    uint32_t heads = 1;        // query heads a workgroup serves (HG)
    uint32_t head_groups = 1;  // workgroups serving one kv head's query heads
    uint32_t splits = 1;
};
// Query heads a decode workgroup serves at most where the compiler keeps loops rolled
// (Capabilities::unrolls_loops off: Arm Mali). attention.comp's per-head arrays (HG entries)
// are then indexed dynamically: Mesa 25.0.7's Mali-G610 backend compiles HG = 1 and 2 with no
// spill, spills at HG = 3 and 4 (4:20, 15:82 spills:fills) and never finishes at HG = 5..8
// (docs/GPU.md, "Mali-G610"). More workgroups of fewer heads instead: each reads its kv
// head's rows once more.
constexpr uint32_t kAttnMaxHeadsRolled = 2;

DecodeShape decode_shape(const Capabilities& caps, const AttentionShape& s, uint32_t M) {
    DecodeShape d;
    const uint32_t grp = s.n_head / s.n_head_kv;
    const uint32_t max_heads = caps.unrolls_loops ? shader::kAttnMaxHeads : kAttnMaxHeadsRolled;
    d.head_groups = (grp + max_heads - 1) / max_heads;
    d.heads = (grp + d.head_groups - 1) / d.head_groups;
    if (s.splits) {
        d.splits = s.splits;
        return d;
    }
    // The splits' arrival counters (one per kv head and query x head group) have a fixed
    // number of words at the start of the scratch: a wider shape runs unsplit.
    if (uint64_t(s.n_head_kv) * M * d.head_groups > shader::kAttnArrivalWords) return d;
    // About two workgroups a compute unit; a split of a full cache keeps >= 64 positions.
    const uint64_t base = uint64_t(s.n_head_kv) * M * d.head_groups;
    const uint64_t want = (2ull * compute_units(caps) + base - 1) / base;
    d.splits = uint32_t(std::clamp<uint64_t>(std::min<uint64_t>(want, (s.rows + 63) / 64), 1, kAttentionMaxSplits));
    return d;
}

// Bytes of the split scratch: the arrival counters, then the splits' partial results
// (M, n_head, splits, kAttnPartialHeader + hd) floats.
uint64_t split_bytes(const AttentionShape& s, uint32_t M, uint32_t splits) {
    return (shader::kAttnArrivalWords + uint64_t(M) * s.n_head * splits * (shader::kAttnPartialHeader + s.head_dim)) *
           4;
}

bool flash_cm_dispatch(Recorder& rec, std::initializer_list<BufferView> bindings, uint32_t M, const AttentionShape& s,
                       const shader::AttentionPush& pc);
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
    const shader::KvStorePush pc{M, width, rows, src_stride};
    using V = spv::Variant;
    const V variant = type == KvType::f16 ? V::kv_store_f16 : type == KvType::q8_0 ? V::kv_store_q8_0 : V::kv_store;
    rec.dispatch(rec.device().pipeline(variant, {kLocal}),
                 {src, pos, cache}, pc, groups_1d(rec.device(), n / kv_store_unit(type), kLocal));
}

void attention(Recorder& rec, const BufferView& q, const BufferView& k_cache, const BufferView& v_cache,
               const BufferView& pos, const BufferView& out, uint32_t M, const AttentionShape& s, float scale,
               uint32_t q_stride, uint32_t out_stride, uint32_t window, const BufferView& split_scratch,
               const BufferView& out_q8) {
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
    const bool q8 = out_q8.buffer != nullptr;
    if (q8) {
        VKRT_CHECK(attention_q8_out(s, M), Status::invalid_argument, kn, ": q8_1 output needs a decode batch (M = ", M,
                   " < ", kAttentionBlockMinRows, ") and head_dim % 32 == 0 (", s.head_dim, ")");
        VKRT_CHECK(out_stride == width, Status::invalid_argument, kn, ": q8_1 output rows are n_head*head_dim = ", width,
                   " wide, out_stride ", out_stride);
        require_bytes(out_q8, matmul_scratch_bytes(M, uint32_t(width)), kn, "out_q8");
    } else {
        require_bytes(out, ((M - 1) * uint64_t(out_stride) + width) * 4, kn, "out");
    }

    Device& dev = rec.device();
    shader::AttentionPush pc{M,          s.n_head,   s.n_head_kv, s.head_dim, s.rows, scale,
                             q_stride,   out_stride, window,      1,          1};
    const uint32_t grp = s.n_head / s.n_head_kv;

    // Prefill: blocks of query rows share K/V tiles (shaders/attention_flash_cm.comp on
    // cooperative matrices, else shaders/attention_flash.comp).
    if (M >= kAttentionBlockMinRows) {
        if (flash_cm_dispatch(rec, {q, k_cache, v_cache, pos, out}, M, s, pc)) return;
        if (auto t = flash_tiles(dev.caps(), s.head_dim, s.type_k, s.type_v)) {
            const uint64_t blocks = (uint64_t(M) * grp + t->br - 1) / t->br;
            if (s.n_head_kv <= dev.caps().max_workgroup_count[0] && blocks <= dev.caps().max_workgroup_count[1]) {
                const AttnKernel kernel = t->subgroup ? AttnKernel::flash_sg : AttnKernel::flash;
                rec.dispatch(dev.pipeline(attention_variant(kernel, s.type_k, s.type_v),
                                          {t->wg, t->br, t->bc, t->tpr, t->dpt, t->ns, t->q_size, t->k_size,
                                           t->v_size, t->s_size}),
                             {q, k_cache, v_cache, pos, out}, pc, Groups{s.n_head_kv, uint32_t(blocks), 1});
                return;
            }
        }
    }

    // Decode (few queries): workgroups (kv head, split, query x head group), see
    // shaders/attention.comp; with splits, the last split of each merges them (no second pass).
    const DecodeShape d = decode_shape(dev.caps(), s, M);
    VKRT_CHECK(d.splits == 1 || uint64_t(s.n_head_kv) * M * d.head_groups <= shader::kAttnArrivalWords,
               Status::invalid_argument, kn, ": ", s.n_head_kv, " kv heads x ", M, " queries x ", d.head_groups,
               " head groups exceed the ", shader::kAttnArrivalWords, " split counters: splits must be 1");
    pc.head_groups = d.head_groups;
    pc.n_split = d.splits;
    const uint64_t part_bytes = split_bytes(s, M, d.splits);
    const uint64_t have = split_scratch.buffer ? split_scratch.bytes() : 0;
    if (d.splits > 1 && have < part_bytes) {
        VKRT_CHECK(s.splits == 0, Status::invalid_argument, kn, ": ", d.splits, " splits need a split_scratch of ",
                   part_bytes, " bytes, got ", have);
        pc.n_split = 1;  // no room for the partial results: unsplit
    }
    VKRT_CHECK(s.n_head_kv <= dev.caps().max_workgroup_count[0] && pc.n_split <= dev.caps().max_workgroup_count[1] &&
                   uint64_t(M) * d.head_groups <= dev.caps().max_workgroup_count[2],
               Status::limit_exceeded, kn, ": ", s.n_head_kv, " kv heads x ", pc.n_split, " splits x ", M,
               " queries exceed the device's workgroup-count limits (split the batch)");
    const spv::Variant variant = attention_variant(
        decode_subgroup(dev.caps()) ? AttnKernel::decode_sg : AttnKernel::decode_shared, s.type_k, s.type_v);
    const Groups groups{s.n_head_kv, pc.n_split, M * d.head_groups};
    // Threads, heads a workgroup, its shared arrays (shaders/attention.comp), [id 5 unused],
    // q8_1 output.
    constexpr uint32_t L = shader::kAttnDecodeThreads;
    const std::vector<uint32_t> spec{L,           d.heads, std::max(d.heads * ((s.head_dim + 3) / 4), L), d.heads * L,
                                     d.heads * L / 2, 0,   q8 ? 1u : 0u};
    const BufferView& o = q8 ? out_q8 : out;
    // Unsplit, the split scratch is not touched: `o` stands in for it.
    const BufferView part = pc.n_split == 1 ? o : BufferView(*split_scratch.buffer, split_scratch.offset, part_bytes);
    rec.dispatch(dev.pipeline(variant, spec), {q, k_cache, v_cache, pos, o, part}, pc, groups);
}

uint32_t attention_splits(const Capabilities& caps, const AttentionShape& s, uint32_t M) {
    AttentionShape auto_shape = s;
    auto_shape.splits = 0;
    return decode_shape(caps, auto_shape, M).splits;
}

bool attention_q8_out(const AttentionShape& s, uint32_t M) {
    return M < kAttentionBlockMinRows && s.head_dim % shader::kQ8Block == 0;
}

Buffer attention_scratch(Device& dev, const AttentionShape& s) {
    Buffer b(dev, std::max<uint64_t>(4, attention_scratch_bytes(dev.caps(), s)), MemoryKind::device,
             "attention splits");
    b.fill_zero();  // the arrival counters start at zero (every dispatch leaves them so)
    return b;
}

uint32_t attention_decode_heads(const Capabilities& caps, const AttentionShape& s) {
    return decode_shape(caps, s, 1).heads;
}

uint64_t attention_scratch_bytes(const Capabilities& caps, const AttentionShape& s) {
    uint64_t bytes = 0;
    for (uint32_t M = 1; M < kAttentionBlockMinRows; ++M) {
        const uint32_t splits = decode_shape(caps, s, M).splits;
        if (splits > 1) bytes = std::max(bytes, split_bytes(s, M, splits));
    }
    return bytes;
}

std::optional<FlashTiles> flash_tiles(const Capabilities& caps, uint32_t head_dim, KvType type_k, KvType type_v) {
    if (head_dim < 1 || head_dim > 256) return std::nullopt;
    FlashTiles t;
    // Threads per query row: enough that each owns <= 16 output dims (vec4 columns).
    // Where the compiler keeps loops rolled (Arm Mali) a thread's register arrays (q, scores,
    // accumulators) are indexed dynamically, so they must stay short: at least two threads a
    // row (one thread a row also holds q), at most 8 scores a thread (ns) and at most 20
    // scores and output dims together (ns + dpt). On Mali-G610 one thread a row spilled at 8
    // scores (hd 8: 8:52 spills:fills, hd 16: 25:188) and at 16 (hd 8: 36:246; hd 16 did not
    // finish in 30 CPU s), two threads a row at 16 scores (hd 8: 15:137), 16 dims and 8 scores
    // (hd 32 and 64: 41-52 spills + fills); shapes within both bounds did not spill (hd 8-256,
    // docs/GPU.md, "Mali-G610").
    const bool rolled = !caps.unrolls_loops;
    t.tpr = rolled ? 2 : 1;
    while ((head_dim + t.tpr - 1) / t.tpr > 16) t.tpr *= 2;
    t.dpt = ((head_dim + t.tpr - 1) / t.tpr + 3) / 4 * 4;
    const uint32_t hds4 = t.tpr * t.dpt / 4, pad = t.tpr > 1 ? 1 : 0;
    // F16 caches keep their tiles as halves (the cache's bits): half the bytes.
    t.k_half = type_k == KvType::f16;
    t.v_half = type_v == KvType::f16;
    // More shared memory than 32 KiB buys little and costs occupancy.
    const uint32_t limit = std::min<uint32_t>(caps.shared_memory, 32768);
    // Small heads (one thread a row) use 64-thread workgroups: 64 query rows a block, and
    // 16-row kv tiles (its 16 scores stay in registers; lavapipe: 32 rows were ~1.5x slower).
    uint32_t wg = std::min<uint32_t>(t.tpr == 1 ? 64 : 128, caps.max_workgroup_invocations);
    for (; wg >= std::max<uint32_t>(t.tpr, 16); wg /= 2) {
        // Rows exchange scores by shuffles within a subgroup: a row's lanes in one subgroup,
        // and every subgroup whole (gl_SubgroupID * size + lane numbers the workgroup).
        t.subgroup = t.tpr > 1 && caps.subgroup && t.tpr <= caps.subgroup_size && wg % caps.subgroup_size == 0;
        for (uint32_t bc = t.tpr == 1 ? 16 : 32; bc >= 4; bc /= 2) {
            if (rolled && (bc > 8 * t.tpr || t.dpt + (bc + t.tpr - 1) / t.tpr > 20)) continue;  // ns <= 8, ns + dpt <= 20
            t.wg = wg;
            t.br = wg / t.tpr;
            t.bc = bc;
            t.ns = (bc + t.tpr - 1) / t.tpr;
            t.q_size = t.tpr == 1 ? 1 : t.br * (hds4 + pad);
            t.k_size = bc * (hds4 + pad);
            t.v_size = bc * hds4;
            t.s_size = t.tpr == 1 || t.subgroup ? 1 : 2 * t.br * (bc + 1);  // scores, then p
            if (t.shared_bytes() <= limit) return t;
        }
    }
    return std::nullopt;
}

// ---- prefill attention on cooperative matrices (shaders/attention_flash_cm.comp)

namespace {
// VkComponentTypeKHR
constexpr uint32_t kCtF16 = 0, kCtF32 = 1;

// Runs the cooperative-matrix kernel where attention_uses_coopmat says so (false: the
// caller runs attention_flash); s.prefill == coopmat where it cannot is an error naming why.
bool flash_cm_dispatch(Recorder& rec, std::initializer_list<BufferView> bindings, uint32_t M, const AttentionShape& s,
                       const shader::AttentionPush& pc) {
    Device& dev = rec.device();
    const Capabilities& caps = dev.caps();
    using Prefill = AttentionShape::Prefill;
    if (s.prefill == Prefill::scalar) return false;
    const bool emulated = s.prefill == Prefill::coopmat_emulated, forced = s.prefill != Prefill::auto_;
    const auto t = flash_cm_tiles(caps, s.head_dim, emulated);
    VKRT_CHECK(t.has_value() || !forced, Status::unsupported, "attention (flash_cm", emulated ? "_emu" : "",
               "): needs ",
               emulated ? "" : "16x16x16 f16 x f16 -> f32 cooperative matrices (VK_KHR_cooperative_matrix), a subgroup "
                               "of 16..128, ",
               "shaderFloat16 and the shared memory of its tiles for head dim ", s.head_dim, ", which ", caps.name,
               " does not offer", caps.forced_no_coopmat && !emulated ? " (VKRT_DISABLE=coopmat)" : "");
    if (!attention_uses_coopmat(caps, s, M)) {
        VKRT_CHECK(!forced, Status::limit_exceeded, "attention (flash_cm): ", s.n_head_kv, " kv heads x ", M,
                   " queries exceed the device's workgroup-count limits");
        return false;
    }
    const uint32_t grp = s.n_head / s.n_head_kv;
    const uint64_t blocks = (uint64_t(M) * grp + 15) / 16;
    const AttnKernel kernel = emulated ? AttnKernel::flash_cm_emu : AttnKernel::flash_cm;
    rec.dispatch(dev.pipeline(attention_variant(kernel, s.type_k, s.type_v),
                              {t->wg, t->bc, t->hdp, t->q_size, t->kv_size, t->o_size}),
                 bindings, pc, Groups{s.n_head_kv, uint32_t(blocks), 1});
    return true;
}
}  // namespace

std::optional<FlashCmTiles> flash_cm_tiles(const Capabilities& caps, uint32_t head_dim, bool emulated) {
    if (head_dim < 1 || head_dim > 256 || !caps.fp16) return std::nullopt;
    // The kernel's fragments, its float16 shared tiles, and one subgroup a workgroup whose
    // lanes split the 16 query rows evenly in the softmax (16..128: 1..8 lanes a row).
    // Emulated: 64 threads (RDNA3's wave64), no matrices.
    const uint32_t wg = emulated ? 64 : caps.subgroup_size;
    if (!emulated && !caps.has_coopmat(16, 16, 16, kCtF16, kCtF16, kCtF32, kCtF32)) return std::nullopt;
    if (wg < 16 || wg > 128 || (wg & (wg - 1)) != 0 || wg > caps.max_workgroup_invocations) return std::nullopt;
    FlashCmTiles t;
    t.wg = wg;
    t.hdp = (head_dim + 15) / 16 * 16;
    t.q_size = 16 * (t.hdp + 8);
    t.o_size = 16 * (t.hdp + 4);
    // 32 kv rows a tile where everything fits 32 KiB (more costs occupancy), else 16 rows
    // where they fit the device (hd 256: ~45 KiB).
    for (uint32_t bc : {32u, 16u}) {
        t.bc = bc;
        t.kv_size = bc * (t.hdp + 8);
        const uint32_t limit = bc == 32 ? std::min<uint32_t>(caps.shared_memory, 32768) : caps.shared_memory;
        if (t.shared_bytes() <= limit) return t;
    }
    return std::nullopt;
}

bool attention_uses_coopmat(const Capabilities& caps, const AttentionShape& s, uint32_t M) {
    if (M < kAttentionBlockMinRows || s.prefill == AttentionShape::Prefill::scalar || s.n_head_kv == 0 ||
        s.n_head % s.n_head_kv != 0 || !flash_cm_tiles(caps, s.head_dim, s.prefill == AttentionShape::Prefill::coopmat_emulated))
        return false;
    const uint64_t blocks = (uint64_t(M) * (s.n_head / s.n_head_kv) + 15) / 16;
    return s.n_head_kv <= caps.max_workgroup_count[0] && blocks <= caps.max_workgroup_count[1];
}

}  // namespace vkrt::ops
