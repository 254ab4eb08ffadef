#include "ops/quantize.hpp"

#include <cmath>

#include "ops/dispatch.hpp"
#include "shared/quantize.h"
#include "vk/shaders.hpp"

namespace vkrt::ops {

namespace {
// Workgroup size of the row kernels: a power of two (the shared-memory variants
// reduce with a tree); 256 threads keep K = 11008 at 11 words a thread.
constexpr uint32_t kQuantLocal = 256;

// pc.flags bits of shaders/quantize.comp (QF_*).
using shader::QF_ASYM;
using shader::QF_SMOOTH;
using shader::QF_STATIC;

const Pipeline& quant_pipeline(Recorder& rec, bool fused) {
    using spv::Variant;
    const bool sg = rec.device().caps().subgroup;
    const Variant v = fused ? (sg ? Variant::rmsnorm_quantize_rows_sg : Variant::rmsnorm_quantize_rows_shared)
                            : (sg ? Variant::quantize_rows_sg : Variant::quantize_rows_shared);
    return rec.device().pipeline(v, {fit_local(rec.device().caps(), kQuantLocal)});
}

// Checks and records one row-quantization dispatch. `w` unbound = the plain kernel.
void record(Recorder& rec, const char* who, const BufferView& x, const BufferView& w, const BufferView& smooth,
            const BufferView& static_scale, const BufferView& xq, const BufferView& sx, const BufferView& xzp,
            uint32_t M, uint32_t K, float eps) {
    const bool fused = w.buffer != nullptr;
    VKRT_CHECK(M >= 1 && K >= 1, Status::invalid_argument, who, ": empty shape M=", M, " K=", K);
    if (fused)
        VKRT_CHECK(std::isfinite(eps) && eps >= 0.f, Status::invalid_argument, who,
                   ": eps must be finite and >= 0, got ", eps);
    const uint32_t Kw = packed_row_words(K);
    const bool has_smooth = smooth.buffer != nullptr, is_static = static_scale.buffer != nullptr,
               asym = xzp.buffer != nullptr;
    require_bytes(x, uint64_t(M) * K * 4, who, "x");
    if (fused) require_bytes(w, uint64_t(K) * 4, who, "w");
    if (has_smooth) require_bytes(smooth, uint64_t(K) * 4, who, "smooth");
    if (is_static) require_bytes(static_scale, 4, who, "static_scale");
    require_bytes(xq, uint64_t(M) * Kw * 4, who, "xq");
    require_bytes(sx, uint64_t(M) * 4, who, "sx");
    if (asym) require_bytes(xzp, uint64_t(M) * 4, who, "xzp");
    const uint32_t flags = (has_smooth ? QF_SMOOTH : 0) | (is_static ? QF_STATIC : 0) | (asym ? QF_ASYM : 0);
    const shader::QuantizePush pc{M, K, Kw, fused ? eps : 0.f, flags};
    // Unused optional operands are bound to an operand of the call (never accessed).
    const BufferView& in = fused ? w : x;
    rec.dispatch(quant_pipeline(rec, fused),
                 {x, in, has_smooth ? smooth : in, is_static ? static_scale : in, xq, sx, asym ? xzp : sx}, pc,
                 groups_1d(rec.device(), M, 1));
}
}  // namespace

void quantize_rows_i8(Recorder& rec, const BufferView& x, const BufferView& xq, const BufferView& sx, uint32_t M,
                      uint32_t K, const BufferView& smooth, const BufferView& static_scale) {
    record(rec, "quantize_rows_i8", x, {}, smooth, static_scale, xq, sx, {}, M, K, 0.f);
}

void rmsnorm_quantize_rows_i8(Recorder& rec, const BufferView& x, const BufferView& w, const BufferView& smooth,
                              const BufferView& xq, const BufferView& sx, uint32_t M, uint32_t K, float eps,
                              const BufferView& static_scale) {
    require_bytes(w, uint64_t(K) * 4, "rmsnorm_quantize_rows_i8", "w");
    record(rec, "rmsnorm_quantize_rows_i8", x, w, smooth, static_scale, xq, sx, {}, M, K, eps);
}

void quantize_rows_asym_i8(Recorder& rec, const BufferView& x, const BufferView& xq, const BufferView& sx,
                           const BufferView& xzp, uint32_t M, uint32_t K, const BufferView& smooth) {
    require_bytes(xzp, uint64_t(M) * 4, "quantize_rows_asym_i8", "xzp");
    record(rec, "quantize_rows_asym_i8", x, {}, smooth, {}, xq, sx, xzp, M, K, 0.f);
}

void rmsnorm_quantize_rows_asym_i8(Recorder& rec, const BufferView& x, const BufferView& w,
                                   const BufferView& smooth, const BufferView& xq, const BufferView& sx,
                                   const BufferView& xzp, uint32_t M, uint32_t K, float eps) {
    require_bytes(w, uint64_t(K) * 4, "rmsnorm_quantize_rows_asym_i8", "w");
    require_bytes(xzp, uint64_t(M) * 4, "rmsnorm_quantize_rows_asym_i8", "xzp");
    record(rec, "rmsnorm_quantize_rows_asym_i8", x, w, smooth, {}, xq, sx, xzp, M, K, eps);
}

}  // namespace vkrt::ops
