// KV cache store (shaders/kv_store.comp) and causal attention over the cache
// (shaders/attention.comp). Positions come from an int32 buffer (one per query
// row), so a recorded decode command buffer is reused across tokens.
#pragma once
#include <cstdint>
#include <optional>
#include "ops/kv_type.hpp"
#include "vk/buffer.hpp"
#include "vk/recorder.hpp"

namespace vkrt {
struct Capabilities;
}

namespace vkrt::ops {

// src (M, width) float, pos (M) int32 -> cache (rows, width) of `type`:
//   cache[pos[m] % rows, :] = src[m, :] rounded to the type (f16: nearest even; q8_0 per block
//   of 32: d = amax / 127, q = round_half_away(x * (1/d)), as ggml's quantize_row_q8_0_ref).
// The cache is a ring of `rows` rows: rows = n_ctx keeps every position of the context, a
// sliding-window layer keeps fewer (the last `rows` positions; see attention()). Two rows
// of one call must not map to the same cache row (M <= rows for consecutive positions).
// Rows with pos < 0 are skipped by the shader (validate positions against the context
// with check_positions, ops/rope.hpp).
// src_stride: floats between rows of src (0 = width; the v slice of a fused QKV output).
void kv_store(Recorder& rec, const BufferView& src, const BufferView& pos, const BufferView& cache, uint32_t M,
              uint32_t width, uint32_t rows, KvType type = KvType::f32, uint32_t src_stride = 0);

struct AttentionShape {
    uint32_t n_head = 0;
    uint32_t n_head_kv = 0;  // divides n_head (grouped-query: head h reads kv head h / (n_head/n_head_kv))
    uint32_t head_dim = 0;   // 1..256
    uint32_t rows = 0;       // rows of each cache (a ring: position j is in row j % rows)
    KvType type_k = KvType::f32, type_v = KvType::f32;  // element types of the caches
    // Decode (M < kAttentionBlockMinRows): workgroups each query's visible positions are
    // split over; 0 = attention_splits() for the device (tests force other counts).
    uint32_t splits = 0;
    // Prefill (M >= kAttentionBlockMinRows): which blocked kernel runs (tests force one).
    enum class Prefill : uint32_t {
        auto_,    // cooperative matrices where flash_cm_tiles finds a shape, else attention_flash
        coopmat,  // shaders/attention_flash_cm.comp; an error where the device cannot run it
        scalar,   // shaders/attention_flash.comp (with or without subgroup shuffles)
        // attention_flash_cm's _emu variants: its tiles, masks and softmax with the two
        // matrix products by plain loops, on any device with shaderFloat16 (tests: checks
        // the kernel where no device has the matrices; the runtime never picks it)
        coopmat_emulated,
    };
    Prefill prefill = Prefill::auto_;
};

// q (M, n_head, hd), K cache (rows, n_head_kv, hd), V cache (rows, n_head_kv, hd) of types
// s.type_k / s.type_v (read as the float values they store), pos (M) int32
//   -> out (M, n_head, hd): out[m,h] = softmax_j(scale * q[m,h] . K[j % rows,kvh]) . V[j % rows,kvh],
//      j = 0..pos[m] (positions; the caches are rings, see kv_store).
// scale = 0 means 1/sqrt(hd). q_stride / out_stride: floats between rows (0 = n_head*hd).
// window > 0 (sliding-window layers): only positions pos[m] - window < j <= pos[m] are seen.
// A query sees at most the last `rows` positions up to its own: a cache that keeps
// fewer rows than n_ctx must keep rows >= window + M - 1 for a batch of M consecutive
// positions (their stores then leave every position a query of the batch sees in place).
// No scratch memory: an online softmax walks the kv rows in tiles (see the shaders).
// M >= kAttentionBlockMinRows (prefill) runs shaders/attention_flash.comp: a workgroup
// takes a block of query rows of one kv head (all its grouped query heads), loads each
// K/V tile into shared memory once and keeps a FlashAttention-2 style online softmax per
// row. Fewer rows (decode) run shaders/attention.comp: a workgroup per (kv head, split of
// the visible positions, query) serving all the kv head's query heads (up to 8 a
// workgroup); with more than one split, the last split of each head to finish merges the
// splits' partial results in the same dispatch (one dispatch in all).
// split_scratch: the splits' arrival counters and partial results (attention_scratch: a
// buffer of attention_scratch_bytes whose counters start at zero; each call leaves them
// zero); unbound or too small, decode runs unsplit (one workgroup per kv head and query)
// unless s.splits forces a count (then it is an error).
// out_q8 (bound; decode only, head_dim % 32 == 0: attention_q8_out): the output rows are
// written there as the q8_1 activations of (M, n_head*hd) (shaders/shared/q8_1.h, what
// ops::quantize_q8_1 of the float rows writes) for an integer GEMV, and `out` is not
// written (out_stride must be n_head*hd).
void attention(Recorder& rec, const BufferView& q, const BufferView& k_cache, const BufferView& v_cache,
               const BufferView& pos, const BufferView& out, uint32_t M, const AttentionShape& s, float scale = 0.f,
               uint32_t q_stride = 0, uint32_t out_stride = 0, uint32_t window = 0,
               const BufferView& split_scratch = {}, const BufferView& out_q8 = {});

// Whether attention() can write M query rows of shape s as q8_1 blocks (out_q8).
bool attention_q8_out(const AttentionShape& s, uint32_t M);

// Queries from which attention() uses the blocked (prefill) kernel.
inline constexpr uint32_t kAttentionBlockMinRows = 8;

// Decode: the split count attention() picks for M queries (M < kAttentionBlockMinRows) of
// shape s (s.splits ignored) on a device: enough workgroups (kv heads x splits x queries)
// to give each of the device's compute units (an estimate: Vulkan does not report them)
// about two, each split at least 64 positions of a full cache, at most kAttentionMaxSplits.
inline constexpr uint32_t kAttentionMaxSplits = 32;
uint32_t attention_splits(const Capabilities& caps, const AttentionShape& s, uint32_t M);
// Bytes of split_scratch that every decode call (M < kAttentionBlockMinRows) of shape s
// needs for the splits attention_splits picks (s.splits when set); 0 when none splits.
uint64_t attention_scratch_bytes(const Capabilities& caps, const AttentionShape& s);
// A split scratch for shape s on dev: attention_scratch_bytes (at least 4), its arrival
// counters zeroed (Buffer::fill_zero: an upload, not a recorded command).
Buffer attention_scratch(Device& dev, const AttentionShape& s);
// Decode: query heads one workgroup of the per-query kernel serves (its HG): the kv head's
// n_head / n_head_kv spread evenly over workgroups of at most 8 (shader::kAttnMaxHeads), of
// at most 2 where the device's compiler keeps loops rolled (Capabilities::unrolls_loops off).
uint32_t attention_decode_heads(const Capabilities& caps, const AttentionShape& s);

// Tile shape of the blocked kernel for a head dim and cache types on a device (spec
// constants of attention_flash): wg = br * tpr threads; br query rows a workgroup, bc kv
// rows a tile, tpr threads a query row owning dpt output dims each (a multiple of 4), ns =
// ceil(bc / tpr) scores a thread; q_size: shared vec4s, k/v_size: shared tile elements
// (vec4, or uvec2 halves for an F16 cache: k_half / v_half), s_size: shared floats.
// subgroup: the _sg variant (tpr > 1 rows exchange their scores by subgroup shuffles, no
// shared score array), where the device has subgroup shuffles, tpr <= its subgroup size
// and the workgroup is whole subgroups. nullopt: no shape fits the device's shared memory
// (attention() then uses the per-query kernel).
struct FlashTiles {
    uint32_t wg = 0, br = 0, bc = 0, tpr = 0, dpt = 0, ns = 0;
    uint32_t q_size = 0, k_size = 0, v_size = 0, s_size = 0;
    bool k_half = false, v_half = false, subgroup = false;
    // vec4 q, K/V tiles (16 or 8 bytes an element), ss floats, and two uints per query row (nrow, lorow).
    uint32_t shared_bytes() const {
        return q_size * 16 + k_size * (k_half ? 8 : 16) + v_size * (v_half ? 8 : 16) + (s_size + 2 * br) * 4;
    }
};
std::optional<FlashTiles> flash_tiles(const Capabilities& caps, uint32_t head_dim, KvType type_k = KvType::f32,
                                      KvType type_v = KvType::f32);

// ---- prefill attention on cooperative matrices (shaders/attention_flash_cm.comp)
// Q.K^T and P.V on 16x16x16 f16 x f16 -> f32 matrices, online softmax between them, K/V
// tiles as halves (F32 rounded, Q8_0 dequantized; F16 the cache's bits): for every cache
// type, head dims 1..256, GQA and rings, as attention_flash. Its shape on a device: wg =
// the subgroup size (one subgroup, 16..128 lanes), 16 query rows, bc kv rows a tile (32 where
// the tiles fit 32 KiB, else 16 where they fit the device), hdp = hd padded to 16; q_size,
// kv_size (halves, each of K and V) and o_size (floats) are the shared arrays (spec
// constants). nullopt: the device reports no such matrices (VK_KHR_cooperative_matrix,
// Capabilities::coopmat_shapes), has no shaderFloat16, a subgroup size outside 16..128, or
// too little shared memory; attention() then runs attention_flash.
struct FlashCmTiles {
    uint32_t wg = 0, bc = 0, hdp = 0, q_size = 0, kv_size = 0, o_size = 0;
    // Q, K, V halves, O floats, the 16 x 36 scores and 16 x 40 halves of p, a float a
    // thread (row sums) and two uints a query row.
    uint32_t shared_bytes() const { return (q_size + 2 * kv_size) * 2 + o_size * 4 + 16 * 36 * 4 + 16 * 40 * 2 + wg * 4 + 2 * 16 * 4; }
};
// emulated: the shape of the _emu variants (no matrices or subgroup size needed: 64 threads).
std::optional<FlashCmTiles> flash_cm_tiles(const Capabilities& caps, uint32_t head_dim, bool emulated = false);
// Whether attention() runs M queries of shape s on attention_flash_cm on this device, on
// cooperative matrices or (s.prefill == coopmat_emulated) emulated: the same roundings
// (s.prefill and flash_cm_tiles; the workgroup grid within the device's limits).
bool attention_uses_coopmat(const Capabilities& caps, const AttentionShape& s, uint32_t M);

}  // namespace vkrt::ops
