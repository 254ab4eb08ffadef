// Diagnostics that the library itself prints (validation-layer messages). On
// Android stderr goes nowhere, so they go to logcat (tag "vkrt"); elsewhere to
// stderr as one line "vkrt: <prefix><message>". Never allocates or throws, so it
// is safe inside Vulkan callbacks.
#pragma once
#include <string_view>

namespace vkrt {

enum class LogLevel { info, warning, error };

void log_line(LogLevel level, std::string_view prefix, std::string_view message) noexcept;

}  // namespace vkrt
