// Kernels of a llama block besides the matmuls: rmsnorm, rope (+ fused cache
// store), kv_store, attention, softmax, swiglu, argmax (embed: test_kernels_matmul); each against a
// host reference on seeded random data, on every capability path it has.
//
// The spec is runtime/ref/reference.hpp (double-precision math); the bounds below
// say what float arithmetic and the driver's transcendentals may add. argmax has
// no function there: its reference is std::max_element (first maximum).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/fp16.hpp"
#include "core/quant.hpp"
#include "gpu.hpp"
#include "ops/attention.hpp"
#include "ops/elementwise.hpp"
#include "ops/embed.hpp"
#include "ops/matmul.hpp"
#include "ops/norm.hpp"
#include "ops/rope.hpp"
#include "ref/reference.hpp"
#include "test_util.hpp"

using namespace vkrt;

namespace {

// ---- bounds -------------------------------------------------------------------
// rmsnorm: the float row sum of squares (per-thread partials of <= K/256 terms, then a
// tree of <= 8 levels) has relative error <= ~(K/256 + 8) * 2^-24 ~ 1.5e-6 for K = 4096;
// sqrt, the divide and two multiplies add ~4 ulp. 1e-5 relative leaves margin.
constexpr float kRmsNormRelTol = 1e-5f;
constexpr float kRmsNormAbsTol = 1e-7f;
// softmax: exp() on lavapipe/GPUs is within a few ulp (relative ~1e-6 over the inputs
// used, |x| <= 8); the sum of N <= 1000 terms adds <= ~(N/256 + 8) ulp.
constexpr float kSoftmaxRelTol = 2e-5f;
constexpr float kSoftmaxAbsTol = 1e-9f;
// swiglu: one exp (few ulp), one divide, two multiplies.
constexpr float kSwigluRelTol = 1e-5f;
constexpr float kSwigluAbsTol = 1e-7f;
// rope: theta = pos * pow(base, -2i/n_rot) in float. pow is exp2(y * log2 base): an error
// of ~2 ulp in y*log2(base) (|.| <= 13.3 for base 1e4) is ~1.6e-6 absolute in the
// exponent, i.e. ~1.2e-6 relative in theta, plus float rounding of theta itself. sin/cos
// of large angles (up to ~300 rad here) lose absolute precision through range
// reduction: lavapipe's sin/cos are good to ~1e-6 absolute for |theta| < 1e3.
// Rotated output error <= (|a| + |b|) * (angle error + trig error).
constexpr double kRopeThetaRelTol = 4e-6;
constexpr double kRopeTrigAbsTol = 4e-6;
// attention: outputs are convex combinations of V rows (|v| <= 1 here). Float scores of
// hd <= 256 terms (|q.k| * scale <= ~16) are off by <= ~hd * 2^-24 * 16 ~ 2.4e-4 worst
// case, typically ~1e-6; the probabilities move by that relative amount, the output by
// at most that times max|v|. exp and the online rescaling add a few ulp per tile.
constexpr float kAttnAbsTol = 3e-5f;

// ---- error bound of rope (the values come from ref::rope) -----------------------
// Per element: (|a| + |b|) * (kRopeThetaRelTol * |theta| + kRopeTrigAbsTol) on rotated
// pairs, 0 (exact copy) on dims >= n_rot.
std::vector<float> rope_bound(const std::vector<float>& x, const std::vector<int32_t>& pos, uint32_t M,
                              uint32_t n_head, uint32_t hd, uint32_t n_rot, float base, bool neox) {
    std::vector<float> bound(x.size(), 0.f);
    for (uint32_t m = 0; m < M; ++m)
        for (uint32_t h = 0; h < n_head; ++h) {
            const size_t o = (size_t(m) * n_head + h) * hd;
            for (uint32_t i = 0; i < n_rot / 2; ++i) {
                const double theta = double(pos[m]) * std::pow(double(base), -2.0 * i / n_rot);
                const uint32_t i0 = neox ? i : 2 * i, i1 = neox ? i + n_rot / 2 : 2 * i + 1;
                bound[o + i0] = bound[o + i1] =
                    float((std::fabs(x[o + i0]) + std::fabs(x[o + i1])) *
                          (kRopeThetaRelTol * std::fabs(theta) + kRopeTrigAbsTol)) + 1e-7f;
            }
        }
    return bound;
}

ref::RopeMode ref_mode(bool neox) { return neox ? ref::RopeMode::neox : ref::RopeMode::norm; }

// The capability paths of the row kernels: subgroup (when the device has it) and shared memory.
std::vector<Device*> paths() {
    std::vector<Device*> d;
    if (test::gpu().caps().subgroup) d.push_back(&test::gpu());
    else MESSAGE("device has no subgroup arithmetic: only the shared-memory path runs");
    // The shared-memory path also decodes halves with the integer decoder (caps.native_half off).
    d.push_back(&test::gpu_with(false, false, true, true));
    return d;
}

std::vector<int32_t> iota_pos(uint32_t M, int32_t start) {
    std::vector<int32_t> p(M);
    for (uint32_t i = 0; i < M; ++i) p[i] = start + int32_t(i);
    return p;
}

}  // namespace

