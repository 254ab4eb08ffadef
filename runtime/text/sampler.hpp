// Token sampling over a logits vector, in the order of llama.cpp's default chain:
//   repetition penalty -> top-k -> top-p -> min-p -> temperature -> softmax -> draw.
// temperature <= 0 means greedy: argmax after the repetition penalty (ties -> lowest id).
// Draws use a std::mt19937_64 seeded from SamplerParams::seed, so a fixed seed and the
// same logits give the same tokens on every platform.
#pragma once
#include <cstdint>
#include <deque>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace vkrt {

struct SamplerParams {
    static constexpr uint64_t kRandomSeed = ~uint64_t(0);  // seed from std::random_device

    float temperature = 0.8f;    // <= 0: greedy
    int top_k = 40;              // <= 0: off (whole vocabulary)
    float top_p = 0.95f;         // >= 1: off
    float min_p = 0.05f;         // <= 0: off; keeps p >= min_p * p_max
    float repeat_penalty = 1.0f; // 1: off; logit > 0 divided, logit <= 0 multiplied
    int repeat_last_n = 64;      // 0: off; -1: every accepted token
    uint64_t seed = kRandomSeed;
};

// One candidate after filtering (for tests and diagnostics).
struct TokenProb {
    int32_t id;
    float logit;  // after penalty and temperature
    float p;      // softmax over the kept candidates
};

class Sampler {
public:
    explicit Sampler(const SamplerParams& params = {});  // invalid_argument on bad params

    // Picks the next token from logits (one per vocabulary entry). Throws
    // invalid_argument for empty logits or a NaN. Does not call accept().
    int32_t sample(std::span<const float> logits);
    // The candidate set and probabilities sample() would draw from (empty for greedy).
    std::vector<TokenProb> candidates(std::span<const float> logits) const;
    // Records a token for the repetition penalty (prompt tokens and generated ones).
    void accept(int32_t token);
    // Forgets the history and restarts the random stream from the seed.
    void reset();

    const SamplerParams& params() const { return params_; }
    uint64_t seed() const { return seed_; }  // the seed in use (resolved if kRandomSeed)

    // ---- session state (rewind, saved sessions): the repetition window and the random stream
    // The repetition window becomes the last tokens of `tokens` (as if only they were accepted).
    void set_history(std::span<const int32_t> tokens);
    // The seed, random stream and repetition window as text; load_state takes only what
    // save_state wrote (bad_format otherwise) and changes nothing when it refuses.
    std::string save_state() const;
    void load_state(const std::string& state);

private:
    std::vector<float> penalized(std::span<const float> logits) const;

    SamplerParams params_;
    uint64_t seed_;
    std::mt19937_64 rng_;
    std::deque<int32_t> history_;
};

}  // namespace vkrt
