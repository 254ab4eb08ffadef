// vkrt error model.
// Inside the C++ core every failure is a vkrt::Error (an exception carrying a
// vkrt::Status). The C API catches at its boundary and turns it into a status
// code plus a message (see include/vkrt/vkrt.h). Checks here stay on in
// release builds: never use assert() for something input can trigger.
#pragma once
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace vkrt {

// Keep in sync with vkrt_status in include/vkrt/vkrt.h (same numeric values).
enum class Status : int {
    ok = 0,
    invalid_argument = 1,    // wrong shapes, bad options, null handles
    io_error = 2,            // cannot open/read/write a file
    bad_format = 3,          // corrupt or unsupported file content (GGUF)
    unsupported = 4,         // missing device feature, unknown tensor type
    out_of_memory = 5,       // host or device allocation failed
    device_error = 6,        // Vulkan call failed, device lost, no device
    limit_exceeded = 7,      // e.g. tensor above maxStorageBufferRange, context full
    internal = 8,            // a bug in vkrt
    cancelled = 9,           // stopped on request (vkrt_session_cancel, a progress callback)
};

const char* status_name(Status s) noexcept;

class Error : public std::runtime_error {
public:
    Error(Status status, const std::string& msg) : std::runtime_error(msg), status_(status) {}
    Status status() const noexcept { return status_; }

private:
    Status status_;
};

namespace detail {
template <typename... Args>
std::string concat(Args&&... args) {
    std::ostringstream os;
    (os << ... << std::forward<Args>(args));
    return os.str();
}
}  // namespace detail

// throw vkrt::Error(status, "a" + "b" + ...) built with operator<<.
template <typename... Args>
[[noreturn]] void fail(Status status, Args&&... args) {
    throw Error(status, detail::concat(std::forward<Args>(args)...));
}

}  // namespace vkrt

// VKRT_CHECK(cond, status, message parts...): always on, also in release builds.
#define VKRT_CHECK(cond, status, ...)                         \
    do {                                                      \
        if (!(cond)) ::vkrt::fail((status), __VA_ARGS__);     \
    } while (0)
