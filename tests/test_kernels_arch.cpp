// Kernel paths the architectures of runtime/arch add to the llama block, each against
// its reference in runtime/ref/reference.hpp on seeded random data:
//   rope with frequency factors, linear scaling and attn_factor (Llama 3.x, Phi-3
//   LongRoPE, Gemma 3 global layers); sliding-window attention (Gemma 3) on the
//   per-query and blocked kernels and both capability paths; GELU-tanh gating
//   (Gemma 3); bias add (Qwen2); scale (Gemma 3's embedding).
// Also the reference functions themselves against definitions written out here.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "gpu.hpp"
#include "ops/attention.hpp"
#include "ops/elementwise.hpp"
#include "ops/rope.hpp"
#include "ref/reference.hpp"
#include "test_util.hpp"

using namespace vkrt;

namespace {

// Bounds as in test_kernels_block.cpp: rope's float pow/sin/cos (theta relative 4e-6,
// trig absolute 4e-6), attention's convex combination (3e-5 absolute), one exp/tanh
// and a few multiplies for the gate (1e-5 relative).
constexpr double kRopeThetaRelTol = 4e-6;
constexpr double kRopeTrigAbsTol = 4e-6;
constexpr float kAttnAbsTol = 3e-5f;
constexpr float kGateRelTol = 1e-5f;
constexpr float kGateAbsTol = 1e-6f;

std::vector<int32_t> iota_pos(uint32_t M, int32_t start) {
    std::vector<int32_t> p(M);
    for (uint32_t i = 0; i < M; ++i) p[i] = start + int32_t(i);
    return p;
}

std::vector<Device*> paths() {
    std::vector<Device*> d;
    if (test::gpu().caps().subgroup) d.push_back(&test::gpu());
    d.push_back(&test::gpu_with(false, false, true));
    return d;
}

}  // namespace

TEST_CASE("ref: rope extras, windowed attention, geglu, add_bias, scale follow their definitions") {
    // rope: factors divide theta, freq_scale multiplies it, attn_factor scales cos/sin.
    const std::vector<float> x = {0.5f, -1.0f, 2.0f, 0.25f};  // one head of 4, NORM pairs (0,1), (2,3)
    const std::vector<int32_t> pos = {7};
    const std::vector<float> ff = {2.0f, 8.0f};
    const auto y = ref::rope(x, pos, 1, 1, 4, 4, 100.0f, ref::RopeMode::norm, ref::RopeExtra{ff, 0.5f, 1.25f});
    for (int i = 0; i < 2; ++i) {
        const double theta = 0.5 * 7.0 * std::pow(100.0, -2.0 * i / 4.0) / ff[size_t(i)];
        const double a = x[size_t(2 * i)], b = x[size_t(2 * i + 1)];
        CHECK(y[size_t(2 * i)] == doctest::Approx((a * std::cos(theta) - b * std::sin(theta)) * 1.25).epsilon(1e-6));
        CHECK(y[size_t(2 * i + 1)] ==
              doctest::Approx((a * std::sin(theta) + b * std::cos(theta)) * 1.25).epsilon(1e-6));
    }
    // Defaults of the extras are the plain rope.
    CHECK(ref::rope(x, pos, 1, 1, 4, 4, 100.0f, ref::RopeMode::neox, ref::RopeExtra{}) ==
          ref::rope(x, pos, 1, 1, 4, 4, 100.0f, ref::RopeMode::neox));
    CHECK_THROWS_AS(ref::rope(x, pos, 1, 1, 4, 4, 100.0f, ref::RopeMode::norm, ref::RopeExtra{{}, 0.0f, 1.0f}),
                    vkrt::Error);

    // Window w: the query at pos p attends exactly to keys p-w+1 .. p. With one hot V
    // column per row, the output's weight on rows outside the window is zero.
    const size_t n_ctx = 12, hd = 12;
    std::vector<float> k = test::random_floats(n_ctx * hd, 5), v(n_ctx * hd, 0.0f);
    for (size_t j = 0; j < n_ctx; ++j) v[j * hd + j] = 1.0f;
    const std::vector<float> q = test::random_floats(hd, 6);
    const std::vector<int32_t> p9 = {9};
    const auto out = ref::attention(q, k, v, p9, 1, 1, 1, hd, n_ctx, 0.f, 4);
    double sum = 0;
    for (size_t j = 0; j < n_ctx; ++j) {
        CAPTURE(j);
        if (j >= 6 && j <= 9) CHECK(out[j] > 0.0f);
        else CHECK(out[j] == 0.0f);
        sum += out[j];
    }
    CHECK(sum == doctest::Approx(1.0).epsilon(1e-6));
    // A window as long as the context is no window.
    CHECK(ref::attention(q, k, v, p9, 1, 1, 1, hd, n_ctx, 0.f, 10) == ref::attention(q, k, v, p9, 1, 1, 1, hd, n_ctx));

    // geglu: 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))) * u.
    const std::vector<float> g = {-3.0f, -0.5f, 0.0f, 1.0f, 4.0f}, u = {1.0f, 2.0f, 3.0f, -1.0f, 0.5f};
    const auto h = ref::geglu(g, u);
    for (size_t i = 0; i < g.size(); ++i) {
        const double a = g[i];
        const double want = 0.5 * a * (1 + std::tanh(std::sqrt(2 / M_PI) * (a + 0.044715 * a * a * a))) * u[i];
        CHECK(h[i] == doctest::Approx(want).epsilon(1e-6));
    }
    CHECK(ref::add_bias(std::vector<float>{1, 2, 3, 4}, std::vector<float>{10, 20}, 2) ==
          std::vector<float>{11, 22, 13, 24});
    CHECK(ref::scale(std::vector<float>{1, -2}, 8.0f) == std::vector<float>{8, -16});
}

