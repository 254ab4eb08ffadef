// Sampler tests: greedy, truncation sets (top-k / top-p / min-p), temperature,
// repetition penalty, seed determinism and the drawn distribution.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "test_util.hpp"
#include "text/sampler.hpp"

using namespace vkrt;

namespace {

SamplerParams plain(float temp = 1.0f, uint64_t seed = 1234) {
    SamplerParams p;
    p.temperature = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.seed = seed;
    return p;
}

std::vector<int32_t> ids_of(const std::vector<TokenProb>& c) {
    std::vector<int32_t> ids;
    for (const auto& t : c) ids.push_back(t.id);
    return ids;
}

std::vector<double> softmax(const std::vector<float>& l, double temp = 1.0) {
    double m = *std::max_element(l.begin(), l.end()), s = 0;
    std::vector<double> p(l.size());
    for (size_t i = 0; i < l.size(); ++i) s += (p[i] = std::exp((l[i] - m) / temp));
    for (auto& x : p) x /= s;
    return p;
}

// logits whose softmax at temperature 1 is exactly {0.5, 0.3, 0.15, 0.05}, shuffled ids
const std::vector<float> kLogits = {std::log(0.15f), std::log(0.5f), std::log(0.05f), std::log(0.3f)};

}  // namespace

TEST_CASE("greedy is argmax, ties to the lowest id") {
    Sampler s(plain(0.0f));
    CHECK(s.sample(std::vector<float>{0.1f, 2.0f, 2.0f, -1.0f}) == 1);
    CHECK(s.sample(std::vector<float>{-5.0f}) == 0);
    CHECK(s.candidates(std::vector<float>{1.0f, 2.0f}).empty());
    const auto l = test::random_floats(1000, 7, -10.f, 10.f);
    CHECK(s.sample(l) == int32_t(std::max_element(l.begin(), l.end()) - l.begin()));
    SamplerParams neg = plain(-1.0f);
    CHECK(Sampler(neg).sample(l) == int32_t(std::max_element(l.begin(), l.end()) - l.begin()));
}

TEST_CASE("top-k = 1 equals greedy") {
    SamplerParams p = plain(1.5f);
    p.top_k = 1;
    for (uint32_t seed = 0; seed < 20; ++seed) {
        const auto l = test::random_floats(500, seed, -3.f, 3.f);
        p.seed = seed;
        Sampler s(p);
        CHECK(s.sample(l) == int32_t(std::max_element(l.begin(), l.end()) - l.begin()));
    }
}

TEST_CASE("same seed, same tokens; reset restarts the stream") {
    SamplerParams p;  // default chain
    p.seed = 42;
    const auto l = test::random_floats(300, 3, -2.f, 2.f);
    Sampler a(p), b(p);
    std::vector<int32_t> ta, tb;
    for (int i = 0; i < 200; ++i) {
        ta.push_back(a.sample(l));
        tb.push_back(b.sample(l));
    }
    CHECK(ta == tb);
    a.reset();
    for (int i = 0; i < 200; ++i) CHECK(a.sample(l) == ta[i]);
    p.seed = 43;
    Sampler c(p);
    std::vector<int32_t> tc;
    for (int i = 0; i < 200; ++i) tc.push_back(c.sample(l));
    CHECK(tc != ta);
    CHECK(a.seed() == 42);
    CHECK(Sampler(SamplerParams{}).seed() != SamplerParams::kRandomSeed);  // resolved
}

TEST_CASE("drawn frequencies match softmax at temperature 1") {
    const std::vector<float> l = {1.0f, 0.5f, 0.0f, -1.0f, 0.25f};
    const auto p = softmax(l);
    Sampler s(plain(1.0f, 99));
    const int n = 200000;
    std::vector<int> count(l.size());
    for (int i = 0; i < n; ++i) ++count[s.sample(l)];
    for (size_t i = 0; i < l.size(); ++i) {
        CAPTURE(i);
        const double f = double(count[i]) / n;
        // 5 sigma of a binomial proportion
        CHECK(std::abs(f - p[i]) < 5.0 * std::sqrt(p[i] * (1 - p[i]) / n));
    }
}

TEST_CASE("temperature sharpens the distribution") {
    const auto c = Sampler(plain(0.5f)).candidates(kLogits);
    const auto p = softmax(kLogits, 0.5);
    REQUIRE(c.size() == 4);
    for (const auto& t : c) CHECK(t.p == doctest::Approx(p[t.id]).epsilon(1e-5));
    CHECK(c[0].id == 1);  // sorted by probability
}

