// One generation on a session, as a chat app needs it: sampling with logit bias,
// presence/frequency penalties and an optional grammar mask; stop tokens and stop strings
// (text that may still become a stop string is held back, so the streamed text never
// contains one); logprobs of the chosen token and the top n; a finish reason. The C API's
// vkrt_generate_text / vkrt_chat_generate are thin wrappers over this.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "text/chat_template.hpp"
#include "text/grammar.hpp"
#include "text/sampler.hpp"

namespace vkrt {

namespace model {
class Session;
}

// Values match vkrt_finish_reason (include/vkrt/vkrt.h).
enum class Finish : int32_t { none = 0, eog = 1, stop_string = 2, length = 3, context_full = 4, cancelled = 5 };
const char* finish_name(Finish f);

struct GenerationOptions {
    int32_t max_tokens = -1;  // < 0: no limit
    float presence_penalty = 0.0f;
    float frequency_penalty = 0.0f;
    std::vector<std::pair<int32_t, float>> logit_bias;
    bool logprobs = false;
    int32_t top_logprobs = 0;
};

struct StepInfo {
    int32_t token = -1;     // -1: the final flush of held-back text
    std::string_view text;  // released by this step
    float logprob = 0.0f;
    std::vector<std::pair<int32_t, float>> top;  // (token, logprob), most likely first
};

// Where generation meets the session-state features (context shift, cancellation):
// each may be empty ("not available").
struct GenerationHooks {
    // Make room for n more tokens in a full context; false when it cannot.
    std::function<bool(uint32_t n)> make_room;
    // A finish reason the session asks for between tokens (cancelled), else Finish::none.
    std::function<Finish()> interrupted;
};

struct GenerationResult {
    Finish finish = Finish::none;
    int32_t n_generated = 0;
};

// Evaluates `prompt` (may be empty when the session already holds logits), then generates.
// `history` is the session's token history (every evaluated token is appended), `sampler`
// gets every evaluated token through accept(). `on_step` returns false to stop (cancelled).
// Every token passed to on_step is evaluated unless the context is full.
GenerationResult generate(model::Session& session, Sampler& sampler, std::vector<int32_t>& history,
                        std::span<const int32_t> prompt, const ChatStops& stops, grammar::Matcher* grammar,
                        const GenerationOptions& opt, const GenerationHooks& hooks,
                        const std::function<bool(const StepInfo&)>& on_step);

// log-softmax of `logits` at `token`, and the n most likely tokens with theirs (ties: lower id).
float token_logprob(std::span<const float> logits, int32_t token, int32_t n_top,
                    std::vector<std::pair<int32_t, float>>* top);

}  // namespace vkrt
