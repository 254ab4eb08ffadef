// Small helpers shared by the samples: flag parsing, timing, default paths.
#pragma once
#include <chrono>
#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include "model/model.hpp"

namespace vkrt::cli {

// Flags in llama.cpp's style: "-m FILE", "--temp 0.7", "--flag".
class Args {
public:
    Args(int argc, char** argv);
    bool flag(const std::string& name);                             // consumes --name
    std::string str(const std::string& a, const std::string& b, const std::string& def);
    // An integer in [lo, hi] (default: the int32_t range, which every caller casts
    // to); a value outside, or one that overflows 64 bits, is refused naming the
    // flag, never wrapped.
    int64_t integer(const std::string& a, const std::string& b, int64_t def, int64_t lo = INT32_MIN,
                    int64_t hi = INT32_MAX);
    // A finite number (nan and inf are refused).
    double number(const std::string& a, const std::string& b, double def);
    // Throws vkrt::Error(invalid_argument) naming the first flag nobody consumed.
    void finish() const;

private:
    std::vector<std::string> args_;
    std::vector<bool> used_;
    int find(const std::string& a, const std::string& b, bool with_value);
};

std::string default_model_path();

// KV cache types from -ctk / --cache-type-k and -ctv / --cache-type-v (f32, f16, q8_0;
// f16 when absent, as llama.cpp).
KvCacheTypes kv_cache_types(Args& args);

// The device memory a model and a session allocate, one line:
// "weights 1.00 MiB | KV cache 0.31 MiB (K f16, V f16, 512 positions) | activations ... | scratch ... | I/O ..."
std::string memory_report(const model::Model& model, const model::Session& session);
// Bytes as "12.34 MiB" (KiB below 1 MiB, GiB from 1 GiB up).
std::string format_bytes(double bytes);

// main() of a sample: runs `run`, turns a vkrt::Error or other exception into
// "<name>: error (<status>): <message>" on stderr and exit code 1.
int guarded_main(const char* name, int (*run)(int, char**), int argc, char** argv);  // $VKRT_MODEL, else <models dir>/stories260K.gguf

inline double now_seconds() {
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace vkrt::cli
