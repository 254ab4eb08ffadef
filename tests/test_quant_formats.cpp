// fp16 conversion and the Q4_0 / Q8_0 reference (de)quantizers: exact vectors,
// error bounds, and bit-exactness against llama.cpp's quantized stories260K files.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "core/fp16.hpp"
#include "core/quant.hpp"
#include "gguf/gguf.hpp"
#include "test_util.hpp"

using namespace vkrt;
using gguf::TensorType;

namespace {

float bits_f(uint32_t b) { return std::bit_cast<float>(b); }

// Largest allowed |x - dequant(quant(x))| for element j of a block, from the block's values.
struct BlockStats { float amax; };
BlockStats stats(const float* x) {
    float a = 0;
    for (int j = 0; j < 32; ++j) a = std::max(a, std::fabs(x[j]));
    return {a};
}

}  // namespace

// ---------------------------------------------------------------- fp16

TEST_CASE("fp16: known values") {
    CHECK(fp32_to_fp16(0.f) == 0x0000);
    CHECK(fp32_to_fp16(-0.f) == 0x8000);
    CHECK(fp32_to_fp16(1.f) == 0x3c00);
    CHECK(fp32_to_fp16(-2.f) == 0xc000);
    CHECK(fp32_to_fp16(0.5f) == 0x3800);
    CHECK(fp32_to_fp16(65504.f) == 0x7bff);                         // max half
    CHECK(fp32_to_fp16(65519.99f) == 0x7bff);                       // below the tie
    CHECK(fp32_to_fp16(65520.f) == 0x7c00);                         // tie to even -> inf
    CHECK(fp32_to_fp16(1e10f) == 0x7c00);
    CHECK(fp32_to_fp16(-std::numeric_limits<float>::infinity()) == 0xfc00);
    CHECK(fp32_to_fp16(std::numeric_limits<float>::quiet_NaN()) == 0x7e00);
    CHECK((fp32_to_fp16(-std::numeric_limits<float>::quiet_NaN()) & 0x7fff) == 0x7e00);
    CHECK(fp32_to_fp16(bits_f(0x7f800001)) == 0x7e00);              // signalling NaN stays NaN
    CHECK(fp32_to_fp16(0x1p-14f) == 0x0400);                        // smallest normal
    CHECK(fp32_to_fp16(0x1p-24f) == 0x0001);                        // smallest subnormal
    CHECK(fp32_to_fp16(0x1p-25f) == 0x0000);                        // tie -> even (0)
    CHECK(fp32_to_fp16(0x1.000002p-25f) == 0x0001);                 // just above the tie
    CHECK(fp32_to_fp16(0x1.8p-24f) == 0x0002);                      // 1.5 units: tie -> even (2)
    CHECK(fp32_to_fp16(0x1.4p-23f) == 0x0002);                      // 2.5 units: tie -> even (2)
    CHECK(fp32_to_fp16(0x1.ff8p-15f) == 0x03ff);                    // largest subnormal
    CHECK(fp32_to_fp16(0x1.ffbp-15f) == 0x03ff);
    CHECK(fp32_to_fp16(0x1.ffcp-15f) == 0x0400);                    // tie: rounds to even, into the normals
    CHECK(fp32_to_fp16(1.f + 0x1p-11f) == 0x3c00);                  // tie -> even
    CHECK(fp32_to_fp16(1.f + 0x1.8p-10f) == 0x3c02);                // tie -> even (up)
    CHECK(fp32_to_fp16(1e-30f) == 0x0000);
    CHECK(fp16_to_fp32(0x3c00) == 1.f);
    CHECK(fp16_to_fp32(0x0001) == 0x1p-24f);
    CHECK(fp16_to_fp32(0x8001) == -0x1p-24f);
    CHECK(fp16_to_fp32(0x7bff) == 65504.f);
    CHECK(std::isinf(fp16_to_fp32(0x7c00)));
    CHECK(std::isnan(fp16_to_fp32(0x7e00)));
    CHECK(std::signbit(fp16_to_fp32(0x8000)));
}

