// libFuzzer target: the saved-session parser (model/session_state.hpp) and the sampler
// state it carries (Sampler::load_state), without a GPU. Any input must end in success
// or a vkrt::Error.
//
// A random input almost never carries the right checksum, so half of the inputs (first
// byte odd) get their header's payload size and checksum recomputed before parsing:
// the fuzzer then reaches the section parsers behind the checksum.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "model/session_state.hpp"
#include "text/sampler.hpp"

namespace {

void fix_up(std::vector<uint8_t>& b) {
    using vkrt::model::StateHeader;
    if (b.size() < sizeof(StateHeader)) return;
    StateHeader h;
    std::memcpy(&h, b.data(), sizeof h);
    h.payload_bytes = b.size() - sizeof h;
    h.checksum = 0;
    vkrt::model::StateHash hash;
    hash.update(&h, sizeof h);
    hash.update(b.data() + sizeof h, b.size() - sizeof h);
    h.checksum = hash.digest();
    std::memcpy(b.data(), &h, sizeof h);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<uint8_t> b(data, data + size);
    if (size && (data[0] & 1)) fix_up(b);
    try {
        const vkrt::model::StateView s = vkrt::model::parse_state(b);
        // The C API's sampler section: a flag, vkrt_sampler_params (32 bytes), the state text.
        if (s.extra.size() >= 36) {
            vkrt::Sampler sampler;
            sampler.load_state(std::string(reinterpret_cast<const char*>(s.extra.data()) + 36, s.extra.size() - 36));
        }
    } catch (const vkrt::Error&) {
        // a named error is the expected outcome of a bad state
    }
    return 0;
}
