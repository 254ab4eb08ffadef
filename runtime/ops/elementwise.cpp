#include "ops/elementwise.hpp"

#include <cmath>

#include "ops/dispatch.hpp"

namespace vkrt::ops {

namespace {
// Threads a workgroup (fewer where the device allows fewer: fit_local).
constexpr uint32_t kLocal = 256;

// Records an elementwise kernel over n elements with a workgroup the device allows.
template <typename PC>
void elementwise(Recorder& rec, const char* kernel, std::initializer_list<BufferView> bindings, const PC& pc,
                 uint32_t n) {
    const uint32_t L = fit_local(rec.device().caps(), kLocal);
    rec.dispatch(rec.device().pipeline(kernel, {L}), bindings, pc, groups_1d(rec.device(), n, L));
}

void gated(Recorder& rec, const char* kernel, const BufferView& gate, const BufferView& up, const BufferView& out,
           uint32_t n) {
    require_bytes(gate, uint64_t(n) * 4, kernel, "gate");
    require_bytes(up, uint64_t(n) * 4, kernel, "up");
    require_bytes(out, uint64_t(n) * 4, kernel, "out");
    struct { uint32_t n; } pc{n};
    elementwise(rec, kernel, {gate, up, out}, pc, n);
}
}  // namespace

void add(Recorder& rec, const BufferView& a, const BufferView& b, const BufferView& out, uint32_t n) {
    require_bytes(a, uint64_t(n) * 4, "add", "a");
    require_bytes(b, uint64_t(n) * 4, "add", "b");
    require_bytes(out, uint64_t(n) * 4, "add", "out");
    struct { uint32_t n; } pc{n};
    elementwise(rec, "add", {a, b, out}, pc, n);
}

void add_bias(Recorder& rec, const BufferView& x, const BufferView& b, const BufferView& out, uint32_t M, uint32_t N) {
    VKRT_CHECK(M >= 1 && N >= 1 && uint64_t(M) * N <= 0xffffffffull, Status::invalid_argument,
               "add_bias: bad shape M=", M, " N=", N);
    const uint32_t n = M * N;
    require_bytes(x, uint64_t(n) * 4, "add_bias", "x");
    require_bytes(b, uint64_t(N) * 4, "add_bias", "b");
    require_bytes(out, uint64_t(n) * 4, "add_bias", "out");
    struct { uint32_t n, nb; } pc{n, N};
    elementwise(rec, "add_bias", {x, b, out}, pc, n);
}

void scale(Recorder& rec, const BufferView& x, float s, const BufferView& out, uint32_t n) {
    VKRT_CHECK(n >= 1 && std::isfinite(s), Status::invalid_argument, "scale: n = ", n, ", s = ", s);
    require_bytes(x, uint64_t(n) * 4, "scale", "x");
    require_bytes(out, uint64_t(n) * 4, "scale", "out");
    struct { uint32_t n; float s; } pc{n, s};
    elementwise(rec, "scale", {x, out}, pc, n);
}

void swiglu(Recorder& rec, const BufferView& gate, const BufferView& up, const BufferView& out, uint32_t n) {
    gated(rec, "swiglu", gate, up, out, n);
}

void geglu(Recorder& rec, const BufferView& gate, const BufferView& up, const BufferView& out, uint32_t n) {
    gated(rec, "geglu", gate, up, out, n);
}

}  // namespace vkrt::ops