TEST_CASE("fp16: every half survives fp16 -> fp32 -> fp16") {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = fp16_to_fp32(uint16_t(h));
        const bool nan = ((h >> 10) & 0x1f) == 0x1f && (h & 0x3ff);
        if (nan) {
            CHECK(std::isnan(f));
            CHECK(fp32_to_fp16(f) == ((h & 0x8000) | 0x7e00));
        } else if (fp32_to_fp16(f) != h) {
            FAIL_CHECK("half 0x", std::hex, h, " -> ", f, " -> 0x", fp32_to_fp16(f));
        }
    }
}

TEST_CASE("fp16: fp32 -> fp16 is round-to-nearest-even (checked against exact neighbours)") {
    // For random floats: the result is one of the two neighbouring halves, the nearer one, and the
    // even one on ties. Independent of the implementation: uses only fp16_to_fp32 and double math.
    std::mt19937 rng(42);
    auto check_one = [](float f) {
        const uint16_t h = fp32_to_fp16(f);
        if (std::isnan(f)) {
            CHECK(std::isnan(fp16_to_fp32(h)));
            return;
        }
        const double x = f, y = fp16_to_fp32(h);
        const double ax = std::fabs(x);
        if (ax >= 65520.0) {
            CHECK(std::isinf(y));
            return;
        }
        CHECK(std::signbit(y) == std::signbit(x));
        // neighbours of |h|: h-1 and h+1 (as magnitudes)
        const uint16_t m = h & 0x7fff;
        const double down = m > 0 ? fp16_to_fp32(uint16_t(m - 1)) : -1.0;
        const double up = m < 0x7bff ? fp16_to_fp32(uint16_t(m + 1)) : 65536.0;
        const double ay = std::fabs(y), e = std::fabs(ax - ay);
        if (down >= 0) CHECK(e <= ax - down);
        if (m == 0) CHECK(ax <= 0x1p-25);
        CHECK(e <= std::fabs(up - ax));
        if (e == std::fabs(up - ax) || (down >= 0 && e == ax - down)) CHECK((m & 1) == 0);  // tie -> even
    };
    for (int i = 0; i < 300000; ++i) {
        uint32_t b = uint32_t(rng());
        if (i % 2) b = (b & 0x80000000u) | (0x33000000u + b % (0x47800000u - 0x33000000u));  // half range
        check_one(bits_f(b));
    }
    // every exact tie between two neighbouring halves (normal and subnormal)
    for (uint32_t h = 0; h < 0x7bff; h += 1) {
        const double mid = (double(fp16_to_fp32(uint16_t(h))) + double(fp16_to_fp32(uint16_t(h + 1)))) / 2;
        const uint16_t r = fp32_to_fp16(float(mid));
        CHECK(r == ((h & 1) ? h + 1 : h));
    }
#if defined(__FLT16_MAX__)
    // and agree with the compiler's _Float16 conversion (hardware or libgcc, both RNE)
    for (int i = 0; i < 200000; ++i) {
        const float f = bits_f(uint32_t(rng()));
        if (std::isnan(f)) continue;
        const _Float16 c = static_cast<_Float16>(f);
        CHECK(fp32_to_fp16(f) == std::bit_cast<uint16_t>(c));
    }
#endif
}

// ---------------------------------------------------------------- exact vectors

TEST_CASE("q4_0: exact block for x = j - 16") {
    float x[32];
    for (int j = 0; j < 32; ++j) x[j] = float(j - 16);
    BlockQ4_0 b;
    quantize_row_q4_0(x, &b, 32);
    // max (signed) = -16 -> d = 2, id = 0.5, q = min(15, trunc(x/2 + 8.5)) = min(15, (j + 1) / 2)
    CHECK(b.d == 0x4000);
    for (int j = 0; j < 16; ++j) {
        CHECK((b.qs[j] & 0xF) == std::min(15, (j + 1) / 2));
        CHECK((b.qs[j] >> 4) == std::min(15, (j + 16 + 1) / 2));
    }
    float y[32];
    fmt::dequantize_row(Format::Q4_0, &b, y, 32);
    CHECK(y[0] == -16.f);
    CHECK(y[1] == -14.f);   // x = -15 -> 0.5 + 8 = 8.5 - 7.5 -> trunc(1.0) = 1 -> 2 * (1 - 8)
    CHECK(y[31] == 14.f);   // clipped at q = 15
}

