// VK_CHECK: turn a failed VkResult into vkrt::Error. Always on.
#pragma once
#include <vulkan/vulkan.h>

#include "core/error.hpp"

namespace vkrt::vk {
const char* result_name(VkResult r) noexcept;
[[noreturn]] void throw_result(VkResult r, const char* what);
}  // namespace vkrt::vk

#define VK_CHECK(expr)                                                        \
    do {                                                                      \
        VkResult vkrt_r_ = (expr);                                            \
        if (vkrt_r_ != VK_SUCCESS) ::vkrt::vk::throw_result(vkrt_r_, #expr);  \
    } while (0)
