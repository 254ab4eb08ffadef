#include "ops/norm.hpp"

#include <algorithm>
#include <cmath>

#include "ops/dispatch.hpp"
#include "ops/matmul.hpp"
#include "shared/norm.h"
#include "vk/shaders.hpp"

namespace vkrt::ops {

namespace {
// Workgroup size of the row kernels (a power of two: the shared-memory variants
// reduce with a tree). 256 threads keep wide rows (K = 4096) at 16 elements a thread;
// devices that allow fewer get fewer (fit_local).
constexpr uint32_t kRowLocal = 256;

// One workgroup per row; rows fold into y when M exceeds the x limit.
Groups row_groups(const Device& dev, uint32_t M) { return groups_1d(dev, M, 1); }

// K: the row length. On CPU implementations (lavapipe), which run a workgroup as SIMD
// batches of one subgroup and pay for every batch, a short row (K = 64, or a per-head norm
// of 8) gets as few threads as cover it, at least one subgroup. Each thread still takes the
// same elements and the threads left out only held zeros: the sums are the same bit for bit.
// sg / shared: the kernel's subgroup and shared-memory variants.
// add: rmsnorm.comp's ADD constant (constant_id 1; only rmsnorm has it: ~0u = none).
const Pipeline& row_pipeline(Recorder& rec, spv::Variant sg, spv::Variant shared, uint32_t K = kRowLocal,
                             uint32_t add = ~0u) {
    const auto& caps = rec.device().caps();
    const uint32_t widest = fit_local(caps, kRowLocal);
    uint32_t L = widest;
    if (caps.cpu_tuning)
        for (L = std::min(std::max<uint32_t>(caps.subgroup_size, 1), widest); L < K && L < widest;) L *= 2;
    if (add != ~0u) return rec.device().pipeline(caps.subgroup ? sg : shared, {L, add});
    return rec.device().pipeline(caps.subgroup ? sg : shared, {L});
}
}  // namespace

void rmsnorm(Recorder& rec, const BufferView& x, const BufferView& w, const BufferView& y, uint32_t M, uint32_t K,
             float eps) {
    rmsnorm(rec, x, w, y, M, K, eps, NormRows{});
}

void rmsnorm(Recorder& rec, const BufferView& x, const BufferView& w, const BufferView& y, uint32_t M, uint32_t K,
             float eps, NormRows rows) {
    VKRT_CHECK(M >= 1 && K >= 1, Status::invalid_argument, "rmsnorm: empty shape M=", M, " K=", K);
    VKRT_CHECK(std::isfinite(eps) && eps >= 0.f, Status::invalid_argument, "rmsnorm: eps must be finite and >= 0, got ",
               eps);
    if (rows.stride == 0) rows.stride = K;
    VKRT_CHECK(rows.group >= 1 && uint64_t(rows.group) * K <= rows.stride, Status::invalid_argument,
               "rmsnorm: a group of ", rows.group, " rows of ", K, " does not fit the stride ", rows.stride);
    // The last row's end: (groups - 1) * stride + group * K floats (a partial last group counts whole).
    const uint64_t groups = (uint64_t(M) + rows.group - 1) / rows.group;
    const uint64_t span = (groups - 1) * rows.stride + uint64_t(std::min(M, rows.group)) * K;
    VKRT_CHECK(span < (uint64_t(1) << 32), Status::limit_exceeded, "rmsnorm: ", span, " floats exceed 32-bit indexing");
    require_bytes(x, span * 4, "rmsnorm", "x");
    require_bytes(w, uint64_t(K) * 4, "rmsnorm", "w");
    require_bytes(y, span * 4, "rmsnorm", "y");
    const shader::RmsNormPush pc{M, K, eps, rows.group, rows.stride};
    rec.dispatch(row_pipeline(rec, spv::Variant::rmsnorm_sg, spv::Variant::rmsnorm_shared, K), {x, w, y}, pc, row_groups(rec.device(), M));
}

void rmsnorm_add(Recorder& rec, const BufferView& x, const BufferView& w, const BufferView& y, uint32_t M, uint32_t K,
                 float eps) {
    VKRT_CHECK(M >= 1 && K >= 1, Status::invalid_argument, "rmsnorm_add: empty shape M=", M, " K=", K);
    VKRT_CHECK(std::isfinite(eps) && eps >= 0.f, Status::invalid_argument,
               "rmsnorm_add: eps must be finite and >= 0, got ", eps);
    VKRT_CHECK(uint64_t(M) * K < (uint64_t(1) << 32), Status::limit_exceeded, "rmsnorm_add: (M,K) = (", M, ",", K,
               ") is too large for 32-bit indexing");
    VKRT_CHECK(x.buffer != y.buffer || x.offset + uint64_t(M) * K * 4 <= y.offset ||
                   y.offset + uint64_t(M) * K * 4 <= x.offset,
               Status::invalid_argument, "rmsnorm_add: y must not alias x");
    require_bytes(x, uint64_t(M) * K * 4, "rmsnorm_add", "x");
    require_bytes(w, uint64_t(K) * 4, "rmsnorm_add", "w");
    require_bytes(y, uint64_t(M) * K * 4, "rmsnorm_add", "y");
    const shader::RmsNormPush pc{M, K, eps, 1, K};
    rec.dispatch(row_pipeline(rec, spv::Variant::rmsnorm_sg, spv::Variant::rmsnorm_shared, K, 1), {x, w, y}, pc,
                 row_groups(rec.device(), M));
}

void rmsnorm_q8_1(Recorder& rec, const BufferView& x, const BufferView& w, float eps, const BufferView& xq,
                  uint32_t M, uint32_t K, const BufferView& y) {
    const char* kn = "rmsnorm_q8_1";
    VKRT_CHECK(M >= 1 && K >= 32 && K % 32 == 0, Status::invalid_argument, kn, ": (M,K) = (", M, ",", K,
               "): K must be a positive multiple of 32");
    VKRT_CHECK(std::isfinite(eps) && eps >= 0.f, Status::invalid_argument, kn, ": eps must be finite and >= 0, got ",
               eps);
    VKRT_CHECK(uint64_t(M) * K < (uint64_t(1) << 32), Status::limit_exceeded, kn, ": (M,K) = (", M, ",", K,
               ") is too large for 32-bit indexing");
    require_bytes(x, uint64_t(M) * K * 4, kn, "x");
    require_bytes(w, uint64_t(K) * 4, kn, "w");
    require_bytes(xq, matmul_scratch_bytes(M, K), kn, "xq");
    if (y.buffer) require_bytes(y, uint64_t(M) * K * 4, kn, "y");
    const shader::RmsNormQ8Push pc{M, K, eps, y.buffer ? 1u : 0u};
    // Unwritten y: bound to xq (the shader never touches it), no dummy buffer.
    rec.dispatch(row_pipeline(rec, spv::Variant::rmsnorm_q8_1_sg, spv::Variant::rmsnorm_q8_1_shared, K), {x, w, xq, y.buffer ? y : xq}, pc, row_groups(rec.device(), M));
}

void rmsnorm_add_norm(Recorder& rec, const BufferView& p, const BufferView& w_post, float eps_post, const BufferView& x,
                      const BufferView& w_next, float eps_next, uint32_t M, uint32_t K, const BufferView& y,
                      const BufferView& xq) {
    const char* kn = "rmsnorm_add_norm";
    VKRT_CHECK(M >= 1 && K >= 1, Status::invalid_argument, kn, ": empty shape M=", M, " K=", K);
    VKRT_CHECK(std::isfinite(eps_post) && eps_post >= 0.f && std::isfinite(eps_next) && eps_next >= 0.f,
               Status::invalid_argument, kn, ": eps must be finite and >= 0, got ", eps_post, " and ", eps_next);
    VKRT_CHECK(y.buffer || xq.buffer, Status::invalid_argument, kn, ": neither y nor xq is bound");
    VKRT_CHECK(!xq.buffer || (K >= 32 && K % 32 == 0), Status::invalid_argument, kn, ": (M,K) = (", M, ",", K,
               "): the q8_1 output needs K a positive multiple of 32");
    const uint64_t bytes = uint64_t(M) * K * 4;
    VKRT_CHECK(bytes / 4 < (uint64_t(1) << 32), Status::limit_exceeded, kn, ": (M,K) = (", M, ",", K,
               ") is too large for 32-bit indexing");
    require_bytes(p, bytes, kn, "p");
    require_bytes(x, bytes, kn, "x");
    require_bytes(w_post, uint64_t(K) * 4, kn, "w_post");
    require_bytes(w_next, uint64_t(K) * 4, kn, "w_next");
    if (y.buffer) require_bytes(y, bytes, kn, "y");
    if (xq.buffer) require_bytes(xq, matmul_scratch_bytes(M, K), kn, "xq");
    // Whether views a and b (a_bytes, b_bytes long) share a byte.
    auto overlap = [](const BufferView& a, uint64_t a_bytes, const BufferView& b, uint64_t b_bytes) {
        return a.buffer && b.buffer && a.buffer == b.buffer && a.offset < b.offset + b_bytes &&
               b.offset < a.offset + a_bytes;
    };
    const uint64_t qbytes = xq.buffer ? matmul_scratch_bytes(M, K) : 0;
    VKRT_CHECK(!overlap(p, bytes, x, bytes) && !overlap(y, bytes, p, bytes) && !overlap(y, bytes, x, bytes) &&
                   !overlap(xq, qbytes, p, bytes) && !overlap(xq, qbytes, x, bytes) && !overlap(xq, qbytes, y, bytes),
               Status::invalid_argument, kn, ": p, x, y and xq must not alias");
    const shader::RmsNormAddNormPush pc{M, K, eps_post, eps_next, y.buffer ? 1u : 0u, xq.buffer ? 1u : 0u};
    // An output not written is bound to x (the shader never touches it), no dummy buffer.
    rec.dispatch(row_pipeline(rec, spv::Variant::rmsnorm_add_norm_sg, spv::Variant::rmsnorm_add_norm_shared, K),
                 {p, w_post, x, w_next, y.buffer ? y : x, xq.buffer ? xq : x}, pc, row_groups(rec.device(), M));
}

void softmax(Recorder& rec, const BufferView& x, const BufferView& y, uint32_t M, uint32_t N) {
    VKRT_CHECK(M >= 1 && N >= 1, Status::invalid_argument, "softmax: empty shape M=", M, " N=", N);
    require_bytes(x, uint64_t(M) * N * 4, "softmax", "x");
    require_bytes(y, uint64_t(M) * N * 4, "softmax", "y");
    const shader::RowPush pc{M, N};
    rec.dispatch(row_pipeline(rec, spv::Variant::softmax_sg, spv::Variant::softmax_shared), {x, y}, pc, row_groups(rec.device(), M));
}

void argmax(Recorder& rec, const BufferView& logits, const BufferView& idx, uint32_t M, uint32_t N) {
    VKRT_CHECK(M >= 1 && N >= 1, Status::invalid_argument, "argmax: empty shape M=", M, " N=", N);
    require_bytes(logits, uint64_t(M) * N * 4, "argmax", "logits");
    require_bytes(idx, uint64_t(M) * 4, "argmax", "idx");
    const shader::RowPush pc{M, N};
    rec.dispatch(row_pipeline(rec, spv::Variant::argmax_sg, spv::Variant::argmax_shared), {logits, idx}, pc, row_groups(rec.device(), M));
}

}  // namespace vkrt::ops