TEST_CASE("rmsnorm: subgroup and shared-memory paths vs reference") {
    struct Shape { uint32_t M, K; };
    for (Device* dev : paths()) {
        CAPTURE(dev->caps().subgroup);
        for (Shape s : {Shape{1, 1}, Shape{1, 7}, Shape{3, 300}, Shape{2, 64}, Shape{4, 4096}, Shape{1, 11008}}) {
            CAPTURE(s.M);
            CAPTURE(s.K);
            auto x = test::random_floats(size_t(s.M) * s.K, 10 + s.K, -2.f, 2.f);
            auto w = test::random_floats(s.K, 20 + s.K, 0.5f, 1.5f);
            const float eps = 1e-5f;
            Buffer bx = make_buffer(*dev, x), bw = make_buffer(*dev, w);
            Buffer by(*dev, x.size() * 4);
            test::run(*dev, [&](Recorder& r) { ops::rmsnorm(r, bx, bw, by, s.M, s.K, eps); });
            auto y = by.download_as<float>(x.size());
            auto ref = ref::rmsnorm(x, w, s.M, s.K, eps);
            for (size_t i = 0; i < y.size(); ++i)
                REQUIRE(std::fabs(y[i] - ref[i]) <= kRmsNormRelTol * std::fabs(ref[i]) + kRmsNormAbsTol);
            // In place (y = x).
            test::run(*dev, [&](Recorder& r) { ops::rmsnorm(r, bx, bw, bx, s.M, s.K, eps); });
            auto y2 = bx.download_as<float>(x.size());
            for (size_t i = 0; i < y.size(); ++i) REQUIRE(y2[i] == y[i]);
        }
        Buffer small(*dev, 16);
        Recorder rec(*dev);
        rec.begin();
        CHECK_THROWS_WITH_AS(ops::rmsnorm(rec, small, small, small, 2, 4, 1e-5f), doctest::Contains("operand 'x'"),
                             vkrt::Error);
        rec.end();
        CHECK_NO_VALIDATION(*dev);
    }
}

TEST_CASE("softmax: stable rows vs reference, both paths") {
    struct Shape { uint32_t M, N; };
    for (Device* dev : paths()) {
        CAPTURE(dev->caps().subgroup);
        for (Shape s : {Shape{1, 1}, Shape{1, 3}, Shape{3, 7}, Shape{2, 300}, Shape{5, 1000}}) {
            CAPTURE(s.N);
            auto x = test::random_floats(size_t(s.M) * s.N, 30 + s.N, -8.f, 8.f);
            x[0] += 80.f;  // large logits: exp without max subtraction would overflow
            Buffer bx = make_buffer(*dev, x);
            Buffer by(*dev, x.size() * 4);
            test::run(*dev, [&](Recorder& r) { ops::softmax(r, bx, by, s.M, s.N); });
            auto y = by.download_as<float>(x.size());
            auto ref = ref::softmax_rows(x, s.M, s.N);
            for (size_t i = 0; i < y.size(); ++i)
                REQUIRE(std::fabs(y[i] - ref[i]) <= kSoftmaxRelTol * ref[i] + kSoftmaxAbsTol);
        }
        CHECK_NO_VALIDATION(*dev);
    }
}

TEST_CASE("argmax: greedy index, lowest index on ties, both paths") {
    struct Shape { uint32_t M, N; };
    for (Device* dev : paths()) {
        CAPTURE(dev->caps().subgroup);
        for (Shape s : {Shape{1, 1}, Shape{1, 5}, Shape{3, 300}, Shape{2, 32000}, Shape{4, 1001}}) {
            CAPTURE(s.N);
            auto x = test::random_floats(size_t(s.M) * s.N, 40 + s.N);
            for (uint32_t m = 0; m < s.M; ++m) {
                float* r = &x[size_t(m) * s.N];
                if (m == 1) std::fill(r, r + s.N, -5.f);  // all equal: index 0
                if (m == 2) {                              // tie of the maximum at two indices
                    r[s.N - 1] = 3.f;
                    r[s.N / 2] = 3.f;
                    r[s.N / 3 + 1] = 3.f;
                }
                if (m == 3) std::fill(r, r + s.N, -INFINITY);  // all -inf: index 0
            }
            std::vector<int32_t> ref(s.M);
            for (uint32_t m = 0; m < s.M; ++m) {
                const float* r = &x[size_t(m) * s.N];
                ref[m] = int32_t(std::max_element(r, r + s.N) - r);  // first maximum
            }
            Buffer bx = make_buffer(*dev, x);
            Buffer bi(*dev, s.M * 4);
            test::run(*dev, [&](Recorder& r) { ops::argmax(r, bx, bi, s.M, s.N); });
            CHECK(bi.download_as<int32_t>(s.M) == ref);
        }
        CHECK_NO_VALIDATION(*dev);
    }
}

// The fused RMSNorm + q8_1 kernel: its float rows are ops::rmsnorm's bit for bit (same
// partial sums, reduction and operations), so they meet the rmsnorm bound against
// ref::rmsnorm; its q8_1 blocks are ref::quantize_blocks_i8 of those rows, q off by one
// only where y/d lies on a .5 tie (GPU division: up to 2.5 ulp), d within 4 ulp, sums exact.
// rmsnorm_add (a post norm with its residual add): the same shader and row sums as rmsnorm,
// then one float addition: y0 + rmsnorm's output, bit for bit.
TEST_CASE("rmsnorm_add: y += rmsnorm(x) * w equals y + ops::rmsnorm exactly") {
    struct Shape { uint32_t M, K; };
    for (Device* dev : paths()) {
        CAPTURE(dev->caps().subgroup);
        for (Shape s : {Shape{1, 7}, Shape{3, 300}, Shape{2, 1152}}) {
            CAPTURE(s.K);
            const auto x = test::random_floats(size_t(s.M) * s.K, 50 + s.K, -2.f, 2.f);
            const auto w = test::random_floats(s.K, 60 + s.K, 0.5f, 1.5f);
            const auto y0 = test::random_floats(x.size(), 70 + s.K, -3.f, 3.f);
            Buffer bx = make_buffer(*dev, x), bw = make_buffer(*dev, w), by = make_buffer(*dev, y0);
            Buffer bn(*dev, x.size() * 4);
            test::run(*dev, [&](Recorder& r) {
                ops::rmsnorm(r, bx, bw, bn, s.M, s.K, 1e-6f);
                ops::rmsnorm_add(r, bx, bw, by, s.M, s.K, 1e-6f);
            });
            const auto n = bn.download_as<float>(x.size()), y = by.download_as<float>(x.size());
            for (size_t i = 0; i < y.size(); ++i) REQUIRE(y[i] == y0[i] + n[i]);
        }
        Recorder rec(*dev);
        rec.begin();
        Buffer b(*dev, 64);
        CHECK_THROWS_WITH_AS(ops::rmsnorm_add(rec, b, b, b, 2, 4, 1e-5f), doctest::Contains("alias"), vkrt::Error);
        rec.end();
        CHECK_NO_VALIDATION(*dev);
    }
}