TEST_CASE("q4_0: the element of largest magnitude maps to q = 0 (sign kept), zeros give d = 0") {
    float x[32] = {};
    x[5] = 3.f;  // positive max: d = -3/8, the max goes to q = 0
    x[6] = -1.f;
    BlockQ4_0 b;
    quantize_row_q4_0(x, &b, 32);
    CHECK(fp16_to_fp32(b.d) == -0.375f);
    CHECK((b.qs[5] & 0xF) == 0);
    float y[32];
    fmt::dequantize_row(Format::Q4_0, &b, y, 32);
    CHECK(y[5] == 3.f);
    CHECK(y[0] == 0.f);
    float z[32] = {};
    quantize_row_q4_0(z, &b, 32);
    CHECK(b.d == 0x8000);  // d = 0 / -8 = -0 (as ggml stores it)
    for (int j = 0; j < 16; ++j) CHECK(b.qs[j] == 0x88);
}

TEST_CASE("q8_0: exact block for x = j - 16") {
    float x[32];
    for (int j = 0; j < 32; ++j) x[j] = float(j - 16);
    BlockQ8_0 b;
    quantize_row_q8_0(x, &b, 32);
    CHECK(b.d == fp32_to_fp16(16.f / 127.f));
    // id = 127/16 = 7.9375 exactly: q = roundf((j - 16) * 7.9375), halves away from zero
    for (int j = 0; j < 32; ++j) CHECK(b.qs[j] == int(std::roundf(float(j - 16) * 7.9375f)));
    CHECK(b.qs[0] == -127);
    CHECK(b.qs[8] == -64);  // -63.5 rounds away from zero
    CHECK(b.qs[24] == 64);
    float z[32] = {};
    quantize_row_q8_0(z, &b, 32);
    CHECK(b.d == 0);
    for (int j = 0; j < 32; ++j) CHECK(b.qs[j] == 0);
}

TEST_CASE("quant: k must be a multiple of 32; NaN input does not crash") {
    std::vector<float> x(48, 1.f);
    std::vector<uint8_t> out(100);
    CHECK_THROWS_AS(quantize_row_q4_0(x.data(), out.data(), 48), Error);
    CHECK_THROWS_AS(quantize_row_q8_0(x.data(), out.data(), 48), Error);
    CHECK_THROWS_AS(fmt::dequantize_row(Format::Q4_0, out.data(), x.data(), 48), Error);
    CHECK_THROWS_AS(fmt::quantize_row(TensorType::I8, x.data(), out.data(), 32), Error);
    x[3] = std::numeric_limits<float>::quiet_NaN();
    x[4] = std::numeric_limits<float>::infinity();
    quantize_row_q4_0(x.data(), out.data(), 32);
    quantize_row_q8_0(x.data(), out.data(), 32);
    quantize_row_q4_0_mse(x.data(), out.data(), 32);
}

// ---------------------------------------------------------------- error bounds

TEST_CASE("quant: quantize -> dequantize error bounds") {
    const size_t k = 32 * 4096;
    for (float scale : {1.f, 0.02f, 1000.f}) {
        CAPTURE(scale);
        auto x = test::random_floats(k, 7, -scale, scale);
        for (size_t i = 0; i < k; i += 97) x[i] *= 3.f;  // some outliers
        std::vector<uint8_t> q8(k / 32 * 34), q4(k / 32 * 18), q4m(k / 32 * 18), h(k * 2);
        quantize_row_q8_0(x.data(), q8.data(), k);
        quantize_row_q4_0(x.data(), q4.data(), k);
        quantize_row_q4_0_mse(x.data(), q4m.data(), k);
        quantize_row_f16(x.data(), h.data(), k);
        std::vector<float> y8(k), y4(k), y4m(k), yh(k);
        fmt::dequantize_row(TensorType::Q8_0, q8.data(), y8.data(), k);
        fmt::dequantize_row(TensorType::Q4_0, q4.data(), y4.data(), k);
        fmt::dequantize_row(TensorType::Q4_0, q4m.data(), y4m.data(), k);
        fmt::dequantize_row(TensorType::F16, h.data(), yh.data(), k);
        double se4 = 0, se4m = 0, se8 = 0;
        for (size_t blk = 0; blk < k / 32; ++blk) {
            const float amax = stats(&x[blk * 32]).amax;
            for (size_t j = blk * 32; j < blk * 32 + 32; ++j) {
                // q8: half a step (amax/127/2) plus fp16 rounding of d (rel 2^-11, times 127 steps)
                CHECK(std::fabs(x[j] - y8[j]) <= amax / 127.f * 0.5f + amax * 0x1p-11f * 1.01f);
                // q4: one step (the top of the opposite sign clips from +8 to +7) plus fp16 rounding of d
                CHECK(std::fabs(x[j] - y4[j]) <= amax / 8.f * 1.0f + amax * 0x1p-11f * 1.01f);
                CHECK(std::fabs(x[j] - yh[j]) <= std::max(std::fabs(x[j]) * 0x1p-11f, 0x1p-25f));
                se4 += double(x[j] - y4[j]) * (x[j] - y4[j]);
                se4m += double(x[j] - y4m[j]) * (x[j] - y4m[j]);
                se8 += double(x[j] - y8[j]) * (x[j] - y8[j]);
            }
        }
        const double rms4 = std::sqrt(se4 / k), rms4m = std::sqrt(se4m / k), rms8 = std::sqrt(se8 / k);
        MESSAGE("scale ", scale, ": rms q8_0 ", rms8 / scale, ", q4_0 ", rms4 / scale, ", q4_0_mse ",
                rms4m / scale, " (relative to scale)");
        CHECK(rms8 < rms4);
        CHECK(rms4m < rms4 * 0.99);  // the searched scale is better (about 3% on uniform data)
    }
}

