// Perplexity as llama.cpp's llama-perplexity computes it: the text is tokenized
// once (with BOS), cut into chunks of n_ctx tokens whose first token is set to
// BOS, each chunk is evaluated from an empty cache with all logits, and the
// second half of each chunk is scored (token j+1 from the logits at j, for j in
// [n_ctx/2, n_ctx-1)).
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "model/model.hpp"

namespace vkrt {

struct PerplexityResult {
    double ppl = 0;
    double nll = 0;        // mean negative log-likelihood (nats)
    int chunks = 0;
    uint64_t scored = 0;
    uint64_t text_tokens = 0;
};

// `first_chunk` skips that many chunks (calibration uses another part of the text);
// `kv`: the session's cache types (F16 by default, as llama-perplexity's default).
PerplexityResult perplexity(model::Model& model, const std::string& text, int n_ctx, int max_chunks,
                            int first_chunk = 0, const std::function<void(int, int, double)>& progress = {},
                            KvCacheTypes kv = {});

}  // namespace vkrt
