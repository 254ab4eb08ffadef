// Small helpers shared by the samples: flag parsing, timing, default paths.
#pragma once
#include <chrono>
#include <climits>
#include <cstdint>
#include <string>
#include <vector>

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

// main() of a sample: runs `run`, turns a vkrt::Error or other exception into
// "<name>: error (<status>): <message>" on stderr and exit code 1.
int guarded_main(const char* name, int (*run)(int, char**), int argc, char** argv);  // $VKRT_MODEL, else <models dir>/stories260K.gguf

inline double now_seconds() {
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace vkrt::cli
