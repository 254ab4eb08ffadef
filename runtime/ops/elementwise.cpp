#include "ops/elementwise.hpp"

#include "ops/dispatch.hpp"

namespace vkrt::ops {

void add(Recorder& rec, const BufferView& a, const BufferView& b, const BufferView& out, uint32_t n) {
    require_bytes(a, uint64_t(n) * 4, "add", "a");
    require_bytes(b, uint64_t(n) * 4, "add", "b");
    require_bytes(out, uint64_t(n) * 4, "add", "out");
    constexpr uint32_t kLocal = 256;
    const Pipeline& p = rec.device().pipeline("add", {kLocal});
    struct { uint32_t n; } pc{n};
    rec.dispatch(p, {a, b, out}, pc, groups_1d(rec.device(), n, kLocal));
}

void swiglu(Recorder& rec, const BufferView& gate, const BufferView& up, const BufferView& out, uint32_t n) {
    require_bytes(gate, uint64_t(n) * 4, "swiglu", "gate");
    require_bytes(up, uint64_t(n) * 4, "swiglu", "up");
    require_bytes(out, uint64_t(n) * 4, "swiglu", "out");
    constexpr uint32_t kLocal = 256;
    const Pipeline& p = rec.device().pipeline("swiglu", {kLocal});
    struct { uint32_t n; } pc{n};
    rec.dispatch(p, {gate, up, out}, pc, groups_1d(rec.device(), n, kLocal));
}

}  // namespace vkrt::ops
