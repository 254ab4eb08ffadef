#include "core/log.hpp"

#include <cstdio>

#if defined(__ANDROID__)
#include <android/log.h>
#endif

namespace vkrt {

void log_line(LogLevel level, std::string_view prefix, std::string_view message) noexcept {
#if defined(__ANDROID__)
    const int prio = level == LogLevel::error     ? ANDROID_LOG_ERROR
                     : level == LogLevel::warning ? ANDROID_LOG_WARN
                                                  : ANDROID_LOG_INFO;
    __android_log_print(prio, "vkrt", "%.*s%.*s", int(prefix.size()), prefix.data(), int(message.size()),
                        message.data());
#else
    (void)level;
    std::fprintf(stderr, "vkrt: %.*s%.*s\n", int(prefix.size()), prefix.data(), int(message.size()),
                 message.data());
#endif
}

}  // namespace vkrt
