// The weight-format registry (core/format.hpp): its table against ggml's block sizes, its
// checks, and its reference decoders bit for bit against ggml's own dequantize_row_* on
// every tensor of the llama.cpp-written files in ../shared/models/arch/ and
// ../shared/models/llama.cpp/ (digests in tests/data/ggml_dequant_digests.txt, written by
// scripts/ggml_dequant_digests.sh from a llama.cpp checkout).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/format.hpp"
#include "core/fp16.hpp"
#include "gguf/gguf.hpp"
#include "test_util.hpp"

using namespace vkrt;

namespace {

// The formats issue 7 requires to run (every format llama-quantize writes for its common
// presets, fallbacks included): each needs GPU kernels and a reference decoder, and each
// must be exercised by the ggml digests below.
const char* const kRunnable[] = {"F32",  "F16",  "BF16", "Q4_0", "Q4_1", "Q5_0",   "Q5_1",  "Q8_0",
                                 "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"};

std::string digests_path() {
    return (std::filesystem::path(__FILE__).parent_path() / "data" / "ggml_dequant_digests.txt").string();
}

uint64_t fnv1a(uint64_t h, const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

struct Digest {
    std::string file, tensor, type;
    uint64_t n = 0, hash = 0;
};

std::vector<Digest> read_digests() {
    std::ifstream in(digests_path());
    REQUIRE_MESSAGE(in.good(), "cannot open ", digests_path());
    std::vector<Digest> out;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ls(line);
        Digest d;
        std::string hex;
        ls >> d.file >> d.tensor >> d.type >> d.n >> hex;
        REQUIRE_MESSAGE((!ls.fail() && hex.size() == 16), "bad digest line: ", line);
        d.hash = std::stoull(hex, nullptr, 16);
        out.push_back(d);
    }
    return out;
}

}  // namespace

TEST_CASE("formats: the table is ggml's (ids, names, block sizes) and lookups are checked") {
    // ggml-common.h block sizes of the formats vkrt runs (sizeof(block_*)).
    struct Want { Format f; const char* name; uint32_t elems, bytes; };
    const Want want[] = {{Format::F32, "F32", 1, 4},        {Format::F16, "F16", 1, 2},
                         {Format::BF16, "BF16", 1, 2},      {Format::Q4_0, "Q4_0", 32, 18},
                         {Format::Q4_1, "Q4_1", 32, 20},    {Format::Q5_0, "Q5_0", 32, 22},
                         {Format::Q5_1, "Q5_1", 32, 24},    {Format::Q8_0, "Q8_0", 32, 34},
                         {Format::Q2_K, "Q2_K", 256, 84},   {Format::Q3_K, "Q3_K", 256, 110},
                         {Format::Q4_K, "Q4_K", 256, 144},  {Format::Q5_K, "Q5_K", 256, 176},
                         {Format::Q6_K, "Q6_K", 256, 210},  {Format::IQ4_NL, "IQ4_NL", 32, 18},
                         {Format::IQ4_XS, "IQ4_XS", 256, 136}};
    for (const Want& w : want) {
        CAPTURE(w.name);
        const fmt::Traits& t = fmt::traits(w.f);
        CHECK(std::string(t.name) == w.name);
        CHECK(t.block_elems == w.elems);
        CHECK(t.block_bytes == w.bytes);
        CHECK((t.kernels & fmt::kKernelFloat) != 0);
        CHECK(bool(t.dequantize));
        CHECK(fmt::find(uint32_t(w.f)) == &t);
    }
    CHECK(uint32_t(Format::Q6_K) == 14);
    CHECK(uint32_t(Format::BF16) == 30);
    CHECK(std::string(fmt::name(16)) == "IQ2_XXS");
    CHECK(fmt::traits(Format::IQ2_XXS).kernels == 0);
    CHECK(std::string(fmt::traits(Format::Q6_K).suffix) == "q6_k");
    CHECK((fmt::traits(Format::Q4_0).kernels & fmt::kKernelInt) != 0);

    // ids formats.def does not list (retired Q4_2 = 4, never used 99)
    CHECK(fmt::find(4) == nullptr);
    CHECK(fmt::find(99) == nullptr);
    CHECK(fmt::find(0xffffffffu) == nullptr);
    CHECK(std::string(fmt::name(99)) == "unknown");
    CHECK_THROWS_WITH_AS(fmt::traits(Format(99)), doctest::Contains("unknown tensor type id 99"), Error);

    // all(): ascending ids, each reachable through find
    uint32_t prev = 0;
    for (size_t i = 0; i < fmt::all().size(); ++i) {
        const fmt::Traits& t = fmt::all()[i];
        if (i) CHECK(uint32_t(t.type) > prev);
        prev = uint32_t(t.type);
        CHECK(fmt::find(uint32_t(t.type)) == &t);
    }

    // row_bytes: blocks, the k % block check, overflow
    CHECK(fmt::row_bytes(Format::Q6_K, 512) == 420);
    CHECK(fmt::row_bytes(Format::IQ4_XS, 256) == 136);
    CHECK(fmt::row_bytes(Format::BF16, 7) == 14);
    CHECK_THROWS_WITH_AS(fmt::row_bytes(Format::Q4_K, 64), doctest::Contains("not a multiple of Q4_K's block of 256"),
                         Error);
    CHECK_THROWS_AS(fmt::row_bytes(Format::F32, ~uint64_t(0)), Error);
    CHECK_THROWS_AS(fmt::row_bytes(Format(4), 32), Error);

    // decoders / encoders through the checked entry points
    std::vector<float> y(256);
    std::vector<uint8_t> b(1024);
    CHECK_THROWS_WITH_AS(fmt::dequantize_row(Format::IQ2_XXS, b.data(), y.data(), 256),
                         doctest::Contains("no decoder for type IQ2_XXS"), Error);
    CHECK_THROWS_AS(fmt::dequantize_row(Format::Q2_K, b.data(), y.data(), 128), Error);
    CHECK_THROWS_WITH_AS(fmt::quantize_row(Format::Q8_K, y.data(), b.data(), 256),
                         doctest::Contains("cannot quantize to type Q8_K"), Error);
}

