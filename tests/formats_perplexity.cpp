// Quality of every weight format (issue 7, item 6): perplexity of each llama-architecture
// file in ../shared/models/arch/ (llama.cpp-written: padded256-* in every llama-quantize
// preset, and stories260K-q4_k_m) against llama.cpp's own figure, through the same code
// path as `vkrt-bench --perplexity ../shared/models/tinystories_valid_head.txt -m FILE -c 512
// --chunks 20`.
//
// The session keeps an F32 KV cache here, so the reference is arch/README.md's "ppl, F32 KV, no FA" column
// (llama-perplexity -c 512 --chunks 20 -ngl 0 -nr -ctk f32 -ctv f32 -fa off, CPU backend).
// Tolerance: 0.1% for files whose tensors are all float (F32/F16/BF16), 0.5% for quantized
// files (same weights, same math; the GPU sums in another order, and the dequantizing
// kernels round a block's scale products as floats where ggml's dot products differ).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "gguf/gguf.hpp"
#include "gpu.hpp"
#include "model/model.hpp"
#include "model/perplexity.hpp"
#include "test_util.hpp"

using namespace vkrt;

namespace {

// arch/README.md, column "ppl, F32 KV, no FA" (llama.cpp d32676d77).
const std::map<std::string, double> kLlamaCppF32Kv = {
    {"padded256-f32.gguf", 3.7602},    {"padded256-f16.gguf", 3.7599},      {"padded256-bf16.gguf", 3.7613},
    {"padded256-q8_0.gguf", 3.7677},   {"padded256-q6_k.gguf", 3.7731},     {"padded256-q5_k_m.gguf", 3.8129},
    {"padded256-q5_1.gguf", 3.7781},   {"padded256-q5_0.gguf", 3.8502},     {"padded256-q4_k_m.gguf", 3.9866},
    {"padded256-q4_1.gguf", 4.1021},   {"padded256-q4_0.gguf", 4.2295},     {"padded256-iq4_nl.gguf", 4.1028},
    {"padded256-iq4_xs.gguf", 4.1016}, {"padded256-q3_k_m.gguf", 4.8667},   {"padded256-q2_k.gguf", 27.6641},
    {"stories260K-q4_k_m.gguf", 3.8210},
};

// llama-architecture files of arch/ that test other features than weight formats.
const std::map<std::string, std::string> kOtherIssues = {
    {"llama_ropefreqs-f32.gguf", "rope_freqs factors: tests/arch_perplexity.cpp checks it"},
};

bool all_float(const gguf::File& f) {
    for (const gguf::TensorInfo& t : f.tensors())
        if (t.type != Format::F32 && t.type != Format::F16 && t.type != Format::BF16) return false;
    return true;
}

}  // namespace

TEST_CASE("arch/: every llama file's perplexity is llama.cpp's (F32 KV) within 0.1% (float) / 0.5% (quantized)") {
    Device& dev = test::gpu();
    const std::string text = test::read_file(test::models_dir() + "/tinystories_valid_head.txt");
    std::map<std::string, std::string> files;  // name -> path, sorted
    for (const auto& e : std::filesystem::directory_iterator(test::models_dir() + "/arch"))
        if (e.path().extension() == ".gguf") files[e.path().filename().string()] = e.path().string();
    // VKRT_PPL_FILES (test::ppl_file_selected): tests/arch_perplexity.cmake runs the files
    // as several CTest tests, so that they run in parallel; unset: all.
    const bool only = test::ppl_files_filtered();
    int checked = 0, expected = 0;
    for (const auto& file : files) {
        const std::string& name = file.first;  // (clang 14: no structured bindings in CAPTURE's lambda)
        const std::string& path = file.second;
        if (!test::ppl_file_selected(name)) continue;
        CAPTURE(name);
        std::string arch, types;
        bool is_float = false;
        {
            gguf::File f = gguf::File::open(path);
            arch = f.get_string("general.architecture", "");
            is_float = all_float(f);
            std::map<std::string, int> n;
            for (const gguf::TensorInfo& t : f.tensors()) ++n[fmt::name(t.type)];
            for (const auto& [t, c] : n) types += (types.empty() ? "" : ", ") + t + " " + std::to_string(c);
        }
        if (arch != "llama") continue;
        if (auto it = kOtherIssues.find(name); it != kOtherIssues.end()) {
            MESSAGE(name << ": not checked here, it needs " << it->second);
            continue;
        }
        ++expected;
        const auto want = kLlamaCppF32Kv.find(name);
        REQUIRE_MESSAGE(want != kLlamaCppF32Kv.end(), "no llama.cpp figure for llama file ", name,
                        " (add it from arch/README.md)");
        model::Model model(dev, path);
        const PerplexityResult r =
            perplexity(model, text, 512, 20, 0, {}, KvCacheTypes{ops::KvType::f32, ops::KvType::f32});
        const double tol = is_float ? 1e-3 : 5e-3;
        const double rel = (r.ppl - want->second) / want->second;
        MESSAGE(name << " (" << types << "): vkrt " << r.ppl << ", llama.cpp " << want->second << ", "
                     << rel * 100 << "% (limit " << tol * 100 << "%)");
        CHECK(r.chunks == 20);
        CHECK(std::fabs(rel) < tol);
        ++checked;
    }
    CHECK(checked == expected);
    if (!only) CHECK(checked == int(kLlamaCppF32Kv.size()));
    CHECK(checked > 0);
    CHECK_NO_VALIDATION(dev);
}
