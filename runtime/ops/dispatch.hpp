// Helpers shared by the host side of every kernel family (runtime/ops/*.cpp).
#pragma once
#include <algorithm>
#include <cstdint>

#include "core/error.hpp"
#include "vk/buffer.hpp"
#include "vk/device.hpp"
#include "vk/pipeline.hpp"
#include "vk/recorder.hpp"

namespace vkrt::ops {

// The workgroup size (x only) for a kernel that prefers `preferred` threads: the largest
// power of two <= preferred that the device allows (maxComputeWorkGroupInvocations and
// maxComputeWorkGroupSize[0]; 128 on the least capable devices, VKRT_LIMITS=min). Kernels
// that reduce over a workgroup with a shared-memory tree need the power of two.
inline uint32_t fit_local(const Capabilities& caps, uint32_t preferred) {
    const uint32_t limit = std::min(caps.max_workgroup_invocations, caps.max_workgroup_size[0]);
    uint32_t l = 1;
    while (l * 2 <= preferred && l * 2 <= limit) l *= 2;
    return l;
}

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
