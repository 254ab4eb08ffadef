// Helpers shared by the host side of every kernel family (runtime/ops/*.cpp).
#pragma once
#include <cstdint>

#include "core/error.hpp"
#include "vk/buffer.hpp"
#include "vk/device.hpp"
#include "vk/pipeline.hpp"
#include "vk/recorder.hpp"

namespace vkrt::ops {

// Workgroups for n invocations of `local` threads each, folded into 2D when x
// would exceed the device's limit (shaders rebuild the flat index from x and y).
inline Groups groups_1d(const Device& dev, uint64_t n, uint32_t local) {
    uint64_t g = (n + local - 1) / local;
    uint64_t maxx = dev.caps().max_workgroup_count[0];
    if (g <= maxx) return {uint32_t(std::max<uint64_t>(g, 1)), 1, 1};
    uint64_t y = (g + maxx - 1) / maxx;
    VKRT_CHECK(y <= dev.caps().max_workgroup_count[1], Status::limit_exceeded, "dispatch of ", n,
               " invocations exceeds the device's workgroup-count limits");
    return {uint32_t((g + y - 1) / y), uint32_t(y), 1};
}

// Checks that a bound view holds at least `bytes`, naming the kernel and operand.
inline void require_bytes(const BufferView& v, uint64_t bytes, const char* kernel, const char* operand) {
    VKRT_CHECK(v.buffer != nullptr, Status::invalid_argument, kernel, ": operand '", operand, "' is not bound");
    VKRT_CHECK(v.bytes() >= bytes, Status::invalid_argument, kernel, ": operand '", operand, "' holds ", v.bytes(),
               " bytes, the shape needs ", bytes);
}

}  // namespace vkrt::ops
