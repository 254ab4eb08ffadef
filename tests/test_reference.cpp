// The host references (runtime/ref/) on hand-computed tiny cases, and the CPU
// llama forward for internal consistency (batch vs incremental, GQA mapping).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "core/error.hpp"
#include "ref/forward.hpp"
#include "core/fp16.hpp"
#include "ref/reference.hpp"
#include "test_util.hpp"

using namespace vkrt;
using namespace vkrt::ref;

namespace {

std::span<const uint8_t> bytes_of(const std::vector<float>& v) {
    return {reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(float)};
}

void put_u16(std::vector<uint8_t>& b, size_t at, uint16_t v) {
    b[at] = uint8_t(v & 0xff);
    b[at + 1] = uint8_t(v >> 8);
}

// One Q4_0 block: d = 0.5 (fp16 0x3800), qs[j] = j | (15 - j) << 4, so
// element j < 16 = 0.5 * (j - 8), element 16 + j = 0.5 * ((15 - j) - 8).
std::vector<uint8_t> q4_block() {
    std::vector<uint8_t> b(18);
    put_u16(b, 0, 0x3800);
    for (int j = 0; j < 16; ++j) b[2 + j] = uint8_t(j | ((15 - j) << 4));
    return b;
}
// One Q8_0 block: d = 0.25 (fp16 0x3400), qs[j] = j - 16 -> element j = 0.25 * (j - 16).
std::vector<uint8_t> q8_block() {
    std::vector<uint8_t> b(34);
    put_u16(b, 0, 0x3400);
    for (int j = 0; j < 32; ++j) b[2 + j] = uint8_t(int8_t(j - 16));
    return b;
}

bool throws_status(Status want, auto&& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.status() == want;
    }
    return false;
}

}  // namespace