TEST_CASE("quant: q4_0_mse never has a larger block error than its s = 1 candidate") {
    auto x = test::random_floats(32 * 2000, 99);
    for (size_t i = 0; i < x.size(); ++i) x[i] = x[i] * x[i] * x[i];  // heavier tails
    std::vector<uint8_t> a(2000 * 18), b(2000 * 18);
    quantize_row_q4_0(x.data(), a.data(), x.size());
    quantize_row_q4_0_mse(x.data(), b.data(), x.size());
    std::vector<float> ya(x.size()), yb(x.size());
    fmt::dequantize_row(Format::Q4_0, a.data(), ya.data(), x.size());
    fmt::dequantize_row(Format::Q4_0, b.data(), yb.data(), x.size());
    int better = 0;
    for (size_t blk = 0; blk < 2000; ++blk) {
        double ea = 0, eb = 0;
        for (size_t j = blk * 32; j < blk * 32 + 32; ++j) {
            ea += double(x[j] - ya[j]) * (x[j] - ya[j]);
            eb += double(x[j] - yb[j]) * (x[j] - yb[j]);
        }
        CHECK(eb <= ea * 1.0001 + 1e-12);
        better += eb < ea;
    }
    CHECK(better > 1000);
}

namespace {

// ggml's quantize_row_q4_0_ref / quantize_row_q8_0_ref, transcribed verbatim (one block).
void ggml_q4_0_block(const float* x, BlockQ4_0& y) {
    const int qk = 32;
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < qk; j++) {
        const float v = x[j];
        if (amax < fabsf(v)) {
            amax = fabsf(v);
            max = v;
        }
    }
    const float d = max / -8;
    const float id = d ? 1.0f / d : 0.0f;
    y.d = fp32_to_fp16(d);
    for (int j = 0; j < qk / 2; ++j) {
        const float x0 = x[0 + j] * id;
        const float x1 = x[qk / 2 + j] * id;
        const uint8_t xi0 = std::min<uint8_t>(15, uint8_t((int8_t)(x0 + 8.5f)));
        const uint8_t xi1 = std::min<uint8_t>(15, uint8_t((int8_t)(x1 + 8.5f)));
        y.qs[j] = xi0;
        y.qs[j] |= xi1 << 4;
    }
}
void ggml_q8_0_block(const float* x, BlockQ8_0& y) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = std::max(amax, fabsf(x[j]));
    const float d = amax / ((1 << 7) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    y.d = fp32_to_fp16(d);
    for (int j = 0; j < 32; ++j) y.qs[j] = int8_t(roundf(x[j] * id));
}

}  // namespace