TEST_CASE("rope: frequency factors, linear scaling and attn_factor; NORM and NEOX; fused store") {
    Device& dev = test::gpu();
    struct Case { uint32_t M, n_head, hd, n_rot; int32_t pos0; float scale, attn; bool factors; };
    for (bool neox : {false, true}) {
        for (Case c : {Case{1, 8, 64, 64, 299, 1.0f, 1.0f, true}, Case{7, 4, 16, 16, 5, 0.125f, 1.0f, false},
                       Case{3, 2, 96, 96, 100, 1.0f, 1.19f, true}, Case{5, 3, 16, 8, 1, 0.5f, 0.9f, true}}) {
            CAPTURE(neox);
            CAPTURE(c.hd);
            CAPTURE(c.factors);
            const size_t n = size_t(c.M) * c.n_head * c.hd;
            const auto x = test::random_floats(n, 300 + c.hd + c.M);
            const auto pos = iota_pos(c.M, c.pos0);
            std::vector<float> ff;
            if (c.factors) ff = test::random_floats(c.n_rot / 2, 400 + c.hd, 1.0f, 40.0f);
            Buffer bx = make_buffer(dev, x), bp = make_buffer(dev, pos), bo(dev, n * 4);
            Buffer bf = make_buffer(dev, c.factors ? ff : std::vector<float>{1.0f});
            const ops::RopeMode mode = neox ? ops::RopeMode::neox : ops::RopeMode::norm;
            ops::RopeParams rp{c.n_head, c.hd, c.n_rot, 10000.f, mode, c.scale, c.attn,
                               c.factors ? BufferView(bf) : BufferView{}};
            test::run(dev, [&](Recorder& r) { ops::rope(r, bx, bp, bo, c.M, rp); });
            const auto want = ref::rope(x, pos, c.M, c.n_head, c.hd, c.n_rot, 10000.f,
                                        neox ? ref::RopeMode::neox : ref::RopeMode::norm,
                                        ref::RopeExtra{ff, c.scale, c.attn});
            const auto o = bo.download_as<float>(n);
            for (uint32_t m = 0; m < c.M; ++m)
                for (uint32_t hh = 0; hh < c.n_head; ++hh)
                    for (uint32_t i = 0; i < c.hd; ++i) {
                        const size_t e = (size_t(m) * c.n_head + hh) * c.hd + i;
                        if (i >= c.n_rot) {
                            REQUIRE(o[e] == x[e]);  // pass-through dims are copied
                            continue;
                        }
                        const uint32_t pr = neox ? i % (c.n_rot / 2) : i / 2;
                        const double theta = c.scale * pos[m] * std::pow(10000.0, -2.0 * pr / c.n_rot) /
                                             (c.factors ? ff[pr] : 1.0);
                        const uint32_t i0 = neox ? pr : 2 * pr, i1 = neox ? pr + c.n_rot / 2 : 2 * pr + 1;
                        const size_t b = (size_t(m) * c.n_head + hh) * c.hd;
                        const double bound = (std::fabs(x[b + i0]) + std::fabs(x[b + i1])) * c.attn *
                                                 (kRopeThetaRelTol * std::fabs(theta) + kRopeTrigAbsTol) +
                                             1e-7;
                        CAPTURE(e);
                        REQUIRE(std::fabs(o[e] - want[e]) <= bound);
                    }
            // The fused cache store writes the same values at rows pos[m].
            const uint32_t n_ctx = uint32_t(c.pos0) + c.M;
            Buffer bc(dev, size_t(n_ctx) * c.n_head * c.hd * 4);
            test::run(dev, [&](Recorder& r) { ops::rope_store(r, bx, bp, bc, c.M, rp, n_ctx); });
            const auto cache = bc.download_as<float>(size_t(n_ctx) * c.n_head * c.hd);
            CHECK(std::vector<float>(cache.begin() + int64_t(size_t(c.pos0) * c.n_head * c.hd), cache.end()) == o);
        }
    }
    Recorder rec(dev);
    rec.begin();
    Buffer b(dev, 1024);
    ops::RopeParams bad{2, 8, 8, 10000.f, ops::RopeMode::norm, 0.0f};
    CHECK_THROWS_WITH_AS(ops::rope(rec, b, b, b, 1, bad), doctest::Contains("freq_scale"), vkrt::Error);
    Buffer small(dev, 4);
    ops::RopeParams short_factors{2, 8, 8, 10000.f, ops::RopeMode::norm, 1.0f, 1.0f, BufferView(small)};
    CHECK_THROWS_WITH_AS(ops::rope(rec, b, b, b, 1, short_factors), doctest::Contains("factors"), vkrt::Error);
    rec.end();
    CHECK_NO_VALIDATION(dev);
}