TEST_CASE("formats: fp16 decode") {
    CHECK(fp16_to_fp32(0x0000) == 0.0f);
    CHECK(std::signbit(fp16_to_fp32(0x8000)));
    CHECK(fp16_to_fp32(0x3C00) == 1.0f);
    CHECK(fp16_to_fp32(0xC000) == -2.0f);
    CHECK(fp16_to_fp32(0x3800) == 0.5f);
    CHECK(fp16_to_fp32(0x3555) == 0.333251953125f);
    CHECK(fp16_to_fp32(0x7BFF) == 65504.0f);
    CHECK(fp16_to_fp32(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
    CHECK(fp16_to_fp32(0x03FF) == std::ldexp(1023.0f, -24));
    CHECK(fp16_to_fp32(0x0400) == std::ldexp(1.0f, -14));  // smallest normal
    CHECK(std::isinf(fp16_to_fp32(0x7C00)));
    CHECK(fp16_to_fp32(0xFC00) < 0);
    CHECK(std::isnan(fp16_to_fp32(0x7E00)));
}

TEST_CASE("formats: Q4_0 / Q8_0 / F16 rows decode as specified") {
    const auto b4 = q4_block();
    float y[32];
    fmt::dequantize_row(Format::Q4_0, b4.data(), y, 32);
    for (int j = 0; j < 16; ++j) CHECK(y[j] == 0.5f * float(j - 8));
    for (int j = 0; j < 16; ++j) CHECK(y[16 + j] == 0.5f * float((15 - j) - 8));
    CHECK(y[0] == -4.0f);
    CHECK(y[16] == 3.5f);

    const auto b8 = q8_block();
    fmt::dequantize_row(Format::Q8_0, b8.data(), y, 32);
    for (int j = 0; j < 32; ++j) CHECK(y[j] == 0.25f * float(j - 16));

    std::vector<uint8_t> h(6);
    put_u16(h, 0, 0x3C00);
    put_u16(h, 2, 0xC000);
    put_u16(h, 4, 0x3800);
    fmt::dequantize_row(Format::F16, h.data(), y, 3);
    CHECK(y[0] == 1.0f);
    CHECK(y[1] == -2.0f);
    CHECK(y[2] == 0.5f);

    CHECK(fmt::row_bytes(Format::F32, 5) == 20);
    CHECK(fmt::row_bytes(Format::F16, 5) == 10);
    CHECK(fmt::row_bytes(Format::Q4_0, 64) == 36);
    CHECK(fmt::row_bytes(Format::Q8_0, 64) == 68);
    CHECK(throws_status(Status::invalid_argument, [] { fmt::row_bytes(Format::Q4_0, 33); }));
    CHECK(throws_status(Status::unsupported, [] { fmt::row_bytes(Format(4), 32); }));

    // Two rows: dequantize walks rows of row_bytes.
    std::vector<uint8_t> two = b4;
    two.insert(two.end(), b4.begin(), b4.end());
    two[18 + 2] = 0x00;  // second row, element 0 -> 0.5*(0-8), element 16 -> 0.5*(0-8)
    const auto m = dequantize(Format::Q4_0, two, 2, 32);
    CHECK(m.size() == 64);
    CHECK(m[32] == -4.0f);
    CHECK(m[48] == -4.0f);
    CHECK(m[17] == 0.5f * float(14 - 8));
    CHECK(throws_status(Status::invalid_argument, [&] { dequantize(Format::Q4_0, two, 3, 32); }));
}

TEST_CASE("quantize_rows_i8: scale, rounding ties away from zero, zero rows") {
    // amax = 127 -> s = 1 exactly, so q = round(x): ties go away from zero.
    const std::vector<float> x = {127.f, 63.5f, -63.5f, 0.5f, -0.5f, 1.49f, -2.5f, 0.f,  //
                                  0.f,   0.f,   0.f,    0.f,  0.f,   0.f,   0.f,   0.f,   //
                                  254.f, 1.f,   -1.f,   3.f,  -3.f,  5.f,   0.9f,  -254.f};
    const auto r = quantize_rows_i8(x, 3, 8);
    REQUIRE(r.s.size() == 3);
    CHECK(r.s[0] == 1.0f);
    const int8_t want0[8] = {127, 64, -64, 1, -1, 1, -3, 0};
    for (int k = 0; k < 8; ++k) CHECK(int(r.q[k]) == want0[k]);
    // all-zero row: s = 0, q = 0
    CHECK(r.s[1] == 0.0f);
    for (int k = 8; k < 16; ++k) CHECK(r.q[k] == 0);
    // amax = 254 -> s = 2: 1/2 = 0.5 -> 1, -0.5 -> -1, 1.5 -> 2, -1.5 -> -2, 2.5 -> 3, 0.45 -> 0
    CHECK(r.s[2] == 2.0f);
    const int8_t want2[8] = {127, 1, -1, 2, -2, 3, 0, -127};
    for (int k = 0; k < 8; ++k) CHECK(int(r.q[16 + k]) == want2[k]);

    // general row: q = round(x / (amax/127)) with float division
    const auto xr = test::random_floats(64, 7, -3.f, 3.f);
    const auto rr = quantize_rows_i8(xr, 2, 32);
    for (int m = 0; m < 2; ++m) {
        float amax = 0;
        for (int k = 0; k < 32; ++k) amax = std::max(amax, std::fabs(xr[m * 32 + k]));
        CHECK(rr.s[m] == amax / 127.0f);
        for (int k = 0; k < 32; ++k) {
            CHECK(int(rr.q[m * 32 + k]) == int(std::round(xr[m * 32 + k] / rr.s[m])));
            CHECK(std::fabs(float(rr.q[m * 32 + k]) * rr.s[m] - xr[m * 32 + k]) <= rr.s[m] * 0.5001f);
        }
    }
    CHECK(quantize_value_i8(1000.f, 1.f) == 127);
    CHECK(quantize_value_i8(-1000.f, 1.f) == -127);
    CHECK(throws_status(Status::invalid_argument, [&] { quantize_rows_i8(xr, 3, 32); }));
}

TEST_CASE("rmsnorm_quantize_rows_i8") {
    // x = [1,1,1,1]: mean(x^2) = 1, eps = 0 -> inv_rms = 1, y = w (/ smooth).
    const std::vector<float> x = {1, 1, 1, 1, 3, 4, 0, 0};
    const std::vector<float> w = {1, 2, 3, 4};
    const auto r = rmsnorm_quantize_rows_i8(x, w, {}, 2, 4, 0.0f);
    for (int k = 0; k < 4; ++k) CHECK(r.y[k] == w[k]);
    CHECK(r.s[0] == 4.0f / 127.0f);
    CHECK(r.q[3] == 127);
    // row 1: mean(x^2) = 25/4 -> inv_rms = 0.4 -> y = [1.2, 3.2, 0, 0]
    CHECK(r.y[4] == doctest::Approx(1.2).epsilon(1e-6));
    CHECK(r.y[5] == doctest::Approx(3.2).epsilon(1e-6));
    CHECK(r.y[6] == 0.0f);
    CHECK(r.q[5] == 127);
    // the quantization is exactly quantize_rows_i8 of y
    const auto rq = quantize_rows_i8(r.y, 2, 4);
    CHECK(rq.q == r.q);
    CHECK(rq.s == r.s);

    const std::vector<float> smooth = {2, 1, 0.5f, 4};
    const auto rs = rmsnorm_quantize_rows_i8(x, w, smooth, 2, 4, 0.0f);
    const float want[4] = {0.5f, 2.0f, 6.0f, 1.0f};
    for (int k = 0; k < 4; ++k) CHECK(rs.y[k] == want[k]);
    CHECK(rs.q[2] == 127);
    CHECK(throws_status(Status::invalid_argument,
                        [&] { rmsnorm_quantize_rows_i8(x, w, std::vector<float>{1.f}, 2, 4, 0.f); }));
}

TEST_CASE("gemm_i8_i32 and gemm_i8") {
    const std::vector<int8_t> xq = {1, 2, 3, -1, 0, 127};    // (2,3)
    const std::vector<int8_t> wq = {1, 1, 1, 2, -3, -127};   // (2,3)
    const auto acc = gemm_i8_i32(xq, wq, 2, 2, 3);
    REQUIRE(acc.size() == 4);
    CHECK(acc[0] == 6);
    CHECK(acc[1] == 2 - 6 - 381);
    CHECK(acc[2] == 126);
    CHECK(acc[3] == -2 - 16129);
    const std::vector<float> sx = {0.5f, 2.0f}, sw = {1.0f, 0.25f}, bias = {1.0f, -1.0f};
    const auto y = gemm_i8(xq, sx, wq, sw, bias, 2, 2, 3);
    CHECK(y[0] == 4.0f);
    CHECK(y[1] == -49.125f);
    CHECK(y[2] == 253.0f);
    CHECK(y[3] == -8066.5f);
    const auto yn = gemm_i8(xq, sx, wq, sw, {}, 2, 2, 3);
    CHECK(yn[0] == 3.0f);
    CHECK(yn[3] == -8065.5f);
    // extreme values stay exact in int32
    const std::vector<int8_t> a(1024, -127), b(1024, -127);
    CHECK(gemm_i8_i32(a, b, 1, 1, 1024)[0] == 1024 * 127 * 127);
    CHECK(throws_status(Status::invalid_argument, [&] { gemm_i8_i32(xq, wq, 2, 3, 3); }));
}

TEST_CASE("smooth_rows and static-scale quantization") {
    const std::vector<float> x = {1, -3, 6, 2, 0.5f, -8};  // (2,3)
    const std::vector<float> sm = {2, 0.5f, 3};
    const auto y = smooth_rows(x, sm, 2, 3);
    const float want[6] = {0.5f, -6.f, 2.f, 1.f, 1.f, -8.f / 3.f};
    for (int i = 0; i < 6; ++i) CHECK(y[i] == want[i]);
    CHECK(smooth_rows(x, {}, 2, 3) == x);
    CHECK(throws_status(Status::invalid_argument, [&] { smooth_rows(x, std::vector<float>{1.f}, 2, 3); }));

    // s = 0.5: q = round(v / 0.5) half away from zero, clamped (the scale is fixed).
    const std::vector<float> v = {1.25f, -0.25f, 100.f, -100.f, 0.75f, 0.f};  // (2,3)
    const auto r = quantize_rows_i8_static(v, 0.5f, 2, 3);
    const int8_t wq[6] = {3, -1, 127, -127, 2, 0};
    for (int i = 0; i < 6; ++i) CHECK(int(r.q[i]) == wq[i]);
    CHECK(r.s == std::vector<float>{0.5f, 0.5f});  // the static scale in every row
    // s <= 0 or NaN: zeros (and s copied through)
    for (float bad : {0.f, -1.f, std::nanf("")}) {
        const auto z = quantize_rows_i8_static(v, bad, 2, 3);
        for (int i = 0; i < 6; ++i) CHECK(z.q[i] == 0);
    }
    CHECK(throws_status(Status::invalid_argument, [&] { quantize_rows_i8_static(v, 1.f, 3, 3); }));
}

TEST_CASE("quantize_rows_asym_i8: range, zero point, shifted storage") {
    // Row 0: lo = -1, hi = 3, s = 4/255, zp = round(63.75) = 64:
    //   -1 -> -64 + 64 = 0, 0 -> 64, 3 -> 191 + 64 = 255, 0.5 -> 32 + 64 = 96; stored minus 128.
    // Row 1: all >= 0: lo = 0 -> zp = 0. Row 2: all zero: s = 0, q = 0, zp = 0.
    // Row 3: lo = -100, hi = 155: s = 1 exactly, zp = 100; ties round away from zero.
    const std::vector<float> v = {-1.f, 0.f, 3.f, 0.5f,  //
                                  1.f,  4.f, 3.f, 0.f,   //
                                  0.f,  0.f, 0.f, 0.f,   //
                                  -100.f, 155.f, 0.5f, -0.5f};
    const auto r = quantize_rows_asym_i8(v, 4, 4);
    CHECK(r.s[0] == 4.0f / 255.0f);
    CHECK(r.zp[0] == 64 - 128);
    const int u0[4] = {0, 64, 255, 96};
    for (int k = 0; k < 4; ++k) CHECK(int(r.q[k]) == u0[k] - 128);
    CHECK(r.s[1] == 4.0f / 255.0f);
    CHECK(r.zp[1] == -128);
    const int u1[4] = {64, 255, 191, 0};  // 1/s = 63.75 -> 64, 3/s = 191.25 -> 191
    for (int k = 0; k < 4; ++k) CHECK(int(r.q[4 + k]) == u1[k] - 128);
    CHECK(r.s[2] == 0.0f);
    CHECK(r.zp[2] == -128);
    for (int k = 0; k < 4; ++k) CHECK(int(r.q[8 + k]) == -128);
    CHECK(r.s[3] == 1.0f);
    CHECK(r.zp[3] == 100 - 128);
    const int u3[4] = {0, 255, 101, 99};
    for (int k = 0; k < 4; ++k) CHECK(int(r.q[12 + k]) == u3[k] - 128);

    // Random rows: s * (q' - zp') reconstructs v within s/2 (plus rounding), q' - zp' = q - zp.
    const auto x = test::random_floats(3 * 50, 11, -0.5f, 2.f);
    const auto rr = quantize_rows_asym_i8(x, 3, 50);
    for (int m = 0; m < 3; ++m) {
        CHECK(rr.s[m] > 0.f);
        for (int k = 0; k < 50; ++k) {
            const float back = rr.s[m] * float(int(rr.q[m * 50 + k]) - rr.zp[m]);
            CHECK(std::fabs(back - x[m * 50 + k]) <= rr.s[m] * 0.5001f);
        }
    }
    CHECK(throws_status(Status::invalid_argument, [&] { quantize_rows_asym_i8(x, 4, 50); }));
}

TEST_CASE("row_sums_i8, gemm_i8_i32_asym and gemm_i8_asym") {
    const std::vector<int8_t> wq = {1, 2, 3, -128, 127, -5};  // (2,3)
    CHECK(row_sums_i8(wq, 2, 3) == std::vector<int32_t>{6, -6});
    // acc = sum_k xq*wq - zp * wsum = sum_k (xq - zp) * wq
    const std::vector<int8_t> xq = {-128, 0, 127, 5, 5, 5};  // (2,3)
    const std::vector<int32_t> zp = {-128, 3};
    const auto acc = gemm_i8_i32_asym(xq, zp, wq, 2, 2, 3);
    for (int m = 0; m < 2; ++m)
        for (int n = 0; n < 2; ++n) {
            int32_t want = 0;
            for (int k = 0; k < 3; ++k) want += (int32_t(xq[m * 3 + k]) - zp[m]) * int32_t(wq[n * 3 + k]);
            CHECK(acc[m * 2 + n] == want);
        }
    CHECK(acc[0] == 0 * 1 + 128 * 2 + 255 * 3);
    const std::vector<float> sx = {0.5f, 2.f}, sw = {1.f, 0.25f}, bias = {1.f, -1.f};
    const auto y = gemm_i8_asym(xq, sx, zp, wq, sw, bias, 2, 2, 3);
    for (int m = 0; m < 2; ++m)
        for (int n = 0; n < 2; ++n) CHECK(y[m * 2 + n] == (float(acc[m * 2 + n]) * sx[m]) * sw[n] + bias[n]);
    CHECK(gemm_i8_asym(xq, sx, zp, wq, sw, {}, 2, 2, 3)[0] == float(acc[0]) * 0.5f);
    // Largest corrected accumulator: (127 - (-128)) * 127 * K stays exact at K = 66311.
    const size_t K = 66311;
    const std::vector<int8_t> a(K, 127), b(K, 127);
    CHECK(gemm_i8_i32_asym(a, std::vector<int32_t>{-128}, b, 1, 1, K)[0] == int32_t(255 * 127 * K));
    const std::vector<int8_t> a2(K + 1, 127), b2(K + 1, 127);
    CHECK(throws_status(Status::invalid_argument,
                        [&] { gemm_i8_i32_asym(a2, std::vector<int32_t>{0}, b2, 1, 1, K + 1); }));
    CHECK(throws_status(Status::invalid_argument, [&] { gemm_i8_i32_asym(xq, {}, wq, 2, 2, 3); }));
}

TEST_CASE("matmul_f32: float and typed weights") {
    const std::vector<float> x = {1, 2, -1, 0.5f};      // (2,2)
    const std::vector<float> w = {3, 4, 5, 6, -1, 1};   // (3,2)
    const auto y = matmul_f32(x, w, 2, 3, 2);
    const float want[6] = {11, 17, 1, -1, -2, 1.5f};
    for (int i = 0; i < 6; ++i) CHECK(y[i] == want[i]);
    // same through the typed entry point with F32 bytes
    CHECK(matmul_f32(x, bytes_of(w), Format::F32, 2, 3, 2) == y);

    // F16 weights: W = [[1, -2], [0.5, 1]]
    std::vector<uint8_t> h(8);
    put_u16(h, 0, 0x3C00);
    put_u16(h, 2, 0xC000);
    put_u16(h, 4, 0x3800);
    put_u16(h, 6, 0x3C00);
    const auto yh = matmul_f32(x, h, Format::F16, 2, 2, 2);
    CHECK(yh[0] == -3.0f);
    CHECK(yh[1] == 2.5f);
    CHECK(yh[2] == -2.0f);
    CHECK(yh[3] == 0.0f);

    // Q4_0 and Q8_0: one row each, x = 1..32 -> sum_j j * w_j
    std::vector<float> x32(32);
    std::iota(x32.begin(), x32.end(), 1.0f);
    const auto b4 = q4_block(), b8 = q8_block();
    double s4 = 0, s8 = 0;
    for (int j = 0; j < 32; ++j) {
        const double w4 = j < 16 ? 0.5 * (j - 8) : 0.5 * ((15 - (j - 16)) - 8);
        s4 += (j + 1) * w4;
        s8 += (j + 1) * 0.25 * (j - 16);
    }
    CHECK(matmul_f32(x32, b4, Format::Q4_0, 1, 1, 32)[0] == float(s4));
    CHECK(matmul_f32(x32, b8, Format::Q8_0, 1, 1, 32)[0] == float(s8));
    CHECK(throws_status(Status::invalid_argument, [&] { matmul_f32(x32, b8, Format::Q8_0, 1, 2, 32); }));
}

TEST_CASE("matmul_q_i8: exact int blocks, and close to the float matmul") {
    // x[j] = j - 16 except x[31] = 127: d = 127/127 = 1, q = x exactly.
    std::vector<float> x(32);
    for (int j = 0; j < 32; ++j) x[j] = float(j - 16);
    x[31] = 127.f;
    const auto bq = quantize_blocks_i8(x, 1, 32);
    CHECK(bq.d[0] == 1.0f);
    for (int j = 0; j < 32; ++j) CHECK(float(bq.q[j]) == x[j]);
    int32_t acc8 = 0, acc4 = 0;
    for (int j = 0; j < 32; ++j) {
        acc8 += int32_t(x[j]) * (j - 16);
        acc4 += int32_t(x[j]) * (j < 16 ? j - 8 : (15 - (j - 16)) - 8);
    }
    CHECK(matmul_q_i8(x, q8_block(), Format::Q8_0, 1, 1, 32)[0] == float(acc8) * 0.25f);
    CHECK(matmul_q_i8(x, q4_block(), Format::Q4_0, 1, 1, 32)[0] == float(acc4) * 0.5f);

    // Random: per-block quantization, zero block, bound vs the float matmul.
    const size_t M = 3, N = 4, K = 96;
    auto xr = test::random_floats(M * K, 11, -2.f, 2.f);
    for (size_t k = 32; k < 64; ++k) xr[1 * K + k] = 0.f;  // row 1, block 1 all zero
    std::vector<uint8_t> w8(N * K / 32 * 34);
    const auto wv = test::random_i8(N * K, 12);
    for (size_t n = 0; n < N; ++n)
        for (size_t b = 0; b < K / 32; ++b) {
            uint8_t* blk = &w8[(n * K / 32 + b) * 34];
            const uint16_t d = uint16_t(0x2000 + 0x100 * ((n + b) % 8));  // small positive halves
            blk[0] = uint8_t(d & 0xff);
            blk[1] = uint8_t(d >> 8);
            for (size_t j = 0; j < 32; ++j) blk[2 + j] = uint8_t(wv[n * K + b * 32 + j]);
        }
    const auto q = quantize_blocks_i8(xr, M, K);
    CHECK(q.d[1 * 3 + 1] == 0.0f);
    for (size_t k = 32; k < 64; ++k) CHECK(q.q[1 * K + k] == 0);
    const auto yq = matmul_q_i8(q, w8, Format::Q8_0, M, N, K);
    CHECK(yq == matmul_q_i8(xr, w8, Format::Q8_0, M, N, K));
    const auto yf = matmul_f32(xr, w8, Format::Q8_0, M, N, K);
    const auto wf = dequantize(Format::Q8_0, w8, N, K);
    for (size_t m = 0; m < M; ++m)
        for (size_t n = 0; n < N; ++n) {
            // |x - q*d| <= d/2 per element (+ float rounding of the terms)
            double bound = 0;
            for (size_t k = 0; k < K; ++k) bound += 0.5 * q.d[m * 3 + k / 32] * std::fabs(wf[n * K + k]);
            CHECK(std::fabs(double(yq[m * N + n]) - double(yf[m * N + n])) <= bound * 1.001 + 1e-5);
        }
    CHECK(throws_status(Status::invalid_argument, [&] { matmul_q_i8(xr, w8, Format::F16, M, N, K); }));
}

TEST_CASE("rmsnorm") {
    const std::vector<float> x = {3, 4, 1, 1};
    const std::vector<float> w = {1, 2};
    const auto y = rmsnorm(x, w, 2, 2, 0.0f);
    CHECK(y[0] == doctest::Approx(3.0 / std::sqrt(12.5)).epsilon(1e-7));
    CHECK(y[1] == doctest::Approx(8.0 / std::sqrt(12.5)).epsilon(1e-7));
    CHECK(y[2] == 1.0f);
    CHECK(y[3] == 2.0f);
    const auto ye = rmsnorm(x, w, 2, 2, 1.0f);  // (1, 1): mean 1, + eps 1 -> 1/sqrt(2)
    CHECK(ye[2] == doctest::Approx(1.0 / std::sqrt(2.0)).epsilon(1e-7));
}

TEST_CASE("rope: NORM and NEOX at pos 1, partial rotation, pos 0 identity") {
    // head_dim 4, n_rot 4, base 10000: theta_0 = pos, theta_1 = pos * 10000^(-1/2) = pos / 100.
    const std::vector<int32_t> pos1 = {1};
    {
        const std::vector<float> x = {1, 0, 1, 0};
        const auto y = rope(x, pos1, 1, 1, 4, 4, 10000.f, RopeMode::norm);
        CHECK(y[0] == doctest::Approx(std::cos(1.0)).epsilon(1e-7));
        CHECK(y[1] == doctest::Approx(std::sin(1.0)).epsilon(1e-7));
        CHECK(y[2] == doctest::Approx(std::cos(0.01)).epsilon(1e-7));
        CHECK(y[3] == doctest::Approx(std::sin(0.01)).epsilon(1e-7));
    }
    {
        // NEOX pairs (0,2) and (1,3)
        const std::vector<float> x = {1, 1, 0, 0};
        const auto y = rope(x, pos1, 1, 1, 4, 0, 10000.f, RopeMode::neox);
        CHECK(y[0] == doctest::Approx(std::cos(1.0)).epsilon(1e-7));
        CHECK(y[2] == doctest::Approx(std::sin(1.0)).epsilon(1e-7));
        CHECK(y[1] == doctest::Approx(std::cos(0.01)).epsilon(1e-7));
        CHECK(y[3] == doctest::Approx(std::sin(0.01)).epsilon(1e-7));
    }
    {
        // general (a,b) rotation: (2, 3) at theta = 2 (pos 2, i = 0)
        const std::vector<float> x = {2, 3};
        const std::vector<int32_t> p2 = {2};
        const auto y = rope(x, p2, 1, 1, 2, 2, 10000.f, RopeMode::norm);
        CHECK(y[0] == doctest::Approx(2 * std::cos(2.0) - 3 * std::sin(2.0)).epsilon(1e-7));
        CHECK(y[1] == doctest::Approx(2 * std::sin(2.0) + 3 * std::cos(2.0)).epsilon(1e-7));
    }
    {
        // partial: n_rot 2 of head_dim 4, two heads, two rows (pos 0 and 3)
        const std::vector<float> x = {1, 0, 5, 6, 0, 1, 7, 8,  //
                                      1, 0, 5, 6, 0, 1, 7, 8};
        const std::vector<int32_t> p = {0, 3};
        const auto y = rope(x, p, 2, 2, 4, 2, 10000.f, RopeMode::norm);
        for (int i = 0; i < 8; ++i) CHECK(y[i] == x[i]);  // pos 0: identity
        CHECK(y[8] == doctest::Approx(std::cos(3.0)).epsilon(1e-7));
        CHECK(y[9] == doctest::Approx(std::sin(3.0)).epsilon(1e-7));
        CHECK(y[10] == 5.0f);
        CHECK(y[11] == 6.0f);
        CHECK(y[12] == doctest::Approx(-std::sin(3.0)).epsilon(1e-7));
        CHECK(y[13] == doctest::Approx(std::cos(3.0)).epsilon(1e-7));
        CHECK(y[14] == 7.0f);
        CHECK(y[15] == 8.0f);
    }
    const std::vector<float> x3(6);
    CHECK(throws_status(Status::invalid_argument, [&] { rope(x3, pos1, 1, 1, 6, 3, 1e4f, RopeMode::norm); }));
}

TEST_CASE("softmax_rows, swiglu, add") {
    const std::vector<float> x = {1, 2, 3, 1000, 1000, -1000};
    const auto y = softmax_rows(x, 2, 3);
    CHECK(y[0] + y[1] + y[2] == doctest::Approx(1.0).epsilon(1e-7));
    CHECK(y[1] / y[0] == doctest::Approx(std::exp(1.0)).epsilon(1e-6));
    CHECK(y[2] / y[1] == doctest::Approx(std::exp(1.0)).epsilon(1e-6));
    CHECK(y[3] == 0.5f);  // max-subtracted: no overflow
    CHECK(y[4] == 0.5f);
    CHECK(y[5] == 0.0f);

    const std::vector<float> g = {0, 1, -1, 20}, u = {5, 2, 2, 1};
    const auto s = swiglu(g, u);
    CHECK(s[0] == 0.0f);
    CHECK(s[1] == doctest::Approx(2.0 / (1.0 + std::exp(-1.0))).epsilon(1e-7));
    CHECK(s[2] == doctest::Approx(-2.0 / (1.0 + std::exp(1.0))).epsilon(1e-7));
    CHECK(s[3] == doctest::Approx(20.0).epsilon(1e-7));

    const auto a = add(g, u);
    CHECK(a == std::vector<float>{5, 3, 1, 21});
    CHECK(throws_status(Status::invalid_argument, [&] { add(g, std::vector<float>{1}); }));
}

TEST_CASE("embedding: F32 and Q8_0 tables, bad ids") {
    const std::vector<float> t = {0, 1, 10, 11, 20, 21};  // (3,2)
    const std::vector<int32_t> ids = {2, 0, 2};
    const auto e = embedding(bytes_of(t), Format::F32, 3, 2, ids);
    CHECK(e == std::vector<float>{20, 21, 0, 1, 20, 21});
    // Q8_0 table of 2 rows of 32
    auto t8 = q8_block();
    auto row1 = q8_block();
    put_u16(row1, 0, 0x3C00);  // d = 1
    t8.insert(t8.end(), row1.begin(), row1.end());
    const std::vector<int32_t> i8 = {1};
    const auto e8 = embedding(t8, Format::Q8_0, 2, 32, i8);
    for (int j = 0; j < 32; ++j) CHECK(e8[j] == float(j - 16));
    const std::vector<int32_t> bad = {3}, neg = {-1};
    CHECK(throws_status(Status::invalid_argument, [&] { embedding(bytes_of(t), Format::F32, 3, 2, bad); }));
    CHECK(throws_status(Status::invalid_argument, [&] { embedding(bytes_of(t), Format::F32, 3, 2, neg); }));
}

TEST_CASE("kv_store") {
    std::vector<float> cache(4 * 2, -1.f);
    const std::vector<float> src = {1, 2, 3, 4};
    const std::vector<int32_t> pos = {2, 0};
    kv_store(src, pos, cache, 2, 2, 4);
    CHECK(cache == std::vector<float>{3, 4, -1, -1, 1, 2, -1, -1});
    const std::vector<int32_t> bad = {4, 0};
    CHECK(throws_status(Status::invalid_argument, [&] { kv_store(src, bad, cache, 2, 2, 4); }));
}

TEST_CASE("kv_store: F16 and Q8_0 caches hold the values rounded as stored") {
    // F16: 1/3 -> 0x3555 = 0.333251953125 (nearest even); 65519 -> 65504 (largest half).
    std::vector<float> cache(2, 0.f);
    kv_store(std::vector<float>{1.f / 3.f, 65519.f}, std::vector<int32_t>{0}, cache, 1, 2, 1, uint32_t(Format::F16));
    CHECK(cache == std::vector<float>{0.333251953125f, 65504.f});
    const auto f16 = encode_kv_row(uint32_t(Format::F16), std::vector<float>{1.f / 3.f, -2.f});
    CHECK(f16 == std::vector<uint8_t>{0x55, 0x35, 0x00, 0xc0});
    // Q8_0: amax 127 -> d = 1; 63.5 and -63.5 round half away from zero; 0.49 -> 0.
    std::vector<float> x(32, 0.f);
    x[0] = 127.f, x[1] = 63.5f, x[2] = -63.5f, x[3] = 0.49f, x[31] = -100.25f;
    const auto q = encode_kv_row(uint32_t(Format::Q8_0), x);
    REQUIRE(q.size() == 34);
    CHECK(q[0] == 0x00);  // fp16 1.0 = 0x3c00, little-endian
    CHECK(q[1] == 0x3c);
    CHECK(int8_t(q[2]) == 127);
    CHECK(int8_t(q[3]) == 64);
    CHECK(int8_t(q[4]) == -64);
    CHECK(int8_t(q[5]) == 0);
    CHECK(int8_t(q[33]) == -100);
    std::vector<float> c8(32 * 2, 7.f);
    kv_store(x, std::vector<int32_t>{1}, c8, 1, 32, 2, uint32_t(Format::Q8_0));
    CHECK(c8[32] == 127.f);
    CHECK(c8[33] == 64.f);
    CHECK(c8[35] == 0.f);
    CHECK(c8[63] == -100.f);
    CHECK(c8[0] == 7.f);  // row 0 untouched
    // An all-zero block: d = 0, q = 0.
    CHECK(round_kv_row(uint32_t(Format::Q8_0), std::vector<float>(32, 0.f)) == std::vector<float>(32, 0.f));
    CHECK(throws_status(Status::invalid_argument, [&] { encode_kv_row(uint32_t(Format::Q8_0), std::vector<float>(16, 1.f)); }));
    CHECK(throws_status(Status::invalid_argument, [&] { encode_kv_row(uint32_t(Format::Q4_0), std::vector<float>(32, 1.f)); }));
}

TEST_CASE("attention: one key, hand-computed weights, causality, GQA mapping") {
    // one key: output = v
    {
        const std::vector<float> q = {0.3f, -2.f}, k = {5.f, 7.f}, v = {1.5f, -4.f};
        const std::vector<int32_t> pos = {0};
        const auto o = attention(q, k, v, pos, 1, 1, 1, 2, 1);
        CHECK(o[0] == 1.5f);
        CHECK(o[1] == -4.0f);
    }
    // two keys: hd = 2, scale 1/sqrt(2); q = (1,0), k0 = 0, k1 = (sqrt(2) ln 3, 0)
    // -> scores 0, ln 3 -> p = (1/4, 3/4); v0 = (4,0), v1 = (0,4) -> out = (1, 3).
    {
        const std::vector<float> q = {1, 0, 1, 0};  // two queries at pos 1 and pos 0
        const std::vector<float> k = {0, 0, float(std::sqrt(2.0) * std::log(3.0)), 0};
        const std::vector<float> v = {4, 0, 0, 4};
        const std::vector<int32_t> pos = {1, 0};
        const auto o = attention(q, k, v, pos, 2, 1, 1, 2, 2);
        CHECK(o[0] == doctest::Approx(1.0).epsilon(1e-6));
        CHECK(o[1] == doctest::Approx(3.0).epsilon(1e-6));
        CHECK(o[2] == 4.0f);  // causal: pos 0 sees only row 0
        CHECK(o[3] == 0.0f);
        // explicit scale: 1/sqrt(2) gives the same
        const auto o2 = attention(q, k, v, pos, 2, 1, 1, 2, 2, float(1.0 / std::sqrt(2.0)));
        CHECK(o2[0] == doctest::Approx(1.0).epsilon(1e-6));
    }
    // GQA: n_head 4, n_head_kv 2, hd 1, one cache row: head h reads kv head h / 2.
    {
        const std::vector<float> q = {1, 1, 1, 1}, k = {1, 1}, v = {10, 20};
        const std::vector<int32_t> pos = {0};
        const auto o = attention(q, k, v, pos, 1, 4, 2, 1, 1);
        CHECK(o == std::vector<float>{10, 10, 20, 20});
        CHECK(throws_status(Status::invalid_argument, [&] { attention(q, k, v, pos, 1, 4, 3, 1, 1); }));
        const std::vector<int32_t> bad = {1};
        CHECK(throws_status(Status::invalid_argument, [&] { attention(q, k, v, bad, 1, 4, 2, 1, 1); }));
    }
}

// ---- CPU llama forward ---------------------------------------------------------

namespace {

RefWeights random_weights(const RefConfig& c, uint32_t seed) {
    auto rnd = [&](size_t n, float a) { return test::random_floats(n, seed++, -a, a); };
    const size_t E = c.n_embd, Q = c.q_dim(), KV = c.kv_dim(), F = c.n_ff, V = c.n_vocab;
    RefWeights w;
    w.tok_embd = rnd(V * E, 1.0f);
    for (uint32_t l = 0; l < c.n_layer; ++l) {
        RefLayer L;
        L.attn_norm = test::random_floats(E, seed++, 0.5f, 1.5f);
        L.wq = rnd(Q * E, 0.5f);
        L.wk = rnd(KV * E, 0.5f);
        L.wv = rnd(KV * E, 0.5f);
        L.wo = rnd(E * Q, 0.3f);
        L.ffn_norm = test::random_floats(E, seed++, 0.5f, 1.5f);
        L.w_gate = rnd(F * E, 0.3f);
        L.w_up = rnd(F * E, 0.3f);
        L.w_down = rnd(E * F, 0.3f);
        w.layers.push_back(std::move(L));
    }
    w.output_norm = test::random_floats(E, seed++, 0.5f, 1.5f);
    w.output = rnd(V * E, 0.5f);
    return w;
}

RefConfig small_config() {
    RefConfig c;
    c.n_layer = 2;
    c.n_embd = 32;
    c.n_head = 4;
    c.n_head_kv = 2;
    c.n_ff = 48;
    c.n_vocab = 40;
    c.n_ctx = 16;
    c.rope_base = 10000.f;
    c.rms_eps = 1e-5f;
    return c;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    double d = 0;
    for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(double(a[i]) - double(b[i])));
    return d;
}

}  // namespace

TEST_CASE("RefModel: batch == incremental == chunked, reset") {
    for (RopeMode mode : {RopeMode::norm, RopeMode::neox}) {
        CAPTURE(uint32_t(mode));
        RefConfig c = small_config();
        c.rope_neox = mode == RopeMode::neox;
        RefModel model(c, random_weights(c, 100));
        const std::vector<int32_t> toks = {3, 17, 0, 39, 5, 5, 22, 8, 11, 1};
        const size_t M = toks.size(), V = c.n_vocab;

        const auto batch = model.forward(toks, 0);
        REQUIRE(batch.size() == M * V);
        bool finite = true;
        for (float v : batch) finite = finite && std::isfinite(v);
        CHECK(finite);
        // logits differ between positions (not a degenerate model)
        CHECK(max_abs_diff(std::vector<float>(batch.begin(), batch.begin() + V),
                           std::vector<float>(batch.begin() + 4 * V, batch.begin() + 5 * V)) > 1e-3);

        model.reset();
        std::vector<float> inc;
        for (size_t m = 0; m < M; ++m) {
            const auto l = model.forward(std::span<const int32_t>(&toks[m], 1), int32_t(m));
            inc.insert(inc.end(), l.begin(), l.end());
        }
        CHECK(max_abs_diff(batch, inc) <= 1e-4);

        model.reset();
        auto chunked = model.forward(std::span<const int32_t>(toks.data(), 3), 0);
        const auto rest = model.forward(std::span<const int32_t>(toks.data() + 3, M - 3), 3);
        chunked.insert(chunked.end(), rest.begin(), rest.end());
        CHECK(max_abs_diff(batch, chunked) <= 1e-4);

        // re-evaluating a suffix over a filled cache gives the same logits
        const auto again = model.forward(std::span<const int32_t>(toks.data() + 6, 4), 6);
        CHECK(max_abs_diff(std::vector<float>(batch.begin() + 6 * V, batch.end()), again) <= 1e-4);

        // first token's logits do not depend on later tokens (causal)
        model.reset();
        const std::vector<int32_t> other = {3, 1, 2};
        const auto o = model.forward(other, 0);
        CHECK(max_abs_diff(std::vector<float>(batch.begin(), batch.begin() + V),
                           std::vector<float>(o.begin(), o.begin() + V)) == 0.0);
    }
}

TEST_CASE("RefModel: GQA equals MHA with duplicated kv heads; tied output; errors") {
    RefConfig g = small_config();  // n_head 4, n_head_kv 2
    g.n_rot = 4;                          // partial rotary: head_dim 8
    const RefWeights wg = random_weights(g, 300);
    RefConfig m = g;
    m.n_head_kv = 4;
    RefWeights wm = wg;
    const size_t E = g.n_embd, hd = g.hd();
    for (auto& L : wm.layers) {
        std::vector<float> k, v;
        for (size_t h = 0; h < 4; ++h) {  // MHA kv head h = GQA kv head h / 2
            const size_t src = (h / 2) * hd * E;
            k.insert(k.end(), L.wk.begin() + src, L.wk.begin() + src + hd * E);
            v.insert(v.end(), L.wv.begin() + src, L.wv.begin() + src + hd * E);
        }
        L.wk = k;
        L.wv = v;
    }
    RefModel a(g, wg), b(m, wm);
    const std::vector<int32_t> toks = {1, 2, 3, 4, 5, 6};
    CHECK(max_abs_diff(a.forward(toks, 0), b.forward(toks, 0)) <= 1e-5);

    // tied output: empty `output` uses tok_embd
    RefWeights wt = wg, wt2 = wg;
    wt.output.clear();
    wt2.output = wt2.tok_embd;
    RefModel t1(g, wt), t2(g, wt2);
    CHECK(t1.forward(toks, 0) == t2.forward(toks, 0));

    // errors
    const std::vector<int32_t> bad = {40};
    CHECK(throws_status(Status::invalid_argument, [&] { a.forward(bad, 0); }));
    CHECK(throws_status(Status::limit_exceeded, [&] { a.forward(toks, 11); }));
    RefWeights broken = wg;
    broken.layers[1].w_up.pop_back();
    CHECK(throws_status(Status::invalid_argument, [&] { RefModel r(g, broken); }));
    RefConfig c3 = g;
    c3.n_head_kv = 3;
    CHECK(throws_status(Status::invalid_argument, [&] { RefModel r(c3, wg); }));
}
