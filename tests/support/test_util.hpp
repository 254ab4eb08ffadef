// Shared helpers for tests: seeded random data, paths.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace vkrt::test {

inline std::string models_dir() {
    if (const char* e = std::getenv("VKRT_MODELS_DIR")) return e;
    return VKRT_MODELS_DIR;
}
inline std::string tmp_dir() { return VKRT_TEST_TMP_DIR; }

// A whole file as bytes; throws naming the path when it cannot be read.
inline std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f.good()) throw std::runtime_error("cannot open " + path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// VKRT_PPL_FILES (comma-separated file names): a long perplexity test checks only those of
// its files, so that CMake can run its files as several CTest tests in parallel
// (tests/arch_perplexity.cmake, tests/suite_split.cmake); unset: every file.
inline bool ppl_file_selected(const std::string& name) {
    const char* only = std::getenv("VKRT_PPL_FILES");
    return !only || ("," + std::string(only) + ",").find("," + name + ",") != std::string::npos;
}
inline bool ppl_files_filtered() { return std::getenv("VKRT_PPL_FILES") != nullptr; }

// llama.cpp's own perplexity of a model file over the first `chunks` chunks of 512 tokens of
// tinystories_valid_head.txt, the oracle of every perplexity test: one line
// "FILE KV CHUNKS PPL" of tests/data/llama_cpp_perplexity.txt (scripts/llama_cpp_perplexity.sh
// runs llama-perplexity; the command is in the file's header). FILE is relative to
// models_dir(); KV is "f32" (-ctk f32 -ctv f32 -fa off) or "default" (F16 K/V, flash attention).
// Throws naming the file and cache when the data has no such line.
struct LlamaCppPpl {
    int chunks = 0;
    double ppl = 0;
};
inline LlamaCppPpl llama_cpp_ppl(const std::string& file, const std::string& kv) {
    const std::string path =
        (std::filesystem::path(__FILE__).parent_path().parent_path() / "data" / "llama_cpp_perplexity.txt").string();
    std::istringstream in(read_file(path));
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ls(line);
        std::string f, k;
        LlamaCppPpl r;
        if ((ls >> f >> k >> r.chunks >> r.ppl) && f == file && k == kv) return r;
    }
    throw std::runtime_error("no llama.cpp perplexity for " + file + " with KV " + kv + " in " + path +
                             " (add it with scripts/llama_cpp_perplexity.sh)");
}

// FNV-1a 64 of n bytes (the digests of tests/data/*_digests.txt).
inline uint64_t fnv1a(const void* p, size_t n, uint64_t h = 0xcbf29ce484222325ull) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}
inline std::vector<int8_t> random_i8(size_t n, uint32_t seed, int lo = -127, int hi = 127) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> d(lo, hi);
    std::vector<int8_t> v(n);
    for (auto& x : v) x = int8_t(d(rng));
    return v;
}

}  // namespace vkrt::test
