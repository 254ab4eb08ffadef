#include "ops/quantize.hpp"

#include <cmath>

#include "ops/dispatch.hpp"

namespace vkrt::ops {

namespace {
// Workgroup size of the row kernels: a power of two (the shared-memory variants
// reduce with a tree); 256 threads keep K = 11008 at 11 words a thread.
constexpr uint32_t kQuantLocal = 256;

const Pipeline& quant_pipeline(Recorder& rec, const char* family) {
    const bool sg = rec.device().caps().subgroup;
    return rec.device().pipeline(std::string(family) + (sg ? "_sg" : "_shared"), {kQuantLocal});
}
}  // namespace

void quantize_rows_i8(Recorder& rec, const BufferView& x, const BufferView& xq, const BufferView& sx, uint32_t M,
                      uint32_t K) {
    VKRT_CHECK(M >= 1 && K >= 1, Status::invalid_argument, "quantize_rows_i8: empty shape M=", M, " K=", K);
    const uint32_t Kw = packed_row_words(K);
    require_bytes(x, uint64_t(M) * K * 4, "quantize_rows_i8", "x");
    require_bytes(xq, uint64_t(M) * Kw * 4, "quantize_rows_i8", "xq");
    require_bytes(sx, uint64_t(M) * 4, "quantize_rows_i8", "sx");
    struct { uint32_t M, K, Kw; } pc{M, K, Kw};
    rec.dispatch(quant_pipeline(rec, "quantize_rows"), {x, xq, sx}, pc, groups_1d(rec.device(), M, 1));
}

void rmsnorm_quantize_rows_i8(Recorder& rec, const BufferView& x, const BufferView& w, const BufferView& smooth,
                              const BufferView& xq, const BufferView& sx, uint32_t M, uint32_t K, float eps) {
    VKRT_CHECK(M >= 1 && K >= 1, Status::invalid_argument, "rmsnorm_quantize_rows_i8: empty shape M=", M, " K=", K);
    VKRT_CHECK(std::isfinite(eps) && eps >= 0.f, Status::invalid_argument,
               "rmsnorm_quantize_rows_i8: eps must be finite and >= 0, got ", eps);
    const uint32_t Kw = packed_row_words(K);
    const bool has_smooth = smooth.buffer != nullptr;
    require_bytes(x, uint64_t(M) * K * 4, "rmsnorm_quantize_rows_i8", "x");
    require_bytes(w, uint64_t(K) * 4, "rmsnorm_quantize_rows_i8", "w");
    if (has_smooth) require_bytes(smooth, uint64_t(K) * 4, "rmsnorm_quantize_rows_i8", "smooth");
    require_bytes(xq, uint64_t(M) * Kw * 4, "rmsnorm_quantize_rows_i8", "xq");
    require_bytes(sx, uint64_t(M) * 4, "rmsnorm_quantize_rows_i8", "sx");
    struct { uint32_t M, K, Kw; float eps; uint32_t has_smooth; } pc{M, K, Kw, eps, has_smooth ? 1u : 0u};
    // Without smoothing, w is bound in its place (never read).
    rec.dispatch(quant_pipeline(rec, "rmsnorm_quantize_rows"), {x, w, has_smooth ? smooth : w, xq, sx}, pc,
                 groups_1d(rec.device(), M, 1));
}

}  // namespace vkrt::ops
