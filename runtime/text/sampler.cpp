// Sampling chain: penalty -> top-k -> top-p -> min-p -> temperature -> softmax -> draw.
#include "text/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <unordered_set>

namespace vkrt {

namespace {

uint64_t resolve_seed(uint64_t seed) {
    if (seed != SamplerParams::kRandomSeed) return seed;
    std::random_device rd;
    return (uint64_t(rd()) << 32) ^ uint64_t(rd());
}

// Uniform double in [0, 1) from the top 53 bits (same on every standard library).
double uniform01(std::mt19937_64& rng) { return double(rng() >> 11) * 0x1.0p-53; }

// Orders candidates by logit, highest first; equal logits -> lower id first.
bool better(const TokenProb& a, const TokenProb& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// Softmax over the candidates' logits (sorted, so [0] is the max), in double.
void softmax(std::vector<TokenProb>& c) {
    const double max = c.front().logit;
    double sum = 0.0;
    std::vector<double> e(c.size());
    for (size_t i = 0; i < c.size(); ++i) sum += (e[i] = std::exp(double(c[i].logit) - max));
    for (size_t i = 0; i < c.size(); ++i) c[i].p = float(e[i] / sum);
}

}  // namespace

// ---- construction -------------------------------------------------------------------

Sampler::Sampler(const SamplerParams& params) : params_(params), seed_(resolve_seed(params.seed)), rng_(seed_) {
    VKRT_CHECK(std::isfinite(params.temperature), Status::invalid_argument, "sampler temperature must be finite");
    VKRT_CHECK(std::isfinite(params.top_p), Status::invalid_argument, "sampler top_p must be finite");
    VKRT_CHECK(std::isfinite(params.min_p), Status::invalid_argument, "sampler min_p must be finite");
    VKRT_CHECK(std::isfinite(params.repeat_penalty) && params.repeat_penalty > 0.0f, Status::invalid_argument,
               "sampler repeat_penalty must be > 0, got ", params.repeat_penalty);
    VKRT_CHECK(params.repeat_last_n >= -1, Status::invalid_argument, "sampler repeat_last_n must be >= -1, got ",
               params.repeat_last_n);
}

void Sampler::reset() {
    history_.clear();
    rng_.seed(seed_);
}

void Sampler::accept(int32_t token) {
    if (params_.repeat_last_n == 0) return;
    history_.push_back(token);
    if (params_.repeat_last_n > 0 && history_.size() > size_t(params_.repeat_last_n)) history_.pop_front();
}

// ---- session state ---------------------------------------------------------------------

void Sampler::set_history(std::span<const int32_t> tokens) {
    history_.clear();
    const size_t n = params_.repeat_last_n < 0 ? tokens.size() : std::min(tokens.size(), size_t(params_.repeat_last_n));
    for (int32_t t : tokens.last(n)) accept(t);
}

// "<seed> <n> <id>... <mt19937_64 state>": the standard's text form of the engine is the
// same on every library.
std::string Sampler::save_state() const {
    std::ostringstream os;
    os << seed_ << ' ' << history_.size();
    for (int32_t t : history_) os << ' ' << t;
    os << ' ' << rng_;
    return os.str();
}

void Sampler::load_state(const std::string& state) {
    std::istringstream is(state);
    uint64_t seed = 0;
    size_t n = 0;
    is >> seed >> n;
    VKRT_CHECK(is && n <= state.size(), Status::bad_format, "sampler state: bad header");
    std::deque<int32_t> history;
    for (size_t i = 0; i < n; ++i) {
        int32_t t = -1;
        is >> t;
        VKRT_CHECK(is && t >= 0, Status::bad_format, "sampler state: bad repetition window entry ", i);
        history.push_back(t);
    }
    std::mt19937_64 rng;
    is >> rng;
    VKRT_CHECK(!is.fail(), Status::bad_format, "sampler state: bad random stream state");
    is >> std::ws;
    VKRT_CHECK(is.eof(), Status::bad_format, "sampler state: trailing bytes");
    seed_ = seed;
    history_ = std::move(history);
    rng_ = rng;
}

// ---- chain ----------------------------------------------------------------------------

// Repetition penalty (each distinct recent token once, like llama.cpp's penalties sampler).
std::vector<float> Sampler::penalized(std::span<const float> logits) const {
    VKRT_CHECK(!logits.empty(), Status::invalid_argument, "sampler: empty logits");
    std::vector<float> out(logits.begin(), logits.end());
    for (size_t i = 0; i < out.size(); ++i) {
        VKRT_CHECK(!std::isnan(out[i]), Status::invalid_argument, "sampler: logit ", i, " is NaN");
    }
    if (params_.repeat_penalty == 1.0f || history_.empty()) return out;
    std::unordered_set<int32_t> seen;
    for (int32_t t : history_) {
        if (t < 0 || size_t(t) >= out.size() || !seen.insert(t).second) continue;
        float& l = out[t];
        l = l <= 0.0f ? l * params_.repeat_penalty : l / params_.repeat_penalty;
    }
    return out;
}

std::vector<TokenProb> Sampler::candidates(std::span<const float> logits) const {
    const std::vector<float> pen = penalized(logits);
    if (params_.temperature <= 0.0f) return {};

    std::vector<TokenProb> c;
    c.reserve(pen.size());
    for (size_t i = 0; i < pen.size(); ++i) {
        if (pen[i] != -INFINITY) c.push_back({int32_t(i), pen[i], 0.0f});
    }
    VKRT_CHECK(!c.empty(), Status::invalid_argument, "sampler: every logit is -inf");

    // top-k (sorting only what is kept)
    size_t k = c.size();
    if (params_.top_k > 0) k = std::min(k, size_t(params_.top_k));
    if (k < c.size()) {
        std::nth_element(c.begin(), c.begin() + k, c.end(), better);
        c.resize(k);
    }
    std::sort(c.begin(), c.end(), better);

    // top-p: smallest prefix whose probability mass reaches top_p (at least one token)
    if (params_.top_p < 1.0f) {
        softmax(c);
        double cum = 0.0;
        size_t keep = 1;
        for (size_t i = 0; i < c.size(); ++i) {
            cum += c[i].p;
            keep = i + 1;
            if (cum >= params_.top_p) break;
        }
        c.resize(keep);
    }

    // min-p: p_i >= min_p * p_max  <=>  logit_i >= logit_max + log(min_p)
    if (params_.min_p > 0.0f) {
        const float threshold = c.front().logit + std::log(params_.min_p);
        size_t keep = 1;
        while (keep < c.size() && c[keep].logit >= threshold) ++keep;
        c.resize(keep);
    }

    // temperature, then the final distribution
    for (auto& t : c) t.logit /= params_.temperature;
    softmax(c);
    return c;
}

int32_t Sampler::sample(std::span<const float> logits) {
    if (params_.temperature <= 0.0f) {
        const std::vector<float> pen = penalized(logits);
        size_t best = 0;
        for (size_t i = 1; i < pen.size(); ++i) {
            if (pen[i] > pen[best]) best = i;  // strict: ties keep the lowest id
        }
        return int32_t(best);
    }
    const std::vector<TokenProb> c = candidates(logits);
    const double u = uniform01(rng_);
    double cum = 0.0;
    for (const auto& t : c) {
        cum += t.p;
        if (u < cum) return t.id;
    }
    return c.back().id;  // rounding: u beyond the summed mass
}

}  // namespace vkrt