TEST_CASE("quant: bit-exact with a verbatim transcription of ggml's reference quantizers") {
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    for (int it = 0; it < 20000; ++it) {
        float x[32];
        const int kind = it % 4;
        for (int j = 0; j < 32; ++j) {
            x[j] = u(rng);
            if (kind == 1) x[j] = float(int(x[j] * 8)) / 4.f;         // many equal magnitudes, both signs
            if (kind == 2) x[j] = (j % 3 == 0) ? -x[0] : x[j] * 1e-3f;  // ties between +m and -m
            if (kind == 3) x[j] *= std::ldexp(1.f, int(rng() % 60) - 30);
        }
        BlockQ4_0 a, b;
        quantize_row_q4_0(x, &a, 32);
        ggml_q4_0_block(x, b);
        CHECK(std::memcmp(&a, &b, sizeof a) == 0);
        BlockQ8_0 c, e;
        quantize_row_q8_0(x, &c, 32);
        ggml_q8_0_block(x, e);
        CHECK(std::memcmp(&c, &e, sizeof c) == 0);
    }
}

// ---------------------------------------------------------------- llama.cpp's files

namespace {

// For every tensor of llama.cpp's quantized stories260K file: the F32 original (same name)
// re-quantized by vkrt gives the same bytes, and dequantizes to within the format's error.
void check_against_llama_cpp(const std::string& file, int expect_q4, int expect_q8) {
    gguf::File f32 = gguf::File::open(test::models_dir() + "/stories260K.gguf");
    gguf::File q = gguf::File::open(test::models_dir() + "/llama.cpp/" + file);
    int n_q4 = 0, n_q8 = 0, n_f16 = 0, n_f32 = 0;
    for (const gguf::TensorInfo& t : q.tensors()) {
        CAPTURE(t.name);
        const gguf::TensorInfo& ref = f32.tensor(t.name);
        REQUIRE(ref.type == TensorType::F32);
        REQUIRE(ref.dims == t.dims);
        const std::vector<float> x = dequantize_tensor(ref);
        const std::vector<float> y = dequantize_tensor(t);
        std::vector<uint8_t> mine(t.n_bytes);
        const uint64_t row = t.dims[0], rb = fmt::row_bytes(t.type, row);
        for (uint64_t r = 0; r < t.n_elements / row; ++r)
            fmt::quantize_row(t.type, x.data() + r * row, mine.data() + r * rb, size_t(row));
        CHECK_MESSAGE(std::memcmp(mine.data(), t.data, t.n_bytes) == 0,
                      "vkrt's ", fmt::name(t.type), " bytes differ from llama.cpp's");
        // dequantized values within the format's error of the F32 model
        const uint32_t bs = fmt::traits(t.type).block_elems;
        for (size_t b0 = 0; b0 < x.size(); b0 += bs) {
            float amax = 0;
            for (size_t j = b0; j < b0 + bs; ++j) amax = std::max(amax, std::fabs(x[j]));
            for (size_t j = b0; j < b0 + bs; ++j) {
                const float e = std::fabs(x[j] - y[j]);
                switch (t.type) {
                    case TensorType::Q4_0: CHECK(e <= amax / 8.f + amax * 0x1p-11f * 1.01f); break;
                    case TensorType::Q8_0: CHECK(e <= amax / 254.f + amax * 0x1p-11f * 1.01f); break;
                    case TensorType::F16: CHECK(e <= std::max(std::fabs(x[j]) * 0x1p-11f, 0x1p-25f)); break;
                    default: CHECK(e == 0.f); break;
                }
            }
        }
        n_q4 += t.type == TensorType::Q4_0;
        n_q8 += t.type == TensorType::Q8_0;
        n_f16 += t.type == TensorType::F16;
        n_f32 += t.type == TensorType::F32;
    }
    MESSAGE(file, ": ", n_q4, " Q4_0, ", n_q8, " Q8_0, ", n_f16, " F16, ", n_f32, " F32 tensors checked");
    CHECK(n_q4 == expect_q4);
    CHECK(n_q8 == expect_q8);
    CHECK(n_f16 == 5);   // ffn_down: rows of 172
    CHECK(n_f32 == 11);  // norms
}

}  // namespace

TEST_CASE("quant: stories260K-q8_0.gguf == vkrt's Q8_0 of the F32 model, byte for byte") {
    // token_embd, output and attn_q/k/v/output + ffn_gate/up of 5 layers
    check_against_llama_cpp("stories260K-q8_0.gguf", 0, 2 + 5 * 6);
}

TEST_CASE("quant: stories260K-q4_0.gguf == vkrt's Q4_0 (and Q8_0 output) of the F32 model, byte for byte") {
    check_against_llama_cpp("stories260K-q4_0.gguf", 1 + 5 * 6, 1);
}
