#include "ops/elementwise.hpp"

#include <cmath>

#include "ops/dispatch.hpp"
#include "shared/elementwise.h"
#include "vk/shaders.hpp"

namespace vkrt::ops {

namespace {
// Threads a workgroup (fewer where the device allows fewer: fit_local).
constexpr uint32_t kLocal = 256;

// Records an elementwise kernel over n elements with a workgroup the device allows.
template <typename PC>
void elementwise(Recorder& rec, spv::Variant kernel, std::initializer_list<BufferView> bindings, const PC& pc,
                 uint32_t n) {
    const uint32_t L = fit_local(rec.device().caps(), kLocal);
    rec.dispatch(rec.device().pipeline(kernel, {L}), bindings, pc, groups_1d(rec.device(), n, L));
}

// gate, up (M,F) rows `stride` apart -> out (M,F).
void gated(Recorder& rec, spv::Variant variant, const char* kernel, const BufferView& gate, const BufferView& up, const BufferView& out,
           uint32_t M, uint32_t F, uint32_t stride) {
    VKRT_CHECK(M >= 1 && F >= 1 && stride >= F && uint64_t(M) * stride <= 0xffffffffull, Status::invalid_argument,
               kernel, ": bad shape M=", M, " F=", F, " stride=", stride);
    const uint64_t span = uint64_t(M - 1) * stride + F;
    require_bytes(gate, span * 4, kernel, "gate");
    require_bytes(up, span * 4, kernel, "up");
    require_bytes(out, uint64_t(M) * F * 4, kernel, "out");
    const uint32_t n = M * F;
    elementwise(rec, variant, {gate, up, out}, shader::GluPush{n, F, stride}, n);
}
}  // namespace

void add(Recorder& rec, const BufferView& a, const BufferView& b, const BufferView& out, uint32_t n) {
    require_bytes(a, uint64_t(n) * 4, "add", "a");
    require_bytes(b, uint64_t(n) * 4, "add", "b");
    require_bytes(out, uint64_t(n) * 4, "add", "out");
    elementwise(rec, spv::Variant::add, {a, b, out}, shader::AddPush{n}, n);
}

void add_bias(Recorder& rec, const BufferView& x, const BufferView& b, const BufferView& out, uint32_t M, uint32_t N) {
    VKRT_CHECK(M >= 1 && N >= 1 && uint64_t(M) * N <= 0xffffffffull, Status::invalid_argument,
               "add_bias: bad shape M=", M, " N=", N);
    const uint32_t n = M * N;
    require_bytes(x, uint64_t(n) * 4, "add_bias", "x");
    require_bytes(b, uint64_t(N) * 4, "add_bias", "b");
    require_bytes(out, uint64_t(n) * 4, "add_bias", "out");
    elementwise(rec, spv::Variant::add_bias, {x, b, out}, shader::AddBiasPush{n, N}, n);
}

void scale(Recorder& rec, const BufferView& x, float s, const BufferView& out, uint32_t n) {
    VKRT_CHECK(n >= 1 && std::isfinite(s), Status::invalid_argument, "scale: n = ", n, ", s = ", s);
    require_bytes(x, uint64_t(n) * 4, "scale", "x");
    require_bytes(out, uint64_t(n) * 4, "scale", "out");
    elementwise(rec, spv::Variant::scale, {x, out}, shader::ScalePush{n, s}, n);
}

void swiglu(Recorder& rec, const BufferView& gate, const BufferView& up, const BufferView& out, uint32_t n) {
    gated(rec, spv::Variant::swiglu, "swiglu", gate, up, out, 1, n, n);
}

void geglu(Recorder& rec, const BufferView& gate, const BufferView& up, const BufferView& out, uint32_t n) {
    gated(rec, spv::Variant::geglu, "geglu", gate, up, out, 1, n, n);
}

void glu(Recorder& rec, uint32_t act, const BufferView& gate, const BufferView& up, const BufferView& out, uint32_t M,
         uint32_t F, uint32_t stride) {
    VKRT_CHECK(act <= 1, Status::invalid_argument, "glu: activation ", act, " is not SiLU (0) or GELU-tanh (1)");
    gated(rec, act == 1 ? spv::Variant::geglu : spv::Variant::swiglu, act == 1 ? "geglu" : "swiglu", gate, up, out, M, F, stride);
}

}  // namespace vkrt::ops
