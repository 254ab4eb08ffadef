// The format registry's encoders (core/format.hpp: Traits::quantize, quantize_weighted)
// byte for byte against ggml's own: every tensor of ../shared/models/arch/padded256-f32.gguf
// through every format whose block divides its rows, in three modes (digests in
// tests/data/ggml_quant_digests.txt, written by scripts/ggml_quant_digests.sh from a llama.cpp
// checkout):
//   ref      quantize_row_<fmt>_ref                 <- traits(f).quantize
//   chunk    quantize_<fmt>(rows, NULL) (llama-quantize without an imatrix)
//                                                   <- traits(f).quantize_weighted(.., nullptr)
//   imatrix  quantize_<fmt>(rows, imp)              <- traits(f).quantize_weighted(.., imp)
// with the harness's synthetic importance imp(j) = 0.25 + (j*37 % 101)/16.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/format.hpp"
#include "gguf/gguf.hpp"
#include "test_util.hpp"

using namespace vkrt;

namespace {

// The formats vkrt-quantize writes (issue 18): each needs both encoders beside its decoder.
const Format kWritten[] = {Format::F16,  Format::BF16, Format::Q4_0, Format::Q4_1, Format::Q5_0,
                           Format::Q5_1, Format::Q8_0, Format::Q2_K, Format::Q3_K, Format::Q4_K,
                           Format::Q5_K, Format::Q6_K, Format::IQ4_NL, Format::IQ4_XS};

const fmt::Traits* by_name(const std::string& n) {
    for (const fmt::Traits& t : fmt::all())
        if (n == t.name) return &t;
    return nullptr;
}

}  // namespace

TEST_CASE("quant encoders: every written format has a _ref and a weighted encoder beside its decoder") {
    for (Format f : kWritten) {
        const fmt::Traits& t = fmt::traits(f);
        CAPTURE(t.name);
        CHECK(bool(t.quantize));
        CHECK(bool(t.quantize_weighted));
        CHECK(bool(t.dequantize));
    }
    std::vector<float> x(64, 1.f);
    std::vector<uint8_t> b(1024);
    CHECK_THROWS_WITH_AS(fmt::quantize_row_weighted(Format::Q4_K, x.data(), b.data(), 64, nullptr),
                         doctest::Contains("not a multiple of Q4_K's block of 256"), Error);
    CHECK_THROWS_WITH_AS(fmt::quantize_row_weighted(Format::IQ2_XXS, x.data(), b.data(), 256, nullptr),
                         doctest::Contains("cannot quantize to type IQ2_XXS"), Error);
}

TEST_CASE("quant encoders: equal ggml's bytes (ref, llama-quantize's chunk, imatrix) on padded256-f32") {
    const std::string path = (std::filesystem::path(__FILE__).parent_path() / "data" / "ggml_quant_digests.txt").string();
    std::ifstream in(path);
    REQUIRE_MESSAGE(in.good(), "cannot open ", path);
    std::map<std::string, gguf::File> files;
    std::set<std::string> types_seen, modes_seen;
    int lines = 0, matched = 0;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ls(line);
        std::string file, tensor, type, mode, hex;
        uint64_t n = 0;
        ls >> file >> tensor >> type >> mode >> n >> hex;
        REQUIRE_MESSAGE((!ls.fail() && hex.size() == 16), "bad digest line: ", line);
        CAPTURE(line);
        auto it = files.find(file);
        if (it == files.end()) it = files.emplace(file, gguf::File::open(test::models_dir() + "/" + file)).first;
        const gguf::TensorInfo& t = it->second.tensor(tensor);
        REQUIRE(t.type == Format::F32);
        REQUIRE(t.n_elements == n);
        const fmt::Traits* tr = by_name(type);
        REQUIRE(tr);
        const size_t k = size_t(t.dims[0]), rows = size_t(n / k);
        const size_t rb = size_t(fmt::row_bytes(tr->type, k));
        const float* x = reinterpret_cast<const float*>(t.data);
        std::vector<uint8_t> out(rb * rows);
        std::vector<float> imp(k);
        for (size_t j = 0; j < k; ++j) imp[j] = 0.25f + float((int64_t(j) * 37) % 101) / 16.0f;
        if (mode == "ref") {
            fmt::quantize_row(tr->type, x, out.data(), size_t(n));  // the whole tensor as one row, as ggml's _ref
        } else {
            REQUIRE((mode == "chunk" || mode == "imatrix"));
            for (size_t r = 0; r < rows; ++r)
                fmt::quantize_row_weighted(tr->type, x + r * k, out.data() + r * rb, k,
                                           mode == "imatrix" ? imp.data() : nullptr);
        }
        const uint64_t h = test::fnv1a(out.data(), out.size());
        CHECK_MESSAGE(h == std::stoull(hex, nullptr, 16), "vkrt's ", type, " encoder (", mode, ") differs from ggml's");
        matched += h == std::stoull(hex, nullptr, 16);
        ++lines;
        types_seen.insert(type);
        modes_seen.insert(mode);
    }
    MESSAGE(matched << " of " << lines << " encodings byte-identical to ggml's");
    CHECK(lines > 1000);
    CHECK(modes_seen.size() == 3);
    for (Format f : kWritten) CHECK_MESSAGE(types_seen.count(fmt::name(f)), fmt::name(f), " has no digest");
}

TEST_CASE("quant encoders: decode(encode(x)) is close to x (error bound per format)") {
    // Random N(0,1)-like data: a format of b bits per weight on a block of 32 keeps the RMS
    // error below ~ range / 2^b; the bound is generous (it guards the round trip, layout and
    // scale sign, not quality: the digests above pin the exact bytes).
    const std::vector<float> x = test::random_floats(4096, 7, -1.f, 1.f);
    struct B { Format f; double rel_rms; };
    const B bounds[] = {{Format::F16, 1e-3},  {Format::BF16, 5e-3}, {Format::Q8_0, 0.01}, {Format::Q6_K, 0.03},
                        {Format::Q5_0, 0.06}, {Format::Q5_1, 0.05}, {Format::Q5_K, 0.06}, {Format::Q4_0, 0.12},
                        {Format::Q4_1, 0.10}, {Format::Q4_K, 0.12}, {Format::IQ4_NL, 0.12}, {Format::IQ4_XS, 0.12},
                        {Format::Q3_K, 0.25}, {Format::Q2_K, 0.45}};
    double rms_x = 0;
    for (float v : x) rms_x += double(v) * v;
    rms_x = std::sqrt(rms_x / double(x.size()));
    for (const B& b : bounds) {
        CAPTURE(fmt::name(b.f));
        std::vector<uint8_t> q(size_t(fmt::row_bytes(b.f, x.size())));
        std::vector<float> y(x.size());
        for (int weighted = 0; weighted < 2; ++weighted) {
            if (weighted)
                fmt::quantize_row_weighted(b.f, x.data(), q.data(), x.size(), nullptr);
            else
                fmt::quantize_row(b.f, x.data(), q.data(), x.size());
            fmt::dequantize_row(b.f, q.data(), y.data(), y.size());
            double e = 0;
            for (size_t i = 0; i < x.size(); ++i) e += double(y[i] - x[i]) * (y[i] - x[i]);
            CHECK(std::sqrt(e / double(x.size())) / rms_x < b.rel_rms);
        }
    }
}