TEST_CASE("attention: sliding window on the per-query and blocked kernels, both paths") {
    // Rows before the window hold values that would dominate the result if read.
    for (Device* dev : paths()) {
        CAPTURE(dev->caps().subgroup);
        struct Case { uint32_t M, n_head, n_head_kv, hd, window; int32_t pos0; };
        for (Case c : {Case{1, 8, 4, 8, 16, 40}, Case{1, 4, 1, 256, 5, 300}, Case{1, 2, 2, 64, 1, 9},
                       Case{40, 8, 4, 8, 16, 0}, Case{37, 4, 1, 256, 5, 20}, Case{64, 2, 1, 32, 100, 3},
                       Case{20, 4, 2, 16, 7, 200}}) {
            CAPTURE(c.M);
            CAPTURE(c.hd);
            CAPTURE(c.window);
            CAPTURE(c.pos0);
            const uint32_t n_ctx = uint32_t(c.pos0) + c.M + 5;
            const size_t kvw = size_t(c.n_head_kv) * c.hd;
            const auto pos = iota_pos(c.M, c.pos0);
            auto q = test::random_floats(size_t(c.M) * c.n_head * c.hd, 500 + c.M + c.hd);
            auto kc = test::random_floats(n_ctx * kvw, 600 + c.hd), vc = test::random_floats(n_ctx * kvw, 700 + c.hd);
            // Poison: rows no query may see (before the first query's window, after the last position).
            const int32_t first = std::max<int32_t>(0, c.pos0 - int32_t(c.window) + 1);
            for (size_t j = 0; j < n_ctx; ++j)
                if (int32_t(j) < first || int32_t(j) > pos.back())
                    for (size_t e = 0; e < kvw; ++e) kc[j * kvw + e] = 30.f, vc[j * kvw + e] = 100.f;
            Buffer bq = make_buffer(*dev, q), bk = make_buffer(*dev, kc), bv = make_buffer(*dev, vc);
            Buffer bp = make_buffer(*dev, pos), bo(*dev, q.size() * 4);
            const float scale = 0.3f;
            // The float kernels, also where the device would choose attention_flash_cm (its
            // windows: test_kernels_kv_cache's ring cases, within its own bound).
            ops::AttentionShape sh{c.n_head, c.n_head_kv, c.hd, n_ctx};
            sh.prefill = ops::AttentionShape::Prefill::scalar;
            test::run(*dev, [&](Recorder& r) { ops::attention(r, bq, bk, bv, bp, bo, c.M, sh, scale, 0, 0, c.window); });
            const auto o = bo.download_as<float>(q.size());
            const auto want = ref::attention(q, kc, vc, pos, c.M, c.n_head, c.n_head_kv, c.hd, n_ctx, scale, c.window);
            float worst = 0;
            for (size_t i = 0; i < o.size(); ++i) worst = std::max(worst, std::fabs(o[i] - want[i]));
            CAPTURE(worst);
            CHECK(worst <= kAttnAbsTol);
        }
        CHECK_NO_VALIDATION(*dev);
    }
}

