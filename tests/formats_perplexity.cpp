// Quality of every weight format (issue 7, item 6): perplexity of each llama-architecture
// file in ../shared/models/arch/ (llama.cpp-written: padded256-* in every llama-quantize
// preset, and stories260K-q4_k_m) against llama.cpp's own figure, through the same code
// path as `vkrt-bench --perplexity ../shared/models/tinystories_valid_head.txt -m FILE -c 512
// --chunks N`.
//
// The session keeps an F32 KV cache here, so the reference is llama-perplexity with
// -ctk f32 -ctv f32 -fa off (CPU backend) over the same N chunks: tests/data/llama_cpp_perplexity.txt
// (test::llama_cpp_ppl; N = 4 there: every chunk runs the same 512-position prefill, so more
// chunks add text, not code paths; arch/README.md has the 20-chunk figures).
// Tolerance: 0.1% for files whose tensors are all float (F32/F16/BF16), 0.5% for quantized
// files (same weights, same math; the GPU sums in another order, and the dequantizing
// kernels round a block's scale products as floats where ggml's dot products differ).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "gguf/gguf.hpp"
#include "gpu.hpp"
#include "model/model.hpp"
#include "model/perplexity.hpp"
#include "test_util.hpp"

using namespace vkrt;

namespace {

// The llama files of arch/ whose weight formats this test checks.
const std::set<std::string> kFormatFiles = {
    "padded256-f32.gguf",   "padded256-f16.gguf",   "padded256-bf16.gguf",   "padded256-q8_0.gguf",
    "padded256-q6_k.gguf",  "padded256-q5_k_m.gguf", "padded256-q5_1.gguf",  "padded256-q5_0.gguf",
    "padded256-q4_k_m.gguf", "padded256-q4_1.gguf",  "padded256-q4_0.gguf",  "padded256-iq4_nl.gguf",
    "padded256-iq4_xs.gguf", "padded256-q3_k_m.gguf", "padded256-q2_k.gguf", "stories260K-q4_k_m.gguf",
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
        REQUIRE_MESSAGE(kFormatFiles.count(name), "llama file ", name, " is not in kFormatFiles");
        const test::LlamaCppPpl want = test::llama_cpp_ppl("arch/" + name, "f32");
        model::Model model(dev, path);
        const PerplexityResult r =
            perplexity(model, text, 512, want.chunks, 0, {}, KvCacheTypes{ops::KvType::f32, ops::KvType::f32});
        const double tol = is_float ? 1e-3 : 5e-3;
        const double rel = (r.ppl - want.ppl) / want.ppl;
        MESSAGE(name << " (" << types << "): vkrt " << r.ppl << ", llama.cpp " << want.ppl << " (" << want.chunks
                     << " chunks), " << rel * 100 << "% (limit " << tol * 100 << "%)");
        CHECK(r.chunks == want.chunks);
        CHECK(std::fabs(rel) < tol);
        ++checked;
    }
    CHECK(checked == expected);
    if (!only) CHECK(checked == int(kFormatFiles.size()));
    CHECK(checked > 0);
    CHECK_NO_VALIDATION(dev);
}
