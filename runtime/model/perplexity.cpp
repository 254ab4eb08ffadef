#include "model/perplexity.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace vkrt {

PerplexityResult perplexity(model::Model& model, const std::string& text, int n_ctx, int max_chunks, int first_chunk,
                            const std::function<void(int, int, double)>& progress, KvCacheTypes kv) {
    VKRT_CHECK(n_ctx >= 4, Status::invalid_argument, "perplexity: n_ctx ", n_ctx, " is too small");
    VKRT_CHECK(max_chunks > 0 && first_chunk >= 0, Status::invalid_argument, "perplexity: bad chunk range");
    const Tokenizer& tok = model.tokenizer();
    auto ids = tok.encode(text, true, false);
    PerplexityResult r;
    r.text_tokens = ids.size();
    const int available = int(ids.size() / size_t(n_ctx)) - first_chunk;
    VKRT_CHECK(available > 0, Status::invalid_argument, "perplexity: the text has ", ids.size(),
               " tokens: no chunk of ", n_ctx, " tokens after skipping ", first_chunk);
    r.chunks = std::min(max_chunks, available);
    model::Session session(model, uint32_t(n_ctx), uint32_t(n_ctx), kv);
    const uint32_t V = model.hparams().n_vocab;
    double nll = 0;
    for (int c = 0; c < r.chunks; ++c) {
        const size_t start = size_t(first_chunk + c) * size_t(n_ctx);
        std::vector<int32_t> chunk(ids.begin() + int64_t(start), ids.begin() + int64_t(start + size_t(n_ctx)));
        if (tok.bos() >= 0) chunk[0] = tok.bos();
        session.reset();
        const std::vector<float>& logits = session.eval(chunk, true);
        for (int j = n_ctx / 2; j < n_ctx - 1; ++j) {
            const float* l = logits.data() + size_t(j) * V;
            double mx = l[0];
            for (uint32_t v = 1; v < V; ++v) mx = std::max(mx, double(l[v]));
            double sum = 0;
            for (uint32_t v = 0; v < V; ++v) sum += std::exp(double(l[v]) - mx);
            nll += -(double(l[chunk[size_t(j) + 1]]) - mx - std::log(sum));
            ++r.scored;
        }
        if (progress) progress(c + 1, r.chunks, std::exp(nll / double(r.scored)));
    }
    r.nll = nll / double(r.scored);
    r.ppl = std::exp(r.nll);
    return r;
}

}  // namespace vkrt