TEST_CASE("rmsnorm_q8_1: rmsnorm's rows, quantized as ref::quantize_blocks_i8; y only when bound") {
    struct Shape { uint32_t M, K; };
    for (Device* dev : paths()) {
        CAPTURE(dev->caps().subgroup);
        for (Shape s : {Shape{1, 32}, Shape{3, 160}, Shape{2, 4096}}) {
            CAPTURE(s.M);
            CAPTURE(s.K);
            const uint32_t M = s.M, K = s.K, nb = K / 32;
            auto x = test::random_floats(size_t(M) * K, 30 + K, -2.f, 2.f);
            for (uint32_t k = 0; k < 32; ++k) x[k] = 0.0f;  // an all-zero block: d = 0, q = 0
            auto w = test::random_floats(K, 40 + K, 0.5f, 1.5f);
            const float eps = 1e-5f;
            Buffer bx = make_buffer(*dev, x), bw = make_buffer(*dev, w);
            Buffer by(*dev, x.size() * 4), by0(*dev, x.size() * 4);
            const uint64_t qbytes = ops::matmul_scratch_bytes(M, K);
            Buffer bq(*dev, qbytes), bq2(*dev, qbytes);
            test::run(*dev, [&](Recorder& r) {
                ops::rmsnorm_q8_1(r, bx, bw, eps, bq, M, K, by);
                ops::rmsnorm_q8_1(r, bx, bw, eps, bq2, M, K);  // no float rows
                ops::rmsnorm(r, bx, bw, by0, M, K, eps);
            });
            const auto y = by.download_as<float>(x.size()), y0 = by0.download_as<float>(x.size());
            REQUIRE(std::memcmp(y.data(), y0.data(), y.size() * 4) == 0);
            const auto ref = ref::rmsnorm(x, w, M, K, eps);
            for (size_t i = 0; i < y.size(); ++i)
                REQUIRE(std::fabs(y[i] - ref[i]) <= kRmsNormRelTol * std::fabs(ref[i]) + kRmsNormAbsTol);
            const auto words = bq.download_as<uint32_t>(qbytes / 4), words2 = bq2.download_as<uint32_t>(qbytes / 4);
            CHECK(words == words2);
            const int8_t* gq = reinterpret_cast<const int8_t*>(words.data());
            const uint32_t* meta = words.data() + size_t(M) * K / 4;
            const auto cq = ref::quantize_blocks_i8(y, M, K);
            size_t off_by_one = 0, bad = 0;
            for (size_t g = 0; g < size_t(M) * nb; ++g) {
                float d;
                std::memcpy(&d, &meta[2 * g], 4);
                CHECK(std::fabs(d - cq.d[g]) <= 4 * 1.2e-7f * cq.d[g]);
                int32_t sum = 0;
                for (size_t j = 0; j < 32; ++j) {
                    const int a = gq[g * 32 + j], b = cq.q[g * 32 + j];
                    sum += a;
                    if (a == b) continue;
                    const double t = std::fabs(double(y[g * 32 + j]) / double(cq.d[g]));
                    if (std::abs(a - b) == 1 && std::fabs(t - std::floor(t) - 0.5) < 1e-5) ++off_by_one;
                    else ++bad;
                }
                CHECK(int32_t(meta[2 * g + 1]) == sum);
            }
            CHECK(bad == 0);
            CHECK(off_by_one <= size_t(M) * K / 1000 + 1);
        }
        Buffer small(*dev, 256);
        Recorder rec(*dev);
        rec.begin();
        CHECK_THROWS_WITH_AS(ops::rmsnorm_q8_1(rec, small, small, 1e-5f, small, 1, 48), doctest::Contains("multiple of 32"),
                             vkrt::Error);
        rec.end();
        CHECK_NO_VALIDATION(*dev);
    }
}

