// Per-token int8 quantization (shaders/quantize.comp, ops/quantize.hpp) against
// vkrt::ref::quantize_rows_i8 / rmsnorm_quantize_rows_i8 (and, for the smoothing,
// static-scale and asymmetric modes, ref::smooth_rows / quantize_rows_i8_static /
// quantize_rows_asym_i8), on the subgroup and the shared-memory paths.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "gpu.hpp"
#include "ops/quantize.hpp"
#include "ref/reference.hpp"
#include "test_util.hpp"

using namespace vkrt;

namespace {

// The GPU's division (x / s, and amax / 127: Vulkan allows 2.5 ulp) and, in the
// fused kernel, its summation order may move x/s by a few ulp of 127 (~1e-5)
// against the host's; q may then differ by exactly 1, and only where x/s is this
// close to a .5 rounding boundary. Fused: y = x*inv_rms*w/smooth carries ~4
// roundings on each side, x/s = 127*y/amax is off by ~127 * 8 * 6e-8 = 6e-5.
constexpr double kQuantBoundaryTol = 1e-4;
constexpr double kFusedBoundaryTol = 3e-4;
// Scales: plain s = amax/127 with the same amax (exact), one division of <= 2.5 ulp.
constexpr double kScaleRelTol = 1e-6;
// Fused: s also carries inv_rms, whose sum of K squares is reduced in another
// order: relative error <= ~sqrt(K) * 6e-8 typically, bound 2e-6 at K = 11008.
constexpr double kFusedScaleRelTol = 5e-6;
// Plain quantizer with smoothing: y = x / smooth is one more division (<= 2.5 ulp on
// the GPU) before y/s: x/s moves by ~127 * 6 * 6e-8 = 5e-5.
constexpr double kSmoothBoundaryTol = 2e-4;
// ... and the scale s = amax/127 inherits amax's few ulp.
constexpr double kSmoothScaleRelTol = 2e-6;
// Asymmetric: y/s spans [-255, 255] instead of [-127, 127], so the same relative
// errors move it twice as far; the boundary tolerances above are scaled by this.
constexpr double kAsymRangeFactor = 255.0 / 127.0;
// At most this fraction of the values may sit on a boundary and differ by 1.
constexpr double kMaxMismatchFraction = 1e-3;

struct QuantOut {
    std::vector<uint32_t> words;  // M * Kw
    std::vector<float> sx;        // M
};

int8_t byte_of(const std::vector<uint32_t>& words, size_t word, uint32_t b) {
    return int8_t(uint8_t(words[word] >> (8 * b)));
}

// Checks GPU output against the reference: `v` are the values that were
// quantized (host side: x, or the host's fused y), ref_q/ref_s the reference's.
void check_against_ref(const QuantOut& g, const std::vector<float>& v, const std::vector<int8_t>& ref_q,
                       const std::vector<float>& ref_s, uint32_t M, uint32_t K, double boundary_tol,
                       double scale_tol) {
    const uint32_t Kw = ops::packed_row_words(K);
    size_t mismatches = 0;
    for (uint32_t m = 0; m < M; ++m) {
        const double rs = ref_s[m], gs = g.sx[m];
        if (rs == 0.0) {
            REQUIRE_MESSAGE(gs == 0.0, "row ", m, ": reference scale 0, GPU ", gs);
        } else {
            REQUIRE_MESSAGE(std::abs(gs - rs) <= scale_tol * std::abs(rs), "row ", m, ": scale ", gs, " vs ", rs);
        }
        for (uint32_t k = 0; k < Kw * 4; ++k) {
            const int q = byte_of(g.words, size_t(m) * Kw + k / 4, k % 4);
            if (k >= K) {
                REQUIRE_MESSAGE(q == 0, "row ", m, ": padding byte ", k, " is ", q);
                continue;
            }
            const int r = ref_q[size_t(m) * K + k];
            if (q == r) continue;
            REQUIRE_MESSAGE(std::abs(q - r) == 1, "row ", m, " k ", k, ": q ", q, " vs reference ", r);
            const double t = double(v[size_t(m) * K + k]) / rs;
            const double to_boundary = std::abs(t - (std::floor(t) + 0.5));
            REQUIRE_MESSAGE(to_boundary <= boundary_tol, "row ", m, " k ", k, ": q ", q, " vs ", r, ", x/s = ", t,
                            " is not on a rounding boundary");
            ++mismatches;
        }
    }
    const double n = double(M) * K;
    CHECK_MESSAGE(double(mismatches) <= kMaxMismatchFraction * n, mismatches, " of ", n, " values differ by 1");
}

// Rows of random data with varied dynamic range; row 1 (if any) is all zeros,
// row 2 (if any) has one large outlier (the SmoothQuant case).
std::vector<float> make_rows(uint32_t M, uint32_t K, uint32_t seed) {
    std::vector<float> x = test::random_floats(size_t(M) * K, seed, -1.f, 1.f);
    for (uint32_t m = 0; m < M; ++m) {
        const float scale = std::pow(10.f, float(int(m % 5) - 2));  // 0.01 .. 100
        for (uint32_t k = 0; k < K; ++k) x[size_t(m) * K + k] *= scale;
    }
    if (M > 1) std::fill(x.begin() + K, x.begin() + 2 * size_t(K), 0.f);
    if (M > 2) x[2 * size_t(K) + K / 2] = 300.f;
    return x;
}

QuantOut run_quantize(Device& dev, const std::vector<float>& x, uint32_t M, uint32_t K) {
    const uint32_t Kw = ops::packed_row_words(K);
    Buffer bx = make_buffer(dev, x, "x");
    Buffer bq(dev, uint64_t(M) * Kw * 4, MemoryKind::device, "xq");
    Buffer bs(dev, uint64_t(M) * 4, MemoryKind::device, "sx");
    // Poison the outputs so unwritten words show up.
    std::vector<uint32_t> poison(size_t(M) * Kw, 0xa5a5a5a5u);
    bq.upload(std::span<const uint32_t>(poison));
    test::run(dev, [&](Recorder& rec) { ops::quantize_rows_i8(rec, bx, bq, bs, M, K); });
    return {bq.download_as<uint32_t>(size_t(M) * Kw), bs.download_as<float>(M)};
}

QuantOut run_fused(Device& dev, const std::vector<float>& x, const std::vector<float>& w,
                   const std::vector<float>* smooth, uint32_t M, uint32_t K, float eps) {
    const uint32_t Kw = ops::packed_row_words(K);
    Buffer bx = make_buffer(dev, x, "x"), bw = make_buffer(dev, w, "w");
    Buffer bsm = smooth ? make_buffer(dev, *smooth, "smooth") : Buffer();
    Buffer bq(dev, uint64_t(M) * Kw * 4, MemoryKind::device, "xq");
    Buffer bs(dev, uint64_t(M) * 4, MemoryKind::device, "sx");
    std::vector<uint32_t> poison(size_t(M) * Kw, 0xa5a5a5a5u);
    bq.upload(std::span<const uint32_t>(poison));
    test::run(dev, [&](Recorder& rec) {
        ops::rmsnorm_quantize_rows_i8(rec, bx, bw, smooth ? BufferView(bsm) : BufferView{}, bq, bs, M, K, eps);
    });
    return {bq.download_as<uint32_t>(size_t(M) * Kw), bs.download_as<float>(M)};
}

struct Shape {
    uint32_t M, K;
};
const Shape kShapes[] = {{1, 1}, {3, 1}, {1, 31}, {4, 31}, {5, 4096}, {2, 11008}, {7, 100}};

// One call of any quantizer: fused when w is given, static when static_scale is,
// asymmetric when asym.
struct QuantCall {
    const std::vector<float>* w = nullptr;
    const std::vector<float>* smooth = nullptr;
    const float* static_scale = nullptr;
    bool asym = false;
    float eps = 1e-5f;
};

struct AsymOut {
    std::vector<uint32_t> words;  // M * Kw
    std::vector<float> sx;        // M
    std::vector<int32_t> zp;      // M (asymmetric only)
};

AsymOut run_call(Device& dev, const std::vector<float>& x, uint32_t M, uint32_t K, const QuantCall& c) {
    const uint32_t Kw = ops::packed_row_words(K);
    Buffer bx = make_buffer(dev, x, "x");
    Buffer bw = c.w ? make_buffer(dev, *c.w, "w") : Buffer();
    Buffer bsm = c.smooth ? make_buffer(dev, *c.smooth, "smooth") : Buffer();
    Buffer bss = c.static_scale ? make_buffer(dev, std::vector<float>{*c.static_scale}, "act_scale") : Buffer();
    Buffer bq(dev, uint64_t(M) * Kw * 4, MemoryKind::device, "xq");
    Buffer bs(dev, uint64_t(M) * 4, MemoryKind::device, "sx");
    Buffer bz(dev, uint64_t(M) * 4, MemoryKind::device, "xzp");
    std::vector<uint32_t> poison(size_t(M) * Kw, 0xa5a5a5a5u);
    bq.upload(std::span<const uint32_t>(poison));
    bz.upload(std::span<const uint32_t>(poison.data(), M));
    const BufferView sm = c.smooth ? BufferView(bsm) : BufferView{};
    const BufferView ss = c.static_scale ? BufferView(bss) : BufferView{};
    test::run(dev, [&](Recorder& rec) {
        if (c.asym && c.w) ops::rmsnorm_quantize_rows_asym_i8(rec, bx, bw, sm, bq, bs, bz, M, K, c.eps);
        else if (c.asym) ops::quantize_rows_asym_i8(rec, bx, bq, bs, bz, M, K, sm);
        else if (c.w) ops::rmsnorm_quantize_rows_i8(rec, bx, bw, sm, bq, bs, M, K, c.eps, ss);
        else ops::quantize_rows_i8(rec, bx, bq, bs, M, K, sm, ss);
    });
    return {bq.download_as<uint32_t>(size_t(M) * Kw), bs.download_as<float>(M),
            c.asym ? bz.download_as<int32_t>(M) : std::vector<int32_t>()};
}

// Asymmetric output against the reference: y are the values the reference quantized.
// zp' may differ by 1 only where -lo/s is on a rounding boundary; each q' must be
// clamp(round(y/s) + zp, 0, 255) - 128 with the GPU's zp (so exactly the reference
// when the zero points agree), off by 1 only where y/s is on a boundary.
void check_asym_against_ref(const AsymOut& g, const std::vector<float>& y, const ref::AsymQuantizedRows& r,
                            uint32_t M, uint32_t K, double boundary_tol, double scale_tol) {
    const uint32_t Kw = ops::packed_row_words(K);
    size_t mismatches = 0;
    for (uint32_t m = 0; m < M; ++m) {
        const double rs = r.s[m], gs = g.sx[m];
        if (rs == 0.0) {
            REQUIRE_MESSAGE(gs == 0.0, "row ", m, ": reference scale 0, GPU ", gs);
            REQUIRE_MESSAGE(g.zp[m] == -128, "row ", m, ": zero row, zp' ", g.zp[m]);
        } else {
            REQUIRE_MESSAGE(std::abs(gs - rs) <= scale_tol * std::abs(rs), "row ", m, ": scale ", gs, " vs ", rs);
        }
        if (g.zp[m] != r.zp[m]) {
            float lo = 0.f;
            for (uint32_t k = 0; k < K; ++k) lo = std::min(lo, y[size_t(m) * K + k]);
            const double t = -double(lo) / rs;
            REQUIRE_MESSAGE(std::abs(g.zp[m] - r.zp[m]) == 1, "row ", m, ": zp' ", g.zp[m], " vs ", r.zp[m]);
            REQUIRE_MESSAGE(std::abs(t - (std::floor(t) + 0.5)) <= boundary_tol, "row ", m, ": zp' ", g.zp[m],
                            " vs ", r.zp[m], ", -lo/s = ", t, " is not on a rounding boundary");
        }
        for (uint32_t k = 0; k < Kw * 4; ++k) {
            const int q = byte_of(g.words, size_t(m) * Kw + k / 4, k % 4);
            if (k >= K) {
                REQUIRE_MESSAGE(q == 0, "row ", m, ": padding byte ", k, " is ", q);
                continue;
            }
            int want = r.q[size_t(m) * K + k];
            if (rs != 0.0 && g.zp[m] != r.zp[m]) {
                const float t = std::round(y[size_t(m) * K + k] / r.s[m]);
                const float u = std::clamp(t + float(g.zp[m] + 128), 0.f, 255.f);
                want = int(u) - 128;
            }
            if (q == want) continue;
            REQUIRE_MESSAGE(std::abs(q - want) == 1, "row ", m, " k ", k, ": q' ", q, " vs reference ", want);
            const double t = double(y[size_t(m) * K + k]) / rs;
            REQUIRE_MESSAGE(std::abs(t - (std::floor(t) + 0.5)) <= boundary_tol, "row ", m, " k ", k, ": q' ", q,
                            " vs ", want, ", y/s = ", t, " is not on a rounding boundary");
            ++mismatches;
        }
    }
    const double n = double(M) * K;
    CHECK_MESSAGE(double(mismatches) <= kMaxMismatchFraction * n, mismatches, " of ", n, " values differ by 1");
}

// make_rows with a shifted range in some rows (asymmetric data: mostly positive,
// mostly negative, all positive), keeping the all-zero row 1.
std::vector<float> make_skewed_rows(uint32_t M, uint32_t K, uint32_t seed) {
    std::vector<float> x = make_rows(M, K, seed);
    for (uint32_t m = 0; m < M; ++m) {
        if (m == 1) continue;
        float amax = 0.f;
        for (uint32_t k = 0; k < K; ++k) amax = std::max(amax, std::abs(x[size_t(m) * K + k]));
        const float shift = (m % 3 == 0) ? 0.6f * amax : (m % 3 == 2) ? -0.3f * amax : 1.01f * amax;
        for (uint32_t k = 0; k < K; ++k) x[size_t(m) * K + k] += shift;
    }
    return x;
}

}  // namespace