TEST_CASE("geglu, add_bias and scale against the reference") {
    Device& dev = test::gpu();
    for (uint32_t n : {1u, 172u, 6912u * 3u}) {
        CAPTURE(n);
        auto g = test::random_floats(n, 800 + n, -12.f, 12.f), u = test::random_floats(n, 900 + n);
        Buffer bg = make_buffer(dev, g), bu = make_buffer(dev, u), bo(dev, size_t(n) * 4);
        test::run(dev, [&](Recorder& r) { ops::geglu(r, bg, bu, bo, n); });
        const auto o = bo.download_as<float>(n);
        const auto want = ref::geglu(g, u);
        for (size_t i = 0; i < n; ++i) {
            CAPTURE(g[i]);
            REQUIRE(std::fabs(o[i] - want[i]) <= kGateRelTol * std::fabs(want[i]) + kGateAbsTol);
        }
    }
    const uint32_t M = 5, N = 96;
    auto x = test::random_floats(size_t(M) * N, 31), b = test::random_floats(N, 32);
    Buffer bx = make_buffer(dev, x), bb = make_buffer(dev, b), bo(dev, size_t(M) * N * 4);
    test::run(dev, [&](Recorder& r) { ops::add_bias(r, bx, bb, bo, M, N); });
    CHECK(bo.download_as<float>(size_t(M) * N) == ref::add_bias(x, b, M));  // one float add: exact
    test::run(dev, [&](Recorder& r) { ops::scale(r, bx, 8.0f, bx, M * N); });  // in place
    CHECK(bx.download_as<float>(size_t(M) * N) == ref::scale(x, 8.0f));
    Recorder rec(dev);
    rec.begin();
    CHECK_THROWS_WITH_AS(ops::add_bias(rec, bx, bb, bo, M + 1, N), doctest::Contains("operand"), vkrt::Error);
    rec.end();
    CHECK_NO_VALIDATION(dev);
}