TEST_CASE("top-k, top-p and min-p cut exact sets") {
    SamplerParams p = plain();
    p.top_k = 2;
    CHECK(ids_of(Sampler(p).candidates(kLogits)) == std::vector<int32_t>{1, 3});

    p = plain();
    p.top_p = 0.75f;  // 0.5 < 0.75 <= 0.8
    auto c = Sampler(p).candidates(kLogits);
    CHECK(ids_of(c) == std::vector<int32_t>{1, 3});
    CHECK(c[0].p == doctest::Approx(0.5 / 0.8));
    CHECK(c[1].p == doctest::Approx(0.3 / 0.8));
    p.top_p = 0.85f;
    CHECK(ids_of(Sampler(p).candidates(kLogits)) == std::vector<int32_t>{1, 3, 0});
    p.top_p = 0.4f;
    CHECK(ids_of(Sampler(p).candidates(kLogits)) == std::vector<int32_t>{1});
    p.top_p = 0.0f;
    CHECK(ids_of(Sampler(p).candidates(kLogits)) == std::vector<int32_t>{1});

    p = plain();
    p.min_p = 0.2f;  // keeps p >= 0.1
    CHECK(ids_of(Sampler(p).candidates(kLogits)) == std::vector<int32_t>{1, 3, 0});
    p.min_p = 0.35f;  // keeps p >= 0.175
    CHECK(ids_of(Sampler(p).candidates(kLogits)) == std::vector<int32_t>{1, 3});
    p.min_p = 1.0f;
    CHECK(ids_of(Sampler(p).candidates(kLogits)) == std::vector<int32_t>{1});

    // chain order: top-p 0.9 keeps {1,3,0} (0.95), then min-p 0.5 keeps p >= 0.25
    p = plain();
    p.top_p = 0.9f;
    p.min_p = 0.5f;
    CHECK(ids_of(Sampler(p).candidates(kLogits)) == std::vector<int32_t>{1, 3});
    // -inf logits are never drawn
    const std::vector<float> masked = {-INFINITY, 0.0f, -INFINITY};
    Sampler m(plain(1.0f, 5));
    for (int i = 0; i < 50; ++i) CHECK(m.sample(masked) == 1);
}

TEST_CASE("repetition penalty") {
    SamplerParams p = plain(0.0f);
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 2;
    Sampler s(p);
    const std::vector<float> l = {2.0f, 1.9f, -1.0f, -1.2f};
    CHECK(s.sample(l) == 0);
    s.accept(0);
    CHECK(s.sample(l) == 1);  // 2.0 / 2 = 1.0 < 1.9
    s.accept(1);
    CHECK(s.sample(l) == 0);  // both penalised: 1.0 vs 0.95
    s.accept(7);              // out of range ids are ignored
    CHECK(s.sample(l) == 0);  // window of 2: only 1 and 7 remain
    s.accept(9);
    CHECK(s.sample(l) == 0);

    // negative logits are multiplied; each token counts once however often it repeats
    p.temperature = 1.0f;
    p.repeat_last_n = 64;
    Sampler n(p);
    n.accept(2);
    n.accept(2);
    n.accept(0);
    n.accept(0);
    const auto c = n.candidates(l);
    auto logit = [&](int32_t id) { return std::find_if(c.begin(), c.end(), [&](auto& t) { return t.id == id; })->logit; };
    CHECK(logit(0) == doctest::Approx(1.0f));
    CHECK(logit(2) == doctest::Approx(-2.0f));
    CHECK(logit(1) == doctest::Approx(1.9f));

    p.repeat_last_n = 0;  // off
    Sampler off(p);
    off.accept(0);
    CHECK(off.candidates(l)[0].logit == doctest::Approx(2.0f));
    n.reset();  // forgets history
    CHECK(n.candidates(l)[0].logit == doctest::Approx(2.0f));
}

TEST_CASE("sampler input validation") {
    Sampler s(plain());
    auto status = [](auto&& f) {
        try {
            f();
        } catch (const Error& e) {
            return e.status();
        }
        return Status::ok;
    };
    CHECK(status([&] { s.sample(std::vector<float>{}); }) == Status::invalid_argument);
    CHECK(status([&] { s.sample(std::vector<float>{1.0f, NAN}); }) == Status::invalid_argument);
    CHECK(status([&] { s.sample(std::vector<float>{-INFINITY, -INFINITY}); }) == Status::invalid_argument);
    SamplerParams bad = plain();
    bad.repeat_penalty = 0.0f;
    CHECK(status([&] { Sampler x(bad); }) == Status::invalid_argument);
    bad = plain();
    bad.temperature = NAN;
    CHECK(status([&] { Sampler x(bad); }) == Status::invalid_argument);
    bad = plain();
    bad.repeat_last_n = -2;
    CHECK(status([&] { Sampler x(bad); }) == Status::invalid_argument);
}