// rmsnorm_add_norm (a post norm, its residual add and the next norm in one pass): the new x
// is rmsnorm_add's and y rmsnorm's of it, bit for bit (the same row sums and operations);
// xq is rmsnorm_q8_1's of the new x, word for word; all against ref::rmsnorm too (x: one
// rmsnorm bound; y: the norm of a row within that bound of the exact one, two bounds).
TEST_CASE("rmsnorm_add_norm: x += rmsnorm(p) * wp, then rmsnorm(x) * wn [and its q8_1], as the separate kernels") {
    struct Shape { uint32_t M, K; };
    for (Device* dev : paths()) {
        CAPTURE(dev->caps().subgroup);
        for (Shape s : {Shape{1, 7}, Shape{3, 160}, Shape{2, 1152}}) {
            CAPTURE(s.K);
            const uint32_t M = s.M, K = s.K;
            const bool q8 = K % 32 == 0;
            const auto p = test::random_floats(size_t(M) * K, 80 + K, -2.f, 2.f);
            const auto x0 = test::random_floats(p.size(), 81 + K, -3.f, 3.f);
            const auto wp = test::random_floats(K, 82 + K, 0.5f, 1.5f), wn = test::random_floats(K, 83 + K, 0.5f, 1.5f);
            const float ep = 1e-6f, en = 1e-5f;
            Buffer bp = make_buffer(*dev, p), bwp = make_buffer(*dev, wp), bwn = make_buffer(*dev, wn);
            Buffer bx = make_buffer(*dev, x0), bx2 = make_buffer(*dev, x0), bx3 = make_buffer(*dev, x0);
            Buffer by(*dev, p.size() * 4), by2(*dev, p.size() * 4);
            const uint64_t qbytes = ops::matmul_scratch_bytes(M, std::max<uint32_t>(K, 32));
            Buffer bq(*dev, qbytes), bq2(*dev, qbytes);
            test::run(*dev, [&](Recorder& r) {
                ops::rmsnorm_add_norm(r, bp, bwp, ep, bx, bwn, en, M, K, by, q8 ? BufferView(bq) : BufferView{});
                if (q8) ops::rmsnorm_add_norm(r, bp, bwp, ep, bx3, bwn, en, M, K, {}, bq2);  // q8_1 only
                ops::rmsnorm_add(r, bp, bwp, bx2, M, K, ep);
                ops::rmsnorm(r, bx2, bwn, by2, M, K, en);
            });
            const auto x = bx.download_as<float>(p.size()), x2 = bx2.download_as<float>(p.size());
            const auto y = by.download_as<float>(p.size()), y2 = by2.download_as<float>(p.size());
            REQUIRE(std::memcmp(x.data(), x2.data(), x.size() * 4) == 0);
            REQUIRE(std::memcmp(y.data(), y2.data(), y.size() * 4) == 0);
            const auto n = ref::rmsnorm(p, wp, M, K, ep);
            std::vector<float> xr(p.size());
            for (size_t i = 0; i < xr.size(); ++i) xr[i] = x0[i] + n[i];
            const auto yr = ref::rmsnorm(xr, wn, M, K, en);
            for (uint32_t m = 0; m < M; ++m) {
                // y's error: x's (the post norm's bound, on |n|, not on a possibly cancelled
                // |x|) times the row's scale and weight, plus the next norm's own bound.
                double ss = 0;
                for (uint32_t k = 0; k < K; ++k) ss += double(xr[size_t(m) * K + k]) * xr[size_t(m) * K + k];
                const double sr = 1.0 / std::sqrt(ss / K + en);
                for (size_t i = size_t(m) * K; i < size_t(m + 1) * K; ++i) {
                    const float ex = kRmsNormRelTol * std::fabs(n[i]) + kRmsNormAbsTol + 1.2e-7f * std::fabs(xr[i]);
                    REQUIRE(std::fabs(x[i] - xr[i]) <= ex);
                    REQUIRE(std::fabs(y[i] - yr[i]) <=
                            2 * kRmsNormRelTol * std::fabs(yr[i]) + kRmsNormAbsTol + 2 * ex * sr * wn[i % K]);
                }
            }
            if (!q8) continue;
            // The q8_1 rows: rmsnorm_q8_1 of the new x (itself tested against ref::quantize_blocks_i8).
            Buffer bq3(*dev, qbytes);
            test::run(*dev, [&](Recorder& r) { ops::rmsnorm_q8_1(r, bx2, bwn, en, bq3, M, K); });
            const auto w1 = bq.download_as<uint32_t>(qbytes / 4), w2 = bq2.download_as<uint32_t>(qbytes / 4),
                       w3 = bq3.download_as<uint32_t>(qbytes / 4);
            CHECK(w1 == w3);
            CHECK(w2 == w3);
            CHECK(bx3.download_as<float>(p.size()) == x2);
        }
        Recorder rec(*dev);
        rec.begin();
        Buffer b(*dev, 1024), b2(*dev, 1024);
        CHECK_THROWS_WITH_AS(ops::rmsnorm_add_norm(rec, b, b, 1e-5f, b2, b, 1e-5f, 2, 4, {}, {}),
                             doctest::Contains("neither"), vkrt::Error);
        CHECK_THROWS_WITH_AS(ops::rmsnorm_add_norm(rec, b, b, 1e-5f, b2, b, 1e-5f, 2, 4, b2, {}),
                             doctest::Contains("alias"), vkrt::Error);
        CHECK_THROWS_WITH_AS(ops::rmsnorm_add_norm(rec, b, b, 1e-5f, b2, b, 1e-5f, 1, 48, {}, b),
                             doctest::Contains("multiple of 32"), vkrt::Error);
        rec.end();
        CHECK_NO_VALIDATION(*dev);
    }
}

