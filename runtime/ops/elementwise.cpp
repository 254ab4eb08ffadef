#include "ops/elementwise.hpp"

#include <cmath>

#include "ops/dispatch.hpp"

namespace vkrt::ops {

namespace {
constexpr uint32_t kLocal = 256;


void gated(Recorder& rec, const char* kernel, const BufferView& gate, const BufferView& up, const BufferView& out,
           uint32_t n) {
    require_bytes(gate, uint64_t(n) * 4, kernel, "gate");
    require_bytes(up, uint64_t(n) * 4, kernel, "up");
    require_bytes(out, uint64_t(n) * 4, kernel, "out");
    struct { uint32_t n; } pc{n};
    rec.dispatch(rec.device().pipeline(kernel, {kLocal}), {gate, up, out}, pc, groups_1d(rec.device(), n, kLocal));
}
}  // namespace

void add(Recorder& rec, const BufferView& a, const BufferView& b, const BufferView& out, uint32_t n) {
    require_bytes(a, uint64_t(n) * 4, "add", "a");
    require_bytes(b, uint64_t(n) * 4, "add", "b");
    require_bytes(out, uint64_t(n) * 4, "add", "out");
    struct { uint32_t n; } pc{n};
    rec.dispatch(rec.device().pipeline("add", {kLocal}), {a, b, out}, pc, groups_1d(rec.device(), n, kLocal));
}

void add_bias(Recorder& rec, const BufferView& x, const BufferView& b, const BufferView& out, uint32_t M, uint32_t N) {
    VKRT_CHECK(M >= 1 && N >= 1 && uint64_t(M) * N <= 0xffffffffull, Status::invalid_argument,
               "add_bias: bad shape M=", M, " N=", N);
    const uint32_t n = M * N;
    require_bytes(x, uint64_t(n) * 4, "add_bias", "x");
    require_bytes(b, uint64_t(N) * 4, "add_bias", "b");
    require_bytes(out, uint64_t(n) * 4, "add_bias", "out");
    struct { uint32_t n, nb; } pc{n, N};
    rec.dispatch(rec.device().pipeline("add_bias", {kLocal}), {x, b, out}, pc, groups_1d(rec.device(), n, kLocal));
}

void scale(Recorder& rec, const BufferView& x, float s, const BufferView& out, uint32_t n) {
    VKRT_CHECK(n >= 1 && std::isfinite(s), Status::invalid_argument, "scale: n = ", n, ", s = ", s);
    require_bytes(x, uint64_t(n) * 4, "scale", "x");
    require_bytes(out, uint64_t(n) * 4, "scale", "out");
    struct { uint32_t n; float s; } pc{n, s};
    rec.dispatch(rec.device().pipeline("scale", {kLocal}), {x, out}, pc, groups_1d(rec.device(), n, kLocal));
}

void swiglu(Recorder& rec, const BufferView& gate, const BufferView& up, const BufferView& out, uint32_t n) {
    gated(rec, "swiglu", gate, up, out, n);
}

void geglu(Recorder& rec, const BufferView& gate, const BufferView& up, const BufferView& out, uint32_t n) {
    gated(rec, "geglu", gate, up, out, n);
}

}  // namespace vkrt::ops
