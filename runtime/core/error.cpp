#include "core/error.hpp"

namespace vkrt {

const char* status_name(Status s) noexcept {
    switch (s) {
        case Status::ok: return "ok";
        case Status::invalid_argument: return "invalid argument";
        case Status::io_error: return "I/O error";
        case Status::bad_format: return "bad format";
        case Status::unsupported: return "unsupported";
        case Status::out_of_memory: return "out of memory";
        case Status::device_error: return "device error";
        case Status::limit_exceeded: return "limit exceeded";
        case Status::internal: return "internal error";
        case Status::cancelled: return "cancelled";
    }
    return "unknown status";
}

}  // namespace vkrt