TEST_CASE("formats: BF16 and F16 encode / decode as ggml (round to nearest even, NaN quiet)") {
    const float x[] = {1.0f, -2.5f, 3.14159265f, 1e-30f, 65504.f, 1e10f, -0.0f};
    float y[std::size(x)];
    uint16_t h[std::size(x)];
    fmt::quantize_row(Format::BF16, x, h, std::size(x));
    fmt::dequantize_row(Format::BF16, h, y, std::size(x));
    for (size_t i = 0; i < std::size(x); ++i) {
        CAPTURE(x[i]);
        CHECK(std::fabs(y[i] - x[i]) <= std::fabs(x[i]) * 0x1p-8f);  // 8 significant bits
        CHECK(std::signbit(y[i]) == std::signbit(x[i]));
    }
    CHECK(h[0] == 0x3f80);
    CHECK(fp32_to_bf16(std::bit_cast<float>(0x3f808000u)) == 0x3f80);  // tie -> even
    CHECK(fp32_to_bf16(std::bit_cast<float>(0x3f818000u)) == 0x3f82);  // tie -> even (up)
    CHECK(fp32_to_bf16(std::bit_cast<float>(0x3f808001u)) == 0x3f81);  // above the tie
    CHECK(fp32_to_bf16(std::bit_cast<float>(0x7f800001u)) == 0x7fc0);  // signalling NaN -> quiet
    CHECK(bf16_to_fp32(0xc0490fdbu >> 16) == std::bit_cast<float>(0xc0490000u));
    fmt::quantize_row(Format::F16, x, h, 3);
    fmt::dequantize_row(Format::F16, h, y, 3);
    CHECK(y[0] == 1.0f);
    CHECK(y[1] == -2.5f);
    CHECK(h[2] == fp32_to_fp16(3.14159265f));
}

// ggml's decoders and vkrt's, every tensor of every llama.cpp-written file, bit for bit.
TEST_CASE("formats: vkrt's decoders equal ggml's dequantize_row_* on every tensor of the llama.cpp files") {
    const std::vector<Digest> digests = read_digests();
    REQUIRE(digests.size() > 1000);
    std::map<std::string, std::unique_ptr<gguf::File>> files;
    std::set<std::pair<std::string, std::string>> seen;
    std::map<std::string, int> per_type;
    int matched = 0;
    for (const Digest& d : digests) {
        CAPTURE(d.file);
        CAPTURE(d.tensor);
        auto& f = files[d.file];
        if (!f) f = std::make_unique<gguf::File>(gguf::File::open(test::models_dir() + "/" + d.file));
        const gguf::TensorInfo& t = f->tensor(d.tensor);
        CHECK(std::string(fmt::name(t.type)) == d.type);
        CHECK(t.n_elements == d.n);
        const uint64_t row = t.dims[0], rows = t.n_elements / row, rb = fmt::row_bytes(t.type, row);
        std::vector<float> y(row);
        uint64_t h = 0xcbf29ce484222325ull;
        for (uint64_t r = 0; r < rows; ++r) {
            fmt::dequantize_row(t.type, t.data + r * rb, y.data(), size_t(row));
            h = fnv1a(h, y.data(), y.size() * sizeof(float));
        }
        CHECK_MESSAGE(h == d.hash, "vkrt's ", d.type, " decoder differs from ggml's");
        matched += h == d.hash;
        seen.insert({d.file, d.tensor});
        ++per_type[d.type];
    }
    MESSAGE(matched << " of " << digests.size() << " tensors decode bit-identically to ggml");
    CHECK(matched == int(digests.size()));

    // Coverage: every tensor of every file in those folders has a digest line ...
    int files_seen = 0;
    for (const char* dir : {"arch", "llama.cpp"}) {
        for (const auto& e : std::filesystem::directory_iterator(test::models_dir() + "/" + dir)) {
            if (e.path().extension() != ".gguf") continue;
            const std::string rel = std::string(dir) + "/" + e.path().filename().string();
            CAPTURE(rel);
            ++files_seen;
            gguf::File f = gguf::File::open(e.path().string());
            for (const gguf::TensorInfo& t : f.tensors())
                CHECK_MESSAGE(seen.count({rel, t.name}), "no ggml digest for tensor ", t.name,
                              ": rerun scripts/ggml_dequant_digests.sh");
        }
    }
    CHECK(files_seen == int(files.size()));
    // ... and every format vkrt must run is among them.
    for (const char* name : kRunnable) {
        CAPTURE(name);
        CHECK(per_type[name] > 0);
    }
}