// Strided rows (the q / k slices of a fused QKV output): a per-head norm in place over
// M tokens of `heads` rows of hd, rows `stride` floats apart, leaves every other float alone;
// the gated activation reads gate and up slices of one [gate | up] output.
TEST_CASE("rmsnorm and glu on strided slices of a fused output") {
    Device& dev = test::gpu();
    // The slice starts at the device's binding alignment (as model::FusedRows places them).
    const uint32_t first = uint32_t(std::max<uint64_t>(1, dev.caps().min_storage_offset_alignment / 4));
    const uint32_t M = 3, heads = 2, hd = 8, stride = first + heads * hd + 3;
    auto x = test::random_floats(size_t(M) * stride, 77, -2.f, 2.f);
    auto w = test::random_floats(hd, 78, 0.5f, 1.5f);
    Buffer bx = make_buffer(dev, x), bw = make_buffer(dev, w);
    const BufferView slice(bx, first * 4, (uint64_t(M - 1) * stride + heads * hd) * 4);
    test::run(dev, [&](Recorder& r) { ops::rmsnorm(r, slice, bw, slice, M * heads, hd, 1e-5f, {heads, stride}); });
    const auto y = bx.download_as<float>(x.size());
    for (uint32_t m = 0; m < M; ++m) {
        std::vector<float> rows(x.begin() + m * stride + first, x.begin() + m * stride + first + heads * hd);
        const auto ref = ref::rmsnorm(rows, w, heads, hd, 1e-5f);
        for (uint32_t i = 0; i < stride; ++i) {
            const size_t at = size_t(m) * stride + i;
            if (i < first || i >= first + heads * hd) REQUIRE(y[at] == x[at]);
            else REQUIRE(std::fabs(y[at] - ref[i - first]) <= kRmsNormRelTol * std::fabs(ref[i - first]) + kRmsNormAbsTol);
        }
    }
    // glu: gate at floats [0, F), up at [up0, up0 + F) of rows of `stride`.
    const uint32_t F = 12, up0 = first;
    Buffer bo(dev, uint64_t(M) * F * 4);
    for (uint32_t act : {0u, 1u}) {
        test::run(dev, [&](Recorder& r) {
            ops::glu(r, act, BufferView(bx, 0, (uint64_t(M - 1) * stride + F) * 4),
                     BufferView(bx, up0 * 4, (uint64_t(M - 1) * stride + F) * 4), bo, M, F, stride);
        });
        const auto o = bo.download_as<float>(size_t(M) * F);
        std::vector<float> g, u;
        for (uint32_t m = 0; m < M; ++m)
            for (uint32_t f = 0; f < F; ++f) {
                g.push_back(y[m * stride + f]);
                u.push_back(y[m * stride + up0 + f]);
            }
        const auto ref = act ? ref::geglu(g, u) : ref::swiglu(g, u);
        for (size_t i = 0; i < o.size(); ++i)
            REQUIRE(std::fabs(o[i] - ref[i]) <= kSwigluRelTol * std::fabs(ref[i]) + kSwigluAbsTol);
    }
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("swiglu: silu(gate) * up for odd F (stories260K F = 172)") {
    Device& dev = test::gpu();
    struct Shape { uint32_t M, F; };
    for (Shape s : {Shape{1, 1}, Shape{1, 172}, Shape{3, 172}, Shape{2, 11008}}) {
        const size_t n = size_t(s.M) * s.F;
        auto g = test::random_floats(n, 50 + s.F, -10.f, 10.f), u = test::random_floats(n, 60 + s.F);
        Buffer bg = make_buffer(dev, g), bu = make_buffer(dev, u);
        Buffer bo(dev, n * 4);
        test::run(dev, [&](Recorder& r) { ops::swiglu(r, bg, bu, bo, uint32_t(n)); });
        auto o = bo.download_as<float>(n);
        auto ref = ref::swiglu(g, u);
        for (size_t i = 0; i < n; ++i)
            REQUIRE(std::fabs(o[i] - ref[i]) <= kSwigluRelTol * std::fabs(ref[i]) + kSwigluAbsTol);
    }
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("rope: NORM and NEOX, partial n_rot, offsets, in place, fused cache store") {
    Device& dev = test::gpu();
    struct Case { uint32_t M, n_head, hd, n_rot; int32_t pos0; };
    for (bool neox : {false, true}) {
        for (Case c : {Case{1, 8, 8, 8, 0}, Case{1, 32, 128, 128, 299}, Case{7, 4, 64, 64, 290},
                       Case{3, 2, 64, 32, 5}, Case{5, 3, 8, 4, 1}}) {
            CAPTURE(neox);
            CAPTURE(c.hd);
            CAPTURE(c.n_rot);
            const size_t n = size_t(c.M) * c.n_head * c.hd;
            auto x = test::random_floats(n, 70 + c.hd + c.M);
            auto pos = iota_pos(c.M, c.pos0);
            Buffer bx = make_buffer(dev, x), bp = make_buffer(dev, pos);
            Buffer bo(dev, n * 4);
            ops::RopeParams rp{c.n_head, c.hd, c.n_rot, 10000.f, neox ? ops::RopeMode::neox : ops::RopeMode::norm};
            test::run(dev, [&](Recorder& r) { ops::rope(r, bx, bp, bo, c.M, rp); });
            auto ref = ref::rope(x, pos, c.M, c.n_head, c.hd, c.n_rot, 10000.f, ref_mode(neox));
            auto bound = rope_bound(x, pos, c.M, c.n_head, c.hd, c.n_rot, 10000.f, neox);
            auto o = bo.download_as<float>(n);
            for (size_t i = 0; i < n; ++i) {
                CAPTURE(i);
                REQUIRE(std::fabs(o[i] - ref[i]) <= bound[i]);  // bound 0 (exact) on pass-through dims
            }
            // In place gives the same bits.
            test::run(dev, [&](Recorder& r) { ops::rope(r, bx, bp, bx, c.M, rp); });
            CHECK(bx.download_as<float>(n) == o);

            // Fused store: rows land at cache row pos[m]; other rows untouched.
            const uint32_t n_ctx = uint32_t(c.pos0) + c.M + 3;
            const size_t width = size_t(c.n_head) * c.hd;
            std::vector<float> cache0(n_ctx * width, 7.f);
            Buffer bc = make_buffer(dev, cache0);
            Buffer bx2 = make_buffer(dev, x);
            test::run(dev, [&](Recorder& r) { ops::rope_store(r, bx2, bp, bc, c.M, rp, n_ctx); });
            auto cache = bc.download_as<float>(cache0.size());
            for (uint32_t row = 0; row < n_ctx; ++row) {
                const bool written = row >= uint32_t(c.pos0) && row < uint32_t(c.pos0) + c.M;
                for (size_t e = 0; e < width; ++e) {
                    const float want = written ? o[(row - c.pos0) * width + e] : 7.f;
                    REQUIRE(cache[row * width + e] == want);
                }
            }
        }
    }
    Recorder rec(dev);
    Buffer b(dev, 4096);
    rec.begin();
    CHECK_THROWS_WITH_AS(ops::rope(rec, b, b, b, 1, ops::RopeParams{2, 8, 10, 10000.f}), doctest::Contains("n_rot"),
                         vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::rope(rec, b, b, b, 1, ops::RopeParams{2, 7, 6, 10000.f}), doctest::Contains("even"),
                         vkrt::Error);
    rec.end();
    CHECK_THROWS_WITH_AS(ops::check_positions(std::vector<int32_t>{0, 5, 9}, 9), doctest::Contains("outside"),
                         vkrt::Error);
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("kv_store: rows go to pos[m] % rows (a ring), negative positions are skipped") {
    Device& dev = test::gpu();
    const uint32_t M = 4, width = 3 * 8, n_ctx = 10;
    auto src = test::random_floats(M * width, 80);
    std::vector<int32_t> pos{2, 9, 13, -1};  // 13 wraps to row 3; -1 is skipped
    Buffer bs = make_buffer(dev, src), bp = make_buffer(dev, pos);
    std::vector<float> cache0(n_ctx * width, -3.f);
    Buffer bc = make_buffer(dev, cache0);
    test::run(dev, [&](Recorder& r) { ops::kv_store(r, bs, bp, bc, M, width, n_ctx); });
    auto c = bc.download_as<float>(cache0.size());
    auto want = cache0;  // the reference has no ring and refuses bad positions: give it the rows
    const std::vector<int32_t> rows{2, 9, 3};
    ref::kv_store(std::span<const float>(src).first(3 * width), rows, want, 3, width, n_ctx);
    CHECK(c == want);
    Recorder rec(dev);
    rec.begin();
    CHECK_THROWS_WITH_AS(ops::kv_store(rec, bs, bp, bc, M, width, n_ctx + 1), doctest::Contains("operand 'cache'"),
                         vkrt::Error);
    rec.end();
    CHECK_NO_VALIDATION(dev);
}

namespace {
// Runs attention for queries at `pos` over random caches of n_ctx rows. Rows past the
// largest position hold values that would dominate any score (and show up in the
// output) if the kernel read them; with `nan_poison` they hold NaN instead (which
// would poison the output even if multiplied by a zero probability).
void check_attention(Device& dev, uint32_t M, uint32_t n_head, uint32_t n_head_kv, uint32_t hd,
                     const std::vector<int32_t>& pos, uint32_t n_ctx, uint32_t seed, bool nan_poison = false) {
    CAPTURE(M);
    CAPTURE(n_head);
    CAPTURE(n_head_kv);
    CAPTURE(hd);
    CAPTURE(pos.back());
    const size_t kvw = size_t(n_head_kv) * hd;
    auto q = test::random_floats(size_t(M) * n_head * hd, seed);
    auto kc = test::random_floats(n_ctx * kvw, seed + 1);
    auto vc = test::random_floats(n_ctx * kvw, seed + 2);
    const int32_t maxpos = *std::max_element(pos.begin(), pos.end());
    const float kpoison = nan_poison ? NAN : 30.f, vpoison = nan_poison ? NAN : 100.f;
    for (size_t i = size_t(maxpos + 1) * kvw; i < kc.size(); ++i) kc[i] = kpoison, vc[i] = vpoison;
    Buffer bq = make_buffer(dev, q), bk = make_buffer(dev, kc), bv = make_buffer(dev, vc), bp = make_buffer(dev, pos);
    Buffer bo(dev, q.size() * 4);
    // The float kernels (attention.comp, attention_flash.comp) within kAttnAbsTol, also where
    // the device would choose attention_flash_cm (half tiles: its own bound, test_kernels_kv_cache).
    ops::AttentionShape sh{n_head, n_head_kv, hd, n_ctx};
    sh.prefill = ops::AttentionShape::Prefill::scalar;
    test::run(dev, [&](Recorder& r) { ops::attention(r, bq, bk, bv, bp, bo, M, sh); });
    auto o = bo.download_as<float>(q.size());
    auto ref = ref::attention(q, kc, vc, pos, M, n_head, n_head_kv, hd, n_ctx);
    float worst = 0;
    size_t bad = 0;  // NaN never compares <= a bound: count them apart
    for (size_t i = 0; i < o.size(); ++i) {
        if (!std::isfinite(o[i])) ++bad;
        else worst = std::max(worst, std::fabs(o[i] - ref[i]));
    }
    CAPTURE(worst);
    CHECK(bad == 0);
    CHECK(worst <= kAttnAbsTol);
}
}  // namespace

TEST_CASE("attention: decode (M=1) over kv lengths 1, 7, 300; GQA 8/4, 32/8, 32/32; hd 8..256") {
    struct Heads { uint32_t n_head, n_head_kv, hd; };
    for (Device* dev : paths()) {
        CAPTURE(dev->caps().subgroup);
        for (Heads h : {Heads{8, 4, 8}, Heads{8, 4, 64}, Heads{32, 8, 128}, Heads{32, 32, 64}, Heads{4, 2, 256},
                        Heads{3, 1, 96}, Heads{2, 2, 7}}) {
            for (int32_t kv_len : {1, 7, 300}) {
                const uint32_t n_ctx = 320;
                check_attention(*dev, 1, h.n_head, h.n_head_kv, h.hd, {kv_len - 1}, n_ctx, 90 + h.hd + kv_len);
            }
        }
        CHECK_NO_VALIDATION(*dev);
    }
}

TEST_CASE("attention: prefill from 0 and continuing a cache at an offset") {
    for (Device* dev : paths()) {
        CAPTURE(dev->caps().subgroup);
        // Fresh prompt: queries 0..M-1, each sees its own prefix.
        check_attention(*dev, 20, 8, 4, 8, iota_pos(20, 0), 64, 200);
        check_attention(*dev, 130, 4, 2, 64, iota_pos(130, 0), 160, 210);  // crosses a 128-row tile
        // Continuing: cache already holds 290 rows, the batch adds 5 more (kv lengths 291..295).
        check_attention(*dev, 5, 32, 8, 128, iota_pos(5, 290), 300, 220);
        check_attention(*dev, 9, 32, 32, 64, iota_pos(9, 250), 300, 230);
        CHECK_NO_VALIDATION(*dev);
    }
    Device& dev = test::gpu();
    Recorder rec(dev);
    Buffer b(dev, 1 << 16);
    rec.begin();
    CHECK_THROWS_WITH_AS(ops::attention(rec, b, b, b, b, b, 1, ops::AttentionShape{6, 4, 8, 16}),
                         doctest::Contains("multiple of n_head_kv"), vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::attention(rec, b, b, b, b, b, 1, ops::AttentionShape{4, 4, 512, 4}),
                         doctest::Contains("head_dim"), vkrt::Error);
    CHECK_THROWS_WITH_AS(ops::attention(rec, b, b, b, b, b, 1, ops::AttentionShape{4, 4, 64, 1024}),
                         doctest::Contains("operand 'k_cache'"), vkrt::Error);
    rec.end();
    CHECK_NO_VALIDATION(dev);
}

// The blocked kernel (M >= ops::kAttentionBlockMinRows): blocks of query rows of a kv
// head, several tiles, tails of blocks and tiles, every head-dim tiling (tpr 1..16).
TEST_CASE("attention: blocked prefill, M = 8..300, hd 7..256, GQA 8/4, 32/8, 4/4, 6/1") {
    static_assert(ops::kAttentionBlockMinRows == 8, "the cases below straddle the threshold at 8");
    for (Device* dev : paths()) {
        CAPTURE(dev->caps().subgroup);
        // Just below / at the threshold: per-query kernel, then the blocked one.
        check_attention(*dev, 7, 8, 4, 8, iota_pos(7, 0), 16, 300);
        check_attention(*dev, 8, 8, 4, 8, iota_pos(8, 0), 16, 301);
        // The real model's heads (stories260K: 8/4, hd 8), from 0 and continuing a cache.
        check_attention(*dev, 64, 8, 4, 8, iota_pos(64, 0), 64, 310);
        check_attention(*dev, 300, 8, 4, 8, iota_pos(300, 0), 320, 311);
        check_attention(*dev, 77, 8, 4, 8, iota_pos(77, 200), 300, 312);
        check_attention(*dev, 100, 8, 4, 64, iota_pos(100, 0), 128, 320);
        check_attention(*dev, 65, 32, 8, 64, iota_pos(65, 150), 256, 321);
        check_attention(*dev, 64, 32, 8, 128, iota_pos(64, 0), 64, 330);
        CHECK_NO_VALIDATION(*dev);
    }
    Device& dev = test::gpu();
    // Larger shapes once (on the device's own path; both paths over odd shapes and every
    // cache type: test_kernels_kv_cache.cpp).
    check_attention(dev, 300, 32, 8, 128, iota_pos(300, 0), 300, 340);
    check_attention(dev, 130, 32, 8, 128, iota_pos(130, 170), 310, 341);  // continuing at an offset
    check_attention(dev, 96, 8, 4, 128, iota_pos(96, 33), 160, 342);
    check_attention(dev, 70, 4, 4, 256, iota_pos(70, 10), 96, 343);
    check_attention(dev, 41, 6, 1, 96, iota_pos(41, 5), 64, 344);
    check_attention(dev, 50, 6, 2, 7, iota_pos(50, 0), 50, 345);   // odd hd, one thread a row
    check_attention(dev, 33, 4, 2, 20, iota_pos(33, 3), 40, 346);  // hd 20: 2 threads x 10 dims
    check_attention(dev, 33, 4, 2, 1, iota_pos(33, 0), 33, 347);
    // Rows past each block's largest position hold NaN: the kernel must not read them.
    check_attention(dev, 64, 8, 4, 8, iota_pos(64, 0), 200, 350, true);
    check_attention(dev, 40, 32, 8, 128, iota_pos(40, 7), 100, 351, true);
    // Arbitrary positions: descending, repeated, gaps, the last cache row.
    std::vector<int32_t> pos(90);
    for (size_t i = 0; i < pos.size(); ++i) pos[i] = int32_t((i * 37) % 120);
    pos[5] = 0;
    pos[6] = 119;
    check_attention(dev, 90, 8, 4, 8, pos, 120, 360);
    check_attention(dev, 90, 8, 2, 64, pos, 120, 361);
    std::reverse(pos.begin(), pos.end());
    check_attention(dev, 90, 32, 8, 128, pos, 120, 362, true);
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("attention: blocked-kernel tiles fit every head dim on 16 and 32 KiB devices") {
    using ops::KvType;
    for (uint32_t shared : {16384u, 32768u, 49152u}) {
        for (uint32_t inv : {128u, 1024u}) {
            for (uint32_t sg : {0u, 4u, 8u, 32u, 64u}) {  // 0: no subgroup shuffles
                Capabilities caps;
                caps.shared_memory = shared;
                caps.max_workgroup_invocations = inv;
                caps.subgroup = sg > 0;
                caps.subgroup_size = sg;
                for (uint32_t hd = 1; hd <= 256; ++hd) {
                    for (KvType type : {KvType::f32, KvType::f16, KvType::q8_0}) {
                        CAPTURE(shared);
                        CAPTURE(inv);
                        CAPTURE(sg);
                        CAPTURE(hd);
                        auto t = ops::flash_tiles(caps, hd, type, type);
                        REQUIRE(t.has_value());
                        CHECK(t->shared_bytes() <= std::min(shared, 32768u));
                        CHECK(t->wg == t->br * t->tpr);
                        CHECK(t->wg <= inv);
                        CHECK(t->tpr * t->dpt >= hd);
                        CHECK(t->dpt <= 16);
                        CHECK(t->dpt % 4 == 0);
                        CHECK(t->ns * t->tpr >= t->bc);
                        CHECK(t->bc >= 4);
                        CHECK(t->br >= 1);
                        CHECK(t->k_half == (type == KvType::f16));
                        CHECK(t->v_half == (type == KvType::f16));
                        // Shuffles only within whole subgroups that hold whole rows; no score array then.
                        if (t->subgroup) {
                            CHECK(t->tpr > 1);
                            CHECK(t->tpr <= sg);
                            CHECK(t->wg % sg == 0);
                            CHECK(t->s_size == 1);
                        }
                        CHECK(t->subgroup == (sg > 0 && t->tpr > 1 && t->tpr <= sg && t->wg % sg == 0));
                    }
                }
            }
        }
    }
    // Halves fit larger tiles: hd 128 on a 32 KiB device gets 32-row kv tiles with f16 caches
    // and shuffles, 16 with float tiles and shared scores.
    Capabilities caps;
    caps.shared_memory = 32768;
    caps.max_workgroup_invocations = 1024;
    CHECK(ops::flash_tiles(caps, 128)->bc == 16);
    caps.subgroup = true;
    caps.subgroup_size = 32;
    CHECK(ops::flash_tiles(caps, 128, KvType::f16, KvType::f16)->bc == 32);
    Capabilities none;
    none.shared_memory = 1024;
    none.max_workgroup_invocations = 128;
    CHECK_FALSE(ops::flash_tiles(none, 256).has_value());
    CHECK_FALSE(ops::flash_tiles(none, 0).has_value());
}

TEST_CASE("decode loop: one recorded command buffer, resubmitted with a changing pos buffer") {
    // Per token: embed q, k, v rows (three tables) -> rope Q, rope_store K, kv_store V ->
    // attention -> argmax. Only buffer contents (id, pos) change between submits.
    for (Device* dev : paths()) {
        CAPTURE(dev->caps().subgroup);
        const uint32_t n_head = 8, n_head_kv = 4, hd = 8, n_ctx = 40, n_vocab = 50;
        const uint32_t qw = n_head * hd, kvw = n_head_kv * hd;
        auto tq = test::random_floats(size_t(n_vocab) * qw, 400);
        auto tk = test::random_floats(size_t(n_vocab) * kvw, 401);
        auto tv = test::random_floats(size_t(n_vocab) * kvw, 402);
        Buffer btq = make_buffer(*dev, tq), btk = make_buffer(*dev, tk), btv = make_buffer(*dev, tv);
        Buffer bid(*dev, 4), bpos(*dev, 4), bxq(*dev, qw * 4), bxk(*dev, kvw * 4), bxv(*dev, kvw * 4);
        Buffer bq(*dev, qw * 4), bo(*dev, qw * 4), barg(*dev, 4);
        Buffer bk(*dev, size_t(n_ctx) * kvw * 4), bv(*dev, size_t(n_ctx) * kvw * 4);
        bk.fill_zero();
        bv.fill_zero();
        const ops::RopeParams qrope{n_head, hd, hd, 10000.f, ops::RopeMode::norm};
        const ops::RopeParams krope{n_head_kv, hd, hd, 10000.f, ops::RopeMode::norm};
        Recorder rec(*dev);
        rec.begin();
        ops::embed(rec, btq, gguf::TensorType::F32, bid, bxq, 1, qw, n_vocab);
        ops::embed(rec, btk, gguf::TensorType::F32, bid, bxk, 1, kvw, n_vocab);
        ops::embed(rec, btv, gguf::TensorType::F32, bid, bxv, 1, kvw, n_vocab);
        ops::rope(rec, bxq, bpos, bq, 1, qrope);
        ops::rope_store(rec, bxk, bpos, bk, 1, krope, n_ctx);
        ops::kv_store(rec, bxv, bpos, bv, 1, kvw, n_ctx);
        ops::attention(rec, bq, bk, bv, bpos, bo, 1, ops::AttentionShape{n_head, n_head_kv, hd, n_ctx});
        ops::argmax(rec, bo, barg, 1, qw);
        rec.end();

        std::vector<float> kc(size_t(n_ctx) * kvw, 0.f), vc(size_t(n_ctx) * kvw, 0.f);
        const int n_tokens = 33;
        for (int t = 0; t < n_tokens; ++t) {
            CAPTURE(t);
            const int32_t id = int32_t((t * 7 + 3) % n_vocab);
            std::vector<int32_t> pos{t}, ids{id};
            ops::check_positions(pos, n_ctx);
            ops::check_ids(ids, n_vocab);
            bid.upload(ids.data(), 4);
            bpos.upload(pos.data(), 4);
            rec.submit();
            // Host reference for this step.
            std::vector<float> q(&tq[size_t(id) * qw], &tq[size_t(id) * qw] + qw);
            std::vector<float> k(&tk[size_t(id) * kvw], &tk[size_t(id) * kvw] + kvw);
            auto k_bound = rope_bound(k, pos, 1, n_head_kv, hd, hd, 10000.f, false);
            q = ref::rope(q, pos, 1, n_head, hd, hd, 10000.f, ref::RopeMode::norm);
            k = ref::rope(k, pos, 1, n_head_kv, hd, hd, 10000.f, ref::RopeMode::norm);
            std::copy(k.begin(), k.end(), &kc[size_t(t) * kvw]);
            std::copy_n(&tv[size_t(id) * kvw], kvw, &vc[size_t(t) * kvw]);
            auto gk = bk.download_as<float>(kc.size());
            for (size_t i = 0; i < kvw; ++i) REQUIRE(std::fabs(gk[size_t(t) * kvw + i] - k[i]) <= k_bound[i]);
            CHECK(bv.download_as<float>(vc.size()) == vc);
            // Attention against the GPU's own K cache (rope is checked above) and the exact V.
            auto ref = ref::attention(q, gk, vc, pos, 1, n_head, n_head_kv, hd, n_ctx);
            auto o = bo.download_as<float>(qw);
            // q's rope error (<= ~1e-5 here) moves scores by <= hd * 1e-5 * scale: covered
            // by a second kAttnAbsTol.
            for (size_t i = 0; i < qw; ++i) REQUIRE(std::fabs(o[i] - ref[i]) <= 2 * kAttnAbsTol);
            const int32_t am = int32_t(std::max_element(o.begin(), o.end()) - o.begin());
            CHECK(barg.download_as<int32_t>(1)[0] == am);
        }
        CHECK_NO_VALIDATION(*dev);
    }
}