TEST_CASE("quantize_rows_i8: matches the reference (subgroup and shared-memory paths)") {
    for (bool no_sg : {false, true}) {
        Device& dev = test::gpu_with(false, false, no_sg);
        for (const Shape& s : kShapes) {
            CAPTURE(no_sg);
            CAPTURE(s.M);
            CAPTURE(s.K);
            std::vector<float> x = make_rows(s.M, s.K, 100 + s.K + s.M);
            ref::QuantizedRows r = ref::quantize_rows_i8(x, s.M, s.K);
            QuantOut g = run_quantize(dev, x, s.M, s.K);
            check_against_ref(g, x, r.q, r.s, s.M, s.K, kQuantBoundaryTol, kScaleRelTol);
        }
        CHECK_NO_VALIDATION(dev);
    }
}

TEST_CASE("quantize_rows_i8: exact .5 ties, clamping and sign") {
    // amax = 127 -> s = 1 exactly: x/s is exact, so the GPU must match bit for bit,
    // ties included (round half away from zero).
    Device& dev = test::gpu();
    std::vector<float> x = {127.f, -127.f, 0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -2.5f, 0.49999997f, -0.49999997f,
                            126.5f, -126.5f, 0.f, -0.f, 3.f};
    const uint32_t K = uint32_t(x.size());
    ref::QuantizedRows r = ref::quantize_rows_i8(x, 1, K);
    QuantOut g = run_quantize(dev, x, 1, K);
    CHECK(g.sx[0] == r.s[0]);
    for (uint32_t k = 0; k < K; ++k) CHECK_MESSAGE(byte_of(g.words, k / 4, k % 4) == r.q[k], "k ", k, " x ", x[k]);
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("rmsnorm_quantize_rows_i8: matches the reference, with and without smoothing") {
    const float eps = 1e-5f;
    for (bool no_sg : {false, true}) {
        Device& dev = test::gpu_with(false, false, no_sg);
        for (const Shape& s : kShapes) {
            for (bool smooth_on : {false, true}) {
                CAPTURE(no_sg);
                CAPTURE(s.M);
                CAPTURE(s.K);
                CAPTURE(smooth_on);
                std::vector<float> x = make_rows(s.M, s.K, 200 + s.K + s.M);
                std::vector<float> w = test::random_floats(s.K, 7 + s.K, 0.2f, 2.f);
                std::vector<float> sm = test::random_floats(s.K, 9 + s.K, 0.25f, 4.f);
                ref::QuantizedRows r = ref::rmsnorm_quantize_rows_i8(
                    x, w, smooth_on ? std::span<const float>(sm) : std::span<const float>(), s.M, s.K, eps);
                QuantOut g = run_fused(dev, x, w, smooth_on ? &sm : nullptr, s.M, s.K, eps);
                // r.y: the values the reference quantized, for the boundary check.
                check_against_ref(g, r.y, r.q, r.s, s.M, s.K, kFusedBoundaryTol, kFusedScaleRelTol);
            }
        }
        CHECK_NO_VALIDATION(dev);
    }
}

TEST_CASE("quantize_rows_i8: smoothing (x / smooth), both reduction paths") {
    for (bool no_sg : {false, true}) {
        Device& dev = test::gpu_with(false, false, no_sg);
        for (const Shape& s : kShapes) {
            CAPTURE(no_sg);
            CAPTURE(s.M);
            CAPTURE(s.K);
            std::vector<float> x = make_rows(s.M, s.K, 300 + s.K + s.M);
            std::vector<float> sm = test::random_floats(s.K, 11 + s.K, 0.25f, 4.f);
            const std::vector<float> y = ref::smooth_rows(x, sm, s.M, s.K);
            ref::QuantizedRows r = ref::quantize_rows_i8(y, s.M, s.K);
            QuantCall c;
            c.smooth = &sm;
            AsymOut g = run_call(dev, x, s.M, s.K, c);
            check_against_ref({g.words, g.sx}, y, r.q, r.s, s.M, s.K, kSmoothBoundaryTol, kSmoothScaleRelTol);
        }
        CHECK_NO_VALIDATION(dev);
    }
}

TEST_CASE("quantize: static per-tensor scale, plain and fused, with and without smoothing") {
    for (bool no_sg : {false, true}) {
        Device& dev = test::gpu_with(false, false, no_sg);
        for (const Shape& s : kShapes) {
            for (bool fused : {false, true}) {
                for (bool smooth_on : {false, true}) {
                    CAPTURE(no_sg);
                    CAPTURE(s.M);
                    CAPTURE(s.K);
                    CAPTURE(fused);
                    CAPTURE(smooth_on);
                    std::vector<float> x = make_rows(s.M, s.K, 400 + s.K + s.M);
                    std::vector<float> w = test::random_floats(s.K, 13 + s.K, 0.2f, 2.f);
                    std::vector<float> sm = test::random_floats(s.K, 15 + s.K, 0.25f, 4.f);
                    const std::span<const float> smv =
                        smooth_on ? std::span<const float>(sm) : std::span<const float>();
                    const std::vector<float> y = fused ? ref::rmsnorm_quantize_rows_i8(x, w, smv, s.M, s.K, 1e-5f).y
                                                       : ref::smooth_rows(x, smv, s.M, s.K);
                    // A calibrated scale that fits most rows: the median row's absmax / 127, so
                    // rows with a larger range clamp at +-127 and smaller ones use few levels.
                    std::vector<float> amax(s.M, 0.f);
                    for (uint32_t m = 0; m < s.M; ++m)
                        for (uint32_t k = 0; k < s.K; ++k)
                            amax[m] = std::max(amax[m], std::abs(y[size_t(m) * s.K + k]));
                    std::vector<float> sorted = amax;
                    std::sort(sorted.begin(), sorted.end());
                    float scale = sorted[s.M / 2] / 127.f;
                    if (!(scale > 0.f)) scale = 0.01f;
                    ref::QuantizedRows r = ref::quantize_rows_i8_static(y, scale, s.M, s.K);
                    QuantCall c;
                    c.w = fused ? &w : nullptr;
                    c.smooth = smooth_on ? &sm : nullptr;
                    c.static_scale = &scale;
                    AsymOut g = run_call(dev, x, s.M, s.K, c);
                    // sx is the static scale, copied bit for bit (tolerance 0).
                    check_against_ref({g.words, g.sx}, y, r.q, r.s, s.M, s.K,
                                      fused ? kFusedBoundaryTol : smooth_on ? kSmoothBoundaryTol : kQuantBoundaryTol,
                                      0.0);
                }
            }
        }
        CHECK_NO_VALIDATION(dev);
    }
}

TEST_CASE("quantize: static scale, exact ties, clamping, non-positive scale") {
    // s = 0.5 is a power of two: y/s is exact, so the GPU must match bit for bit.
    Device& dev = test::gpu();
    std::vector<float> x = {0.25f, -0.25f, 0.75f, -0.75f, 1.25f, 63.25f, -63.25f,
                            63.75f, 100.f, -1e30f, 0.f, 3.f, 0.1f};
    const uint32_t K = uint32_t(x.size());
    for (float scale : {0.5f, 0.f, -2.f}) {
        CAPTURE(scale);
        ref::QuantizedRows r = ref::quantize_rows_i8_static(x, scale, 1, K);
        QuantCall c;
        c.static_scale = &scale;
        AsymOut g = run_call(dev, x, 1, K, c);
        CHECK(g.sx[0] == scale);
        for (uint32_t k = 0; k < K; ++k)
            CHECK_MESSAGE(byte_of(g.words, k / 4, k % 4) == r.q[k], "k ", k, " x ", x[k]);
    }
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("quantize: asymmetric (uint8 + zero point), plain and fused, with and without smoothing") {
    for (bool no_sg : {false, true}) {
        Device& dev = test::gpu_with(false, false, no_sg);
        for (const Shape& s : kShapes) {
            for (bool fused : {false, true}) {
                for (bool smooth_on : {false, true}) {
                    CAPTURE(no_sg);
                    CAPTURE(s.M);
                    CAPTURE(s.K);
                    CAPTURE(fused);
                    CAPTURE(smooth_on);
                    std::vector<float> x = make_skewed_rows(s.M, s.K, 500 + s.K + s.M);
                    std::vector<float> w = test::random_floats(s.K, 17 + s.K, 0.2f, 2.f);
                    std::vector<float> sm = test::random_floats(s.K, 19 + s.K, 0.25f, 4.f);
                    const std::span<const float> smv =
                        smooth_on ? std::span<const float>(sm) : std::span<const float>();
                    const std::vector<float> y = fused ? ref::rmsnorm_quantize_rows_i8(x, w, smv, s.M, s.K, 1e-5f).y
                                                       : ref::smooth_rows(x, smv, s.M, s.K);
                    ref::AsymQuantizedRows r = ref::quantize_rows_asym_i8(y, s.M, s.K);
                    QuantCall c;
                    c.w = fused ? &w : nullptr;
                    c.smooth = smooth_on ? &sm : nullptr;
                    c.asym = true;
                    AsymOut g = run_call(dev, x, s.M, s.K, c);
                    const double tol = kAsymRangeFactor * (fused       ? kFusedBoundaryTol
                                                           : smooth_on ? kSmoothBoundaryTol
                                                                       : kQuantBoundaryTol);
                    const double stol = fused ? kFusedScaleRelTol : smooth_on ? kSmoothScaleRelTol : kScaleRelTol;
                    check_asym_against_ref(g, y, r, s.M, s.K, tol, stol);
                }
            }
        }
        CHECK_NO_VALIDATION(dev);
    }
}

TEST_CASE("quantize: asymmetric, exact ties and saturation") {
    // lo = -100, hi = 155: s = 255/255 = 1 exactly and zp = 100, so y/s is exact and
    // the GPU must match bit for bit (ties away from zero); a row of zeros (stored
    // as q' = zp' = -128); a row of positives (zp = 0) and a row of negatives (zp = 255).
    Device& dev = test::gpu();
    const uint32_t K = 7;
    std::vector<float> x = {-100.f, 155.f, 0.5f, -0.5f, 2.5f, -99.5f, 154.5f,  //
                            0.f,    0.f,   0.f,  0.f,   0.f,  0.f,    0.f,     //
                            1.f,    2.f,   3.f,  4.f,   5.f,  6.f,    7.f,     //
                            -1.f,   -2.f,  -3.f, -4.f,  -5.f, -6.f,   -7.f};
    const uint32_t M = uint32_t(x.size()) / K;
    ref::AsymQuantizedRows r = ref::quantize_rows_asym_i8(x, M, K);
    REQUIRE(r.s[0] == 1.0f);
    REQUIRE(r.zp[0] == 100 - 128);
    for (bool no_sg : {false, true}) {
        Device& d = test::gpu_with(false, false, no_sg);
        QuantCall c;
        c.asym = true;
        AsymOut g = run_call(d, x, M, K, c);
        // Rows 0 and 1 have exact scales (1 and 0): bit for bit. Rows 2 and 3 (s = 7/255,
        // a division the GPU may round differently) within the usual bounds.
        CHECK(g.sx[0] == 1.0f);
        CHECK(g.sx[1] == 0.0f);
        CHECK(g.zp[0] == r.zp[0]);
        CHECK(g.zp[1] == r.zp[1]);
        check_asym_against_ref(g, x, r, M, K, kAsymRangeFactor * kQuantBoundaryTol, kScaleRelTol);
        const uint32_t Kw = ops::packed_row_words(K);
        for (uint32_t m = 0; m < 2; ++m)
            for (uint32_t k = 0; k < Kw * 4; ++k)
                CHECK_MESSAGE(byte_of(g.words, size_t(m) * Kw + k / 4, k % 4) == (k < K ? r.q[m * K + k] : 0), "m ",
                              m, " k ", k);
        CHECK_NO_VALIDATION(d);
    }
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("quantize: operand and shape checks") {
    Device& dev = test::gpu();
    Buffer x(dev, 64 * 4), q(dev, 16 * 4), s(dev, 4 * 4), w(dev, 64 * 4);
    Recorder rec(dev);
    rec.begin();
    CHECK_THROWS_WITH_AS(ops::quantize_rows_i8(rec, x, q, s, 2, 64), doctest::Contains("operand 'x'"), vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::quantize_rows_i8(rec, x, q, s, 1, 0), doctest::Contains("empty shape"), vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::quantize_rows_i8(rec, x, q, s, 5, 12), doctest::Contains("operand 'sx'"), vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::rmsnorm_quantize_rows_i8(rec, x, w, BufferView(s), q, s, 1, 64, 1e-5f),
                         doctest::Contains("operand 'smooth'"), vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::rmsnorm_quantize_rows_i8(rec, x, w, {}, q, s, 1, 64, -1.f),
                         doctest::Contains("eps"), vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::quantize_rows_i8(rec, x, q, s, 1, 64, BufferView(s)),
                         doctest::Contains("operand 'smooth'"), vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::quantize_rows_i8(rec, x, q, s, 1, 64, {}, BufferView(s, 0, 2)),
                         doctest::Contains("operand 'static_scale'"), vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::quantize_rows_asym_i8(rec, x, q, s, BufferView(s, 0, 4), 2, 8),
                         doctest::Contains("operand 'xzp'"), vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::quantize_rows_asym_i8(rec, x, q, s, {}, 1, 8), doctest::Contains("operand 'xzp'"),
                         vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::rmsnorm_quantize_rows_asym_i8(rec, x, {}, {}, q, s, s, 1, 8, 1e-5f),
                         doctest::Contains("operand 'w'"), vkrt::Error);
    rec.end();
    CHECK_NO_VALIDATION(dev);
}
