#include "ops/norm.hpp"

#include <algorithm>
#include <cmath>

#include "ops/dispatch.hpp"

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
const Pipeline& row_pipeline(Recorder& rec, const char* family, uint32_t K = kRowLocal) {
    const auto& caps = rec.device().caps();
    const uint32_t widest = fit_local(caps, kRowLocal);
    uint32_t L = widest;
    if (caps.cpu_tuning)
        for (L = std::min(std::max<uint32_t>(caps.subgroup_size, 1), widest); L < K && L < widest;) L *= 2;
    return rec.device().pipeline(std::string(family) + (caps.subgroup ? "_sg" : "_shared"), {L});
}
}  // namespace

void rmsnorm(Recorder& rec, const BufferView& x, const BufferView& w, const BufferView& y, uint32_t M, uint32_t K,
             float eps) {
    VKRT_CHECK(M >= 1 && K >= 1, Status::invalid_argument, "rmsnorm: empty shape M=", M, " K=", K);
    VKRT_CHECK(std::isfinite(eps) && eps >= 0.f, Status::invalid_argument, "rmsnorm: eps must be finite and >= 0, got ",
               eps);
    require_bytes(x, uint64_t(M) * K * 4, "rmsnorm", "x");
    require_bytes(w, uint64_t(K) * 4, "rmsnorm", "w");
    require_bytes(y, uint64_t(M) * K * 4, "rmsnorm", "y");
    struct { uint32_t M, K; float eps; } pc{M, K, eps};
    rec.dispatch(row_pipeline(rec, "rmsnorm", K), {x, w, y}, pc, row_groups(rec.device(), M));
}

void softmax(Recorder& rec, const BufferView& x, const BufferView& y, uint32_t M, uint32_t N) {
    VKRT_CHECK(M >= 1 && N >= 1, Status::invalid_argument, "softmax: empty shape M=", M, " N=", N);
    require_bytes(x, uint64_t(M) * N * 4, "softmax", "x");
    require_bytes(y, uint64_t(M) * N * 4, "softmax", "y");
    struct { uint32_t M, N; } pc{M, N};
    rec.dispatch(row_pipeline(rec, "softmax"), {x, y}, pc, row_groups(rec.device(), M));
}

void argmax(Recorder& rec, const BufferView& logits, const BufferView& idx, uint32_t M, uint32_t N) {
    VKRT_CHECK(M >= 1 && N >= 1, Status::invalid_argument, "argmax: empty shape M=", M, " N=", N);
    require_bytes(logits, uint64_t(M) * N * 4, "argmax", "logits");
    require_bytes(idx, uint64_t(M) * 4, "argmax", "idx");
    struct { uint32_t M, N; } pc{M, N};
    rec.dispatch(row_pipeline(rec, "argmax"), {logits, idx}, pc, row_groups(rec.device(), M));
}

}  // namespace vkrt::ops
