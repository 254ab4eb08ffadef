#include "ops/elementwise.hpp"

#include <cmath>

#include "ops/dispatch.hpp"
#include "shared/elementwise.h"
#include "vk/shaders.hpp"

namespace vkrt::ops {

namespace {
constexpr uint32_t kLocal = 256;


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
    rec.dispatch(rec.device().pipeline(variant, {kLocal}), {gate, up, out}, shader::GluPush{n, F, stride},
                 groups_1d(rec.device(), n, kLocal));
}
}  // namespace

void add(Recorder& rec, const BufferView& a, const BufferView& b, const BufferView& out, uint32_t n) {
    require_bytes(a, uint64_t(n) * 4, "add", "a");
    require_bytes(b, uint64_t(n) * 4, "add", "b");
    require_bytes(out, uint64_t(n) * 4, "add", "out");
    rec.dispatch(rec.device().pipeline(spv::Variant::add, {kLocal}), {a, b, out}, shader::AddPush{n}, groups_1d(rec.device(), n, kLocal));
}

void add_bias(Recorder& rec, const BufferView& x, const BufferView& b, const BufferView& out, uint32_t M, uint32_t N) {
    VKRT_CHECK(M >= 1 && N >= 1 && uint64_t(M) * N <= 0xffffffffull, Status::invalid_argument,
               "add_bias: bad shape M=", M, " N=", N);
    const uint32_t n = M * N;
    require_bytes(x, uint64_t(n) * 4, "add_bias", "x");
    require_bytes(b, uint64_t(N) * 4, "add_bias", "b");
    require_bytes(out, uint64_t(n) * 4, "add_bias", "out");
    rec.dispatch(rec.device().pipeline(spv::Variant::add_bias, {kLocal}), {x, b, out}, shader::AddBiasPush{n, N}, groups_1d(rec.device(), n, kLocal));
}

void scale(Recorder& rec, const BufferView& x, float s, const BufferView& out, uint32_t n) {
    VKRT_CHECK(n >= 1 && std::isfinite(s), Status::invalid_argument, "scale: n = ", n, ", s = ", s);
    require_bytes(x, uint64_t(n) * 4, "scale", "x");
    require_bytes(out, uint64_t(n) * 4, "scale", "out");
    rec.dispatch(rec.device().pipeline(spv::Variant::scale, {kLocal}), {x, out}, shader::ScalePush{n, s}, groups_1d(rec.device(), n, kLocal));
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
