#include "ops/gemm_int8.hpp"

#include "ops/dispatch.hpp"
#include "ops/quantize.hpp"
#include "shared/gemm_int8.h"

namespace vkrt::ops {

namespace {
// Largest K for which 127*127*K fits in int32.
constexpr uint32_t kMaxK = 133144;
// Asymmetric activations: |sum_k (q - zp) * w| <= 255*127*K must fit in int32.
constexpr uint32_t kMaxKAsym = 66311;
// int8_row_sums: threads per row (a power of two: shared-memory tree).
constexpr uint32_t kRowSumLocal = 64;
// int8_row_sums: |sum of K int8| <= 128*K must fit in int32.
constexpr uint32_t kMaxKRowSum = 16777216;
// GEMV path: rows of X up to this go to the subgroup-reduced kernel.
constexpr uint32_t kGemvMaxM = 8;
constexpr uint32_t kGemvLocal = 128;  // a power of two (the shared-memory variant reduces with a tree)

void check_shape(const char* who, uint32_t M, uint32_t N, uint32_t K, GemmInt8Path path) {
    VKRT_CHECK(M >= 1 && N >= 1 && K >= 1, Status::invalid_argument, who, ": empty shape M=", M, " N=", N, " K=", K);
    VKRT_CHECK(K <= kMaxK, Status::invalid_argument, who, ": K=", K, " exceeds ", kMaxK,
               " (int32 accumulators could overflow)");
    VKRT_CHECK(path != GemmInt8Path::gemv || M <= kGemvMaxM, Status::invalid_argument, who,
               ": the gemv path takes M <= ", kGemvMaxM, ", got M=", M);
}

// What the kernel writes (GemmInt8Push::mode, shaders/shared/gemm_int8.h).
enum Mode : uint32_t {
    kScaled = shader::kInt8ModeScaled,
    kScaledBias = shader::kInt8ModeScaledBias,
    kRaw = shader::kInt8ModeRaw
};

// xzp and wsum: both unbound (symmetric) or both bound and large enough; returns true when asymmetric.
bool check_asym(const char* who, const BufferView& xzp, const BufferView& wsum, uint32_t M, uint32_t N, uint32_t K) {
    const bool a = xzp.buffer != nullptr, b = wsum.buffer != nullptr;
    VKRT_CHECK(a == b, Status::invalid_argument, who, ": xzp and wsum must be bound together (asymmetric "
               "activations) or both left unbound");
    if (!a) return false;
    VKRT_CHECK(K <= kMaxKAsym, Status::invalid_argument, who, ": K=", K, " exceeds ", kMaxKAsym,
               " for asymmetric activations (int32 accumulators could overflow)");
    require_bytes(xzp, uint64_t(M) * 4, who, "xzp");
    require_bytes(wsum, uint64_t(N) * 4, who, "wsum");
    return true;
}

void record(Recorder& rec, const char* who, const BufferView& xq, const BufferView& sx, const BufferView& wq,
            const BufferView& sw, const BufferView& bias, const BufferView& y, const BufferView& xzp,
            const BufferView& wsum, bool asym, uint32_t M, uint32_t N, uint32_t K, Mode mode, GemmInt8Path path) {
    const Device& dev = rec.device();
    const Capabilities& caps = dev.caps();
    if (path == GemmInt8Path::automatic)
        path = M <= kGemvMaxM                     ? GemmInt8Path::gemv
               : gemm_int8_coopmat_supported(dev) ? GemmInt8Path::coopmat
                                                  : GemmInt8Path::tiled;
    const uint32_t Kw = packed_row_words(K);
    const shader::GemmInt8Push pc{M, N, K, Kw, mode, asym ? 1u : 0u};
    using V = spv::Variant;
    // Unused bindings (scales in raw mode, bias without one) get a bound operand that is never read.
    const BufferView sx_b = mode == kRaw ? xq : sx, sw_b = mode == kRaw ? wq : sw;
    const BufferView bias_b = mode == kScaledBias ? bias : sw_b;
    const BufferView xzp_b = asym ? xzp : xq, wsum_b = asym ? wsum : wq;

    if (path == GemmInt8Path::gemv) {
        const uint32_t NR = M <= 2 ? 4 : 2;  // output columns per workgroup
        const V v = caps.int_dot ? (caps.subgroup ? V::gemv_int8_dot_sg : V::gemv_int8_dot_shared)
                                 : (caps.subgroup ? V::gemv_int8_nodot_sg : V::gemv_int8_nodot_shared);
        const Pipeline& p = rec.device().pipeline(v, {kGemvLocal, M, NR});
        rec.dispatch(p, {xq, wq, sx_b, sw_b, bias_b, y, xzp_b, wsum_b}, pc, groups_1d(dev, div_up(N, NR), 1));
        return;
    }
    if (path == GemmInt8Path::coopmat) {
        VKRT_CHECK(gemm_int8_coopmat_supported(dev), Status::unsupported, who, ": path coopmat needs 16x16x16 ",
                   "s8 x s8 -> s32 cooperative matrices (VK_KHR_cooperative_matrix) and shaderInt8, which ",
                   caps.name, " does not offer", caps.forced_no_coopmat ? " (VKRT_DISABLE=coopmat)" : "");
        constexpr uint32_t kTile = 32;  // gemm_int8.comp CM_T
        const Groups g{div_up(N, kTile), div_up(M, kTile), 1};
        VKRT_CHECK(g.x <= caps.max_workgroup_count[0] && g.y <= caps.max_workgroup_count[1], Status::limit_exceeded,
                   who, ": M=", M, " N=", N, " needs ", g.x, " x ", g.y, " workgroups, over the device's limits");
        const Pipeline& p = rec.device().pipeline(spv::Variant::gemm_int8_cm, {caps.subgroup_size});
        rec.dispatch(p, {xq, wq, sx_b, sw_b, bias_b, y, xzp_b, wsum_b}, pc, g);
        return;
    }
    // Tiled: a BM x 64 tile per workgroup, 16 words (64 int8) per K step. BM follows M so
    // that small M does not waste a 64-row tile; each thread holds (BM/16) x TN accumulators.
    // Where the compiler keeps loops rolled (Capabilities::unrolls_loops off: Arm Mali) the
    // accumulator array is indexed dynamically: 16-row tiles at every M (one accumulator row a
    // thread; Mali-G610 spilled 24:41 spills:fills at 64 rows, none at 16: docs/GPU.md).
    const uint32_t BM = M <= 16 || !caps.unrolls_loops ? 16 : M <= 32 ? 32 : 64, BN = 64, BKW = 16;
    const uint32_t TN = caps.max_workgroup_invocations >= 256 ? 4 : 8, TM = BM / 16;
    const uint32_t local = (BM / TM) * (BN / TN);
    const Groups g{div_up(N, BN), div_up(M, BM), 1};
    VKRT_CHECK(g.x <= caps.max_workgroup_count[0] && g.y <= caps.max_workgroup_count[1], Status::limit_exceeded, who,
               ": M=", M, " N=", N, " needs ", g.x, " x ", g.y, " workgroups, over the device's limits");
    const Pipeline& p =
        rec.device().pipeline(caps.int_dot ? V::gemm_int8_dot : V::gemm_int8_nodot, {local, BM, BN, BKW, TM, TN});
    rec.dispatch(p, {xq, wq, sx_b, sw_b, bias_b, y, xzp_b, wsum_b}, pc, g);
}
}  // namespace

bool gemm_int8_coopmat_supported(const Device& dev) {
    const auto& caps = dev.caps();
    constexpr uint32_t kS8 = 3, kS32 = 5;  // VkComponentTypeKHR
    return caps.int8 && caps.has_coopmat(16, 16, 16, kS8, kS8, kS32, kS32) && caps.subgroup_size >= 4 &&
           caps.subgroup_size <= caps.max_workgroup_invocations;
}

void gemm_int8(Recorder& rec, const BufferView& xq, const BufferView& sx, const BufferView& wq, const BufferView& sw,
               const BufferView& bias, const BufferView& y, uint32_t M, uint32_t N, uint32_t K, GemmInt8Path path,
               const BufferView& xzp, const BufferView& wsum) {
    check_shape("gemm_int8", M, N, K, path);
    const bool asym = check_asym("gemm_int8", xzp, wsum, M, N, K);
    const uint64_t Kw = packed_row_words(K);
    require_bytes(xq, uint64_t(M) * Kw * 4, "gemm_int8", "xq");
    require_bytes(sx, uint64_t(M) * 4, "gemm_int8", "sx");
    require_bytes(wq, uint64_t(N) * Kw * 4, "gemm_int8", "wq");
    require_bytes(sw, uint64_t(N) * 4, "gemm_int8", "sw");
    const bool has_bias = bias.buffer != nullptr;
    if (has_bias) require_bytes(bias, uint64_t(N) * 4, "gemm_int8", "bias");
    require_bytes(y, uint64_t(M) * N * 4, "gemm_int8", "y");
    record(rec, "gemm_int8", xq, sx, wq, sw, bias, y, xzp, wsum, asym, M, N, K, has_bias ? kScaledBias : kScaled,
           path);
}

void gemm_int8_i32(Recorder& rec, const BufferView& xq, const BufferView& wq, const BufferView& acc, uint32_t M,
                   uint32_t N, uint32_t K, GemmInt8Path path, const BufferView& xzp, const BufferView& wsum) {
    check_shape("gemm_int8_i32", M, N, K, path);
    const bool asym = check_asym("gemm_int8_i32", xzp, wsum, M, N, K);
    const uint64_t Kw = packed_row_words(K);
    require_bytes(xq, uint64_t(M) * Kw * 4, "gemm_int8_i32", "xq");
    require_bytes(wq, uint64_t(N) * Kw * 4, "gemm_int8_i32", "wq");
    require_bytes(acc, uint64_t(M) * N * 4, "gemm_int8_i32", "acc");
    record(rec, "gemm_int8_i32", xq, {}, wq, {}, {}, acc, xzp, wsum, asym, M, N, K, kRaw, path);
}

void int8_row_sums(Recorder& rec, const BufferView& wq, const BufferView& wsum, uint32_t N, uint32_t K) {
    VKRT_CHECK(N >= 1 && K >= 1, Status::invalid_argument, "int8_row_sums: empty shape N=", N, " K=", K);
    VKRT_CHECK(K <= kMaxKRowSum, Status::invalid_argument, "int8_row_sums: K=", K, " could overflow int32");
    const uint32_t Kw = packed_row_words(K);
    require_bytes(wq, uint64_t(N) * Kw * 4, "int8_row_sums", "wq");
    require_bytes(wsum, uint64_t(N) * 4, "int8_row_sums", "wsum");
    const shader::Int8RowSumsPush pc{N, K, Kw};
    rec.dispatch(rec.device().pipeline(spv::Variant::int8_row_sums, {kRowSumLocal}), {wq, wsum}, pc,
                 groups_1d(rec.device(), N, 1));
}

std::vector<int32_t> int8_row_sums(std::span<const int8_t> wq, uint32_t N, uint32_t K) {
    VKRT_CHECK(wq.size() == uint64_t(N) * K, Status::invalid_argument, "int8_row_sums: wq holds ", wq.size(),
               " values, N*K = ", uint64_t(N) * K);
    VKRT_CHECK(K <= kMaxKRowSum, Status::invalid_argument, "int8_row_sums: K=", K, " could overflow int32");
    std::vector<int32_t> s(N, 0);
    for (uint32_t n = 0; n < N; ++n) {
        const int8_t* r = wq.data() + size_t(n) * K;
        int32_t a = 0;
        for (uint32_t k = 0; k < K; ++k) a += r[k];
        s[n] = a;
    }
    return s;
}

}  // namespace vkrt::ops
